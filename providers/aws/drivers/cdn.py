"""infra.cdn: a CloudFront distribution in front of one origin, an S3 bucket or a host.

CloudFront takes minutes to deploy a change; create and update wait (heartbeating) until
the distribution is Deployed. A distribution is deleted only once disabled and deployed
again, each change naming the ETag of the version it changes.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from interfaces import HealthResult, ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from providers.aws import tags as awstags
from providers.aws.base import AwsDriver
from providers.creation_journal import creation_token

PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
# AWS's managed "CachingOptimized" cache policy: the default for static content.
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
# The hosted zone of every CloudFront domain, for Route 53 alias records.
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"
ORIGIN_ID = "origin"
_S3_HOST = re.compile(r"^[a-z0-9.-]+\.s3([.-][a-z0-9-]+)?\.amazonaws\.com$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


class CdnDriver(AwsDriver):
    """Config: origin (required: a bucket name, a bucket's `domain_name` output or any
    host serving HTTPS), origin_path, enabled (true), price_class (PriceClass_100,
    PriceClass_200 or PriceClass_All; default PriceClass_100), aliases (names served
    besides the cloudfront.net one; they need certificate_arn, an ACM certificate in
    us-east-1), default_root_object, tags. Everything changes in place."""

    resource_type = "infra.cdn"
    UPDATABLE = frozenset({
        "origin", "origin_path", "enabled", "price_class", "aliases", "certificate_arn",
        "default_root_object", "tags",
    })  # fmt: skip
    OUTPUTS = frozenset({
        "aliases", "arn", "certificate_arn", "default_root_object", "domain_name", "enabled",
        "hosted_zone_id", "id", "origin", "origin_path", "price_class", "status", "tags",
    })  # fmt: skip

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        config = self._distribution_config(spec, self._caller_reference(spec.name))
        with self.errors(spec.name):
            found = self._find(spec.name)
            if found is None:
                try:
                    made = self.cloudfront.create_distribution_with_tags(
                        DistributionConfigWithTags={
                            "DistributionConfig": config,
                            "Tags": {"Items": awstags.tag_list(self.tags_for(spec))},
                        }
                    )
                    found = str(made["Distribution"]["Id"])
                except self.cloudfront.exceptions.DistributionAlreadyExists:
                    # An earlier attempt's call landed with this caller reference.
                    found = self._find(spec.name)
                    if found is None:
                        raise
            self.made(found)
            ref = ResourceRef(name=spec.name, type=spec.type, provider_id=found)
            self._converge(ref, spec)
        return self._deployed(ref)

    def locate(self, spec: ResourceSpec) -> str:
        with self.errors(spec.name):
            return self._find(spec.name) or ""

    def read(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            dist = self.cloudfront.get_distribution(Id=ref.provider_id)["Distribution"]
            tags = self._tags(dist["ARN"])
        config = dist["DistributionConfig"]
        origin = (config.get("Origins", {}).get("Items") or [{}])[0]
        viewer = config.get("ViewerCertificate") or {}
        outputs = {
            "id": dist["Id"],
            "arn": dist["ARN"],
            "domain_name": dist["DomainName"],
            "hosted_zone_id": CLOUDFRONT_ZONE_ID,
            "status": dist["Status"],
            "origin": origin.get("DomainName", ""),
            "origin_path": origin.get("OriginPath") or "",
            "enabled": bool(config.get("Enabled")),
            "price_class": config.get("PriceClass", ""),
            "aliases": sorted(config.get("Aliases", {}).get("Items") or []),
            "certificate_arn": viewer.get("ACMCertificateArn") or "",
            "default_root_object": config.get("DefaultRootObject") or "",
            "tags": awstags.user_tags(tags),
        }
        status = ResourceStatus.READY if dist["Status"] == "Deployed" else ResourceStatus.UPDATING
        return self.output(ref.name, dist["Id"], outputs, status)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        with self.errors(spec.name):
            self._converge(ref, spec)
        return self._deployed(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing(ref.name):
            found = self.cloudfront.get_distribution_config(Id=ref.provider_id)
            config, etag = found["DistributionConfig"], found["ETag"]
            if config.get("Enabled"):
                disabled = {**config, "Enabled": False}
                etag = self.cloudfront.update_distribution(
                    Id=ref.provider_id, IfMatch=etag, DistributionConfig=disabled
                )["ETag"]
            self._wait_deployed(ref)
            self.cloudfront.delete_distribution(Id=ref.provider_id, IfMatch=etag)

    def health_check(self, ref: ResourceRef) -> HealthResult:
        current = self.read(ref)
        enabled = current.outputs["enabled"]
        deployed = current.outputs["status"] == "Deployed"
        state = "Deployed" if deployed else current.outputs["status"]
        return HealthResult(
            healthy=deployed and enabled,
            message=f"{self.describe(ref.name)} is {state}{'' if enabled else ', disabled'}",
        )

    def natural_id(self, provider_id: str) -> str:
        return provider_id.rsplit("/", 1)[-1]  # an id, or the distribution's ARN

    # -- parts ----------------------------------------------------------------------------

    @property
    def cloudfront(self) -> Any:
        return self.client("cloudfront")

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        # Every field but tags is written at create, defaults included: a distribution
        # disabled (or repriced) behind the engine's back is drift even when the stack left
        # the field at its default.
        fields = super().desired_fields(spec)
        fields.update({
            "origin": self._origin(spec),
            "origin_path": str(spec.config.get("origin_path") or ""),
            "enabled": bool(spec.config.get("enabled", True)),
            "price_class": self._price_class(spec),
            "aliases": self._aliases(spec),
            "certificate_arn": str(spec.config.get("certificate_arn") or ""),
            "default_root_object": str(spec.config.get("default_root_object") or ""),
        })  # fmt: skip
        return fields

    def _origin(self, spec: ResourceSpec) -> str:
        origin = str(spec.config.get("origin") or "").strip().rstrip(".").lower()
        origin = re.sub(r"^https?://", "", origin).split("/", 1)[0]
        if not origin:
            raise self.invalid(spec.name, "config needs `origin`: a bucket or a host name")
        # A bare bucket name means the bucket's own endpoint.
        return f"{origin}.s3.amazonaws.com" if _BUCKET.match(origin) else origin

    def _aliases(self, spec: ResourceSpec) -> list[str]:
        aliases = spec.config.get("aliases") or []
        if isinstance(aliases, str):
            aliases = [aliases]
        return sorted({str(a).strip().rstrip(".").lower() for a in aliases})

    def _price_class(self, spec: ResourceSpec) -> str:
        price_class = str(spec.config.get("price_class") or "PriceClass_100")
        if price_class not in PRICE_CLASSES:
            raise self.invalid(
                spec.name, f"price_class {price_class!r} is not one of {', '.join(PRICE_CLASSES)}"
            )
        return price_class

    def _caller_reference(self, name: str) -> str:
        # Per create, not per name: a destroy then an apply makes a new distribution.
        seed = "\n".join([self.stack, name, creation_token()])
        return hashlib.sha256(seed.encode()).hexdigest()[:40]

    def _distribution_config(self, spec: ResourceSpec, caller_reference: str) -> dict[str, Any]:
        """The whole DistributionConfig for a new distribution."""
        config: dict[str, Any] = {
            "CallerReference": caller_reference,
            "Comment": f"wfctl {self.stack}/{spec.name}"[:128],
            "Origins": {"Quantity": 1, "Items": [{"Id": ORIGIN_ID, "DomainName": ""}]},
            "DefaultCacheBehavior": {
                "TargetOriginId": ORIGIN_ID,
                "ViewerProtocolPolicy": "redirect-to-https",
                "CachePolicyId": CACHING_OPTIMIZED,
                "Compress": True,
            },
            "Enabled": True,
        }
        self._apply_spec(config, spec)
        return config

    def _apply_spec(self, config: dict[str, Any], spec: ResourceSpec) -> None:
        """Set the fields the spec manages in `config` (new, or read back for an update)."""
        origin = self._origin(spec)
        aliases = self._aliases(spec)
        certificate = str(spec.config.get("certificate_arn") or "")
        if aliases and not certificate:
            raise self.invalid(
                spec.name,
                "aliases need certificate_arn: an ACM certificate in us-east-1 covering "
                f"{', '.join(aliases)}",
            )
        item: dict[str, Any] = {
            "Id": ORIGIN_ID,
            "DomainName": origin,
            "OriginPath": str(spec.config.get("origin_path") or ""),
        }
        if _S3_HOST.match(origin):
            item["S3OriginConfig"] = {"OriginAccessIdentity": ""}
        else:
            item["CustomOriginConfig"] = {
                "HTTPPort": 80,
                "HTTPSPort": 443,
                "OriginProtocolPolicy": "https-only",
            }
        config["Origins"] = {"Quantity": 1, "Items": [item]}
        config["DefaultCacheBehavior"]["TargetOriginId"] = ORIGIN_ID
        config["Enabled"] = bool(spec.config.get("enabled", True))
        config["PriceClass"] = self._price_class(spec)
        config["Aliases"] = {"Quantity": len(aliases), **({"Items": aliases} if aliases else {})}
        config["DefaultRootObject"] = str(spec.config.get("default_root_object") or "")
        config["ViewerCertificate"] = (
            {
                "ACMCertificateArn": certificate,
                "SSLSupportMethod": "sni-only",
                "MinimumProtocolVersion": "TLSv1.2_2021",
            }
            if certificate
            else {"CloudFrontDefaultCertificate": True}
        )

    def _converge(self, ref: ResourceRef, spec: ResourceSpec) -> None:
        """Make the live distribution say what the spec does (nothing sent when it does)."""
        if self.updatable_changes(ref, spec).keys() - {"tags"}:
            found = self.cloudfront.get_distribution_config(Id=ref.provider_id)
            config = found["DistributionConfig"]
            self._apply_spec(config, spec)
            self.cloudfront.update_distribution(
                Id=ref.provider_id, IfMatch=found["ETag"], DistributionConfig=config
            )
        arn = self.cloudfront.get_distribution(Id=ref.provider_id)["Distribution"]["ARN"]
        to_set, to_remove = awstags.tag_changes(self._tags(arn), self.tags_for(spec))
        if to_set:
            self.cloudfront.tag_resource(
                Resource=arn, Tags={"Items": awstags.tag_list(to_set)}
            )
        if to_remove:
            self.cloudfront.untag_resource(Resource=arn, TagKeys={"Items": to_remove})

    def _find(self, name: str) -> str | None:
        comment = f"wfctl {self.stack}/{name}"[:128]
        for page in self.cloudfront.get_paginator("list_distributions").paginate():
            for summary in page["DistributionList"].get("Items") or []:
                if summary.get("Comment") != comment:
                    continue
                if awstags.is_ours(self._tags(summary["ARN"]), self.stack, name):
                    return str(summary["Id"])
        return None

    def _tags(self, arn: str) -> dict[str, str]:
        found = self.cloudfront.list_tags_for_resource(Resource=arn)["Tags"]
        return awstags.tags_from_list(found.get("Items"))

    def _wait_deployed(self, ref: ResourceRef) -> str:
        def deployed() -> str | None:
            dist = self.cloudfront.get_distribution(Id=ref.provider_id)["Distribution"]
            return "Deployed" if dist["Status"] == "Deployed" else None

        return self.wait(deployed, f"{self.describe(ref.name)} to be Deployed")

    def _deployed(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            self._wait_deployed(ref)
        return self.read(ref)

