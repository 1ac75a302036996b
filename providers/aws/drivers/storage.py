"""infra.storage: an S3 bucket with versioning, default encryption and public access blocked."""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from interfaces.errors import NotFoundError, ProviderError
from providers.aws import tags as awstags
from providers.aws.base import AwsDriver


class StorageDriver(AwsDriver):
    """Config: bucket (default <stack>-<name>, lowercased), versioning (default true),
    encryption ("AES256" default, or "aws:kms" with kms_key_id), block_public_access
    (default true), tags. A non-empty bucket is not deleted (AWS's BucketNotEmpty)."""

    resource_type = "infra.storage"
    FORCE_NEW = frozenset({"bucket"})
    UPDATABLE = frozenset(
        {"versioning", "encryption", "kms_key_id", "block_public_access", "tags"}
    )
    OUTPUTS = frozenset({
        "arn", "block_public_access", "bucket", "domain_name", "encryption", "kms_key_id", "region",
        "tags", "versioning"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        bucket = self.bucket_name(spec)
        with self.errors(spec.name):
            if not self._exists(bucket):
                params: dict[str, Any] = {"Bucket": bucket}
                if self.context.session.region != "us-east-1":
                    params["CreateBucketConfiguration"] = {
                        "LocationConstraint": self.context.session.region
                    }
                try:
                    self.s3.create_bucket(**params)
                    # Tagged only by _converge: recorded now, so an untagged bucket is ours too.
                    self.made(bucket)
                except self.s3.exceptions.BucketAlreadyOwnedByYou:
                    pass  # our first attempt made it; the tag check below decides
            self._check_ours(bucket, spec.name)
            self.made(bucket)
            self._converge(bucket, spec)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=bucket))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        bucket = ref.provider_id
        with self.errors(ref.name):
            self.s3.head_bucket(Bucket=bucket)
            versioning = self.s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
            algorithm, kms_key = self._encryption(bucket)
            blocked = self._public_access_blocked(bucket)
            location = self.s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
            tags = self._tags(bucket)
        outputs = {
            "bucket": bucket,
            "arn": f"arn:aws:s3:::{bucket}",
            "region": location or "us-east-1",
            "domain_name": f"{bucket}.s3.amazonaws.com",
            "versioning": versioning,
            "encryption": algorithm,
            "kms_key_id": kms_key,
            "block_public_access": blocked,
            "tags": awstags.user_tags(tags),
        }
        return self.output(ref.name, bucket, outputs)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        with self.errors(spec.name):
            self._converge(ref.provider_id, spec)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing(ref.name):
            self.s3.delete_bucket(Bucket=ref.provider_id)

    # -- parts ----------------------------------------------------------------------------

    @property
    def s3(self) -> Any:
        return self.client("s3")

    def bucket_name(self, spec: ResourceSpec) -> str:
        wanted = str(spec.config.get("bucket") or f"{self.stack}-{spec.name}").lower()
        name = re.sub(r"[^a-z0-9.-]+", "-", wanted).strip(".-")[:63]
        if len(name) < 3:
            raise self.invalid(spec.name, f"bucket name {wanted!r} is too short")
        return name

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "bucket" in fields:
            fields["bucket"] = self.bucket_name(spec)
        return fields

    def _exists(self, bucket: str) -> bool:
        try:
            with self.errors(bucket):
                self.s3.head_bucket(Bucket=bucket)
        except NotFoundError:
            return False
        return True

    def _check_ours(self, bucket: str, name: str) -> None:
        tags = self._tags(bucket)
        if tags and not awstags.is_ours(tags, self.stack, name):
            raise ProviderError(
                f"{self.describe(name)}: bucket {bucket!r} exists and belongs to "
                f"{tags.get(awstags.STACK_TAG, 'someone else')}/{tags.get(awstags.NAME_TAG, '?')}",
                code="BucketAlreadyExists",
            )

    def _tags(self, bucket: str) -> dict[str, str]:
        try:
            return awstags.tags_from_list(self.s3.get_bucket_tagging(Bucket=bucket)["TagSet"])
        except ClientError as error:
            if error.response["Error"]["Code"] == "NoSuchTagSet":
                return {}
            raise

    def _encryption(self, bucket: str) -> tuple[str, str]:
        try:
            rules = self.s3.get_bucket_encryption(Bucket=bucket)[
                "ServerSideEncryptionConfiguration"
            ]["Rules"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ServerSideEncryptionConfigurationNotFoundError":
                return "", ""
            raise
        default = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
        return default.get("SSEAlgorithm", ""), default.get("KMSMasterKeyID", "")

    def _public_access_blocked(self, bucket: str) -> bool:
        try:
            block = self.s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "NoSuchPublicAccessBlockConfiguration":
                return False
            raise
        return all(block.get(k) for k in _BLOCK_KEYS)

    def _converge(self, bucket: str, spec: ResourceSpec) -> None:
        config = spec.config
        self.s3.put_bucket_tagging(
            Bucket=bucket, Tagging={"TagSet": awstags.tag_list(self.tags_for(spec))}
        )
        versioning = config.get("versioning", True)
        current = self.s3.get_bucket_versioning(Bucket=bucket).get("Status")
        # A never-versioned bucket cannot be "Suspended"; leave it alone.
        if versioning or current:
            self.s3.put_bucket_versioning(
                Bucket=bucket,
                VersioningConfiguration={"Status": "Enabled" if versioning else "Suspended"},
            )
        algorithm = str(config.get("encryption") or "AES256")
        default: dict[str, Any] = {"SSEAlgorithm": algorithm}
        if config.get("kms_key_id"):
            default["KMSMasterKeyID"] = config["kms_key_id"]
        self.s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": default}]
            },
        )
        block = bool(config.get("block_public_access", True))
        self.s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration={k: block for k in _BLOCK_KEYS}
        )


_BLOCK_KEYS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
