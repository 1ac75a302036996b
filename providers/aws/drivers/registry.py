"""infra.registry: an ECR repository with scan on push, tag mutability and a lifecycle policy."""

from __future__ import annotations

import json
import re
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from interfaces.errors import NotFoundError, ProviderError
from providers.aws import tags as awstags
from providers.aws.base import AwsDriver


class RegistryDriver(AwsDriver):
    """Config: repository (default <stack>-<name>, lowercased), scan_on_push (default true),
    tag_mutability (MUTABLE default, or IMMUTABLE), lifecycle_policy (the ECR policy document
    as a mapping or JSON text; null removes it), encryption (AES256 default, or KMS with
    kms_key), tags. A repository holding images is not deleted (ECR's
    RepositoryNotEmptyException): images are often the only copy of a release."""

    resource_type = "infra.registry"
    # ECR fixes a repository's name and encryption when it is created.
    FORCE_NEW = frozenset({"repository", "encryption", "kms_key"})
    UPDATABLE = frozenset({"scan_on_push", "tag_mutability", "lifecycle_policy", "tags"})
    OUTPUTS = frozenset({
        "arn", "encryption", "kms_key", "lifecycle_policy", "registry_id", "repository",
        "repository_uri", "scan_on_push", "tag_mutability", "tags"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        repository = self.repository_name(spec)
        with self.errors(spec.name):
            found = self._describe(repository)
            if found is None:
                params: dict[str, Any] = {
                    "repositoryName": repository,
                    "imageTagMutability": self._mutability(spec),
                    "imageScanningConfiguration": {
                        "scanOnPush": bool(spec.config.get("scan_on_push", True))
                    },
                    "encryptionConfiguration": self._encryption(spec),
                    "tags": awstags.tag_list(self.tags_for(spec)),
                }
                found = self.ecr.create_repository(**params)["repository"]
            self._check_ours(found, spec.name)
            self.made(repository)
            self._converge(found, spec)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=repository))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            repo = self._describe(ref.provider_id)
            if repo is None:
                raise NotFoundError(f"{self.describe(ref.name)}: no repository {ref.provider_id!r}")
            tags = self._tags(repo["repositoryArn"])
            policy = self._lifecycle_policy(repo["repositoryName"])
        encryption = repo.get("encryptionConfiguration") or {}
        outputs = {
            "repository": repo["repositoryName"],
            "arn": repo["repositoryArn"],
            "repository_uri": repo["repositoryUri"],
            "registry_id": repo["registryId"],
            "scan_on_push": bool(repo.get("imageScanningConfiguration", {}).get("scanOnPush")),
            "tag_mutability": repo.get("imageTagMutability", "MUTABLE"),
            "lifecycle_policy": policy,
            "encryption": encryption.get("encryptionType", "AES256"),
            "kms_key": encryption.get("kmsKey", ""),
            "tags": awstags.user_tags(tags),
        }
        return self.output(ref.name, repo["repositoryName"], outputs)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        with self.errors(spec.name):
            repo = self._describe(ref.provider_id)
            if repo is None:
                raise NotFoundError(f"{self.describe(ref.name)}: no repository {ref.provider_id!r}")
            self._converge(repo, spec)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing(ref.name):
            self.ecr.delete_repository(repositoryName=ref.provider_id)

    def natural_id(self, provider_id: str) -> str:
        # Repository names contain slashes ("team/web"), so the ARN's whole resource path counts.
        if provider_id.startswith("arn:"):
            return provider_id.split(":", 5)[-1].removeprefix("repository/")
        return provider_id

    # -- parts ----------------------------------------------------------------------------

    @property
    def ecr(self) -> Any:
        return self.client("ecr")

    def repository_name(self, spec: ResourceSpec) -> str:
        wanted = str(spec.config.get("repository") or f"{self.stack}-{spec.name}").lower()
        name = re.sub(r"[^a-z0-9._/-]+", "-", wanted).strip("._/-")[:256]
        if len(name) < 2:
            raise self.invalid(spec.name, f"repository name {wanted!r} is too short")
        return name

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "repository" in fields:
            fields["repository"] = self.repository_name(spec)
        if "tag_mutability" in fields:
            fields["tag_mutability"] = self._mutability(spec)
        if "encryption" in fields:
            fields["encryption"] = self._encryption(spec)["encryptionType"]
        if "lifecycle_policy" in fields:
            fields["lifecycle_policy"] = self._policy(spec)
        return fields

    def same(self, key: str, desired: Any, actual: Any) -> bool:
        if key == "kms_key" and desired and actual:
            # ECR reports the key's ARN; a stack may name it by id or alias (not resolvable
            # here without KMS, so an alias is taken as matching rather than as a replace).
            wanted, have = str(desired), str(actual)
            return wanted == have or have.endswith(f"/{wanted}") or wanted.startswith("alias/")
        return super().same(key, desired, actual)

    def _describe(self, repository: str) -> dict[str, Any] | None:
        try:
            found = self.ecr.describe_repositories(repositoryNames=[repository])
        except self.ecr.exceptions.RepositoryNotFoundException:
            return None
        return found["repositories"][0]

    def _tags(self, arn: str) -> dict[str, str]:
        return awstags.tags_from_list(self.ecr.list_tags_for_resource(resourceArn=arn)["tags"])

    def _check_ours(self, repo: dict[str, Any], name: str) -> None:
        tags = self._tags(repo["repositoryArn"])
        if not awstags.is_ours(tags, self.stack, name):
            raise ProviderError(
                f"{self.describe(name)}: repository {repo['repositoryName']!r} already exists "
                "and is not this resource's (import it to manage it)",
                code="RepositoryAlreadyExistsException",
            )

    def _lifecycle_policy(self, repository: str) -> dict[str, Any] | None:
        try:
            text = self.ecr.get_lifecycle_policy(repositoryName=repository)["lifecyclePolicyText"]
        except self.ecr.exceptions.LifecyclePolicyNotFoundException:
            return None
        return json.loads(text)

    def _mutability(self, spec: ResourceSpec) -> str:
        value = str(spec.config.get("tag_mutability") or "MUTABLE").upper()
        if value not in ("MUTABLE", "IMMUTABLE"):
            raise self.invalid(spec.name, f"tag_mutability {value!r} is not MUTABLE or IMMUTABLE")
        return value

    def _encryption(self, spec: ResourceSpec) -> dict[str, str]:
        kind = str(spec.config.get("encryption") or "AES256").upper()
        if kind not in ("AES256", "KMS"):
            raise self.invalid(spec.name, f"encryption {kind!r} is not AES256 or KMS")
        config = {"encryptionType": kind}
        if kind == "KMS" and spec.config.get("kms_key"):
            config["kmsKey"] = str(spec.config["kms_key"])
        return config

    def _policy(self, spec: ResourceSpec) -> dict[str, Any] | None:
        policy = spec.config.get("lifecycle_policy")
        if policy in (None, "", {}):
            return None
        if isinstance(policy, str):
            try:
                policy = json.loads(policy)
            except json.JSONDecodeError as error:
                raise self.invalid(spec.name, f"lifecycle_policy is not JSON: {error}") from None
        if not isinstance(policy, dict):
            raise self.invalid(spec.name, "lifecycle_policy must be a mapping or JSON text")
        return policy

    def _converge(self, repo: dict[str, Any], spec: ResourceSpec) -> None:
        name, arn, config = repo["repositoryName"], repo["repositoryArn"], spec.config
        to_set, to_remove = awstags.tag_changes(self._tags(arn), self.tags_for(spec))
        if to_set:
            self.ecr.tag_resource(resourceArn=arn, tags=awstags.tag_list(to_set))
        if to_remove:
            self.ecr.untag_resource(resourceArn=arn, tagKeys=to_remove)
        # What the spec leaves out stays as the repository has it (create set the defaults).
        mutability = self._mutability(spec)
        if "tag_mutability" in config and repo.get("imageTagMutability") != mutability:
            self.ecr.put_image_tag_mutability(
                repositoryName=name, imageTagMutability=mutability
            )
        scan = bool(config.get("scan_on_push", True))
        have_scan = bool(repo.get("imageScanningConfiguration", {}).get("scanOnPush"))
        if "scan_on_push" in config and have_scan != scan:
            self.ecr.put_image_scanning_configuration(
                repositoryName=name, imageScanningConfiguration={"scanOnPush": scan}
            )
        if "lifecycle_policy" not in config:
            return
        wanted, have = self._policy(spec), self._lifecycle_policy(name)
        if wanted is None and have is not None:
            self.ecr.delete_lifecycle_policy(repositoryName=name)
        elif wanted is not None and not self.same("lifecycle_policy", wanted, have):
            self.ecr.put_lifecycle_policy(
                repositoryName=name, lifecyclePolicyText=json.dumps(wanted)
            )
