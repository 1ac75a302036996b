"""infra.certificate: an ACM certificate validated by DNS, its validation records in the outputs.

ACM issues the certificate only once the CNAME records from `validation_records` exist in
the domain's DNS (an infra.dns resource can take them from this resource's outputs); until
then it is PENDING_VALIDATION and health_check says so.
"""

from __future__ import annotations

import hashlib
from typing import Any

from interfaces import HealthResult, ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from providers.aws import tags as awstags
from providers.aws.base import AwsDriver
from providers.creation_journal import creation_token

# list_certificates shows only RSA_1024 and RSA_2048 keys unless told otherwise.
_KEY_TYPES = [
    "RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096",
    "EC_prime256v1", "EC_secp384r1", "EC_secp521r1",
]  # fmt: skip
_STATUS = {
    "PENDING_VALIDATION": ResourceStatus.PENDING,
    "ISSUED": ResourceStatus.READY,
}


class CertificateDriver(AwsDriver):
    """Config: domain_name (required), subject_alternative_names (more names on the same
    certificate), tags. Both names are fixed once requested: changing them is a new
    certificate. Deleting waits while the certificate is still in use (a load balancer
    listener being deleted lets go of it a little later)."""

    resource_type = "infra.certificate"
    FORCE_NEW = frozenset({"domain_name", "subject_alternative_names"})
    UPDATABLE = frozenset({"tags"})
    OUTPUTS = frozenset({
        "arn", "domain_name", "in_use_by", "not_after", "status", "subject_alternative_names",
        "tags", "validation_method", "validation_records"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        domain = self._domain(spec)
        alternatives = self._alternatives(spec)
        with self.errors(spec.name):
            arn = self._find(spec.name, domain)
            if arn is None:
                params: dict[str, Any] = {
                    "DomainName": domain,
                    "ValidationMethod": "DNS",
                    # ACM returns the same certificate for the same token within an hour: a
                    # retry that races the tag lookup still makes only one.
                    "IdempotencyToken": self._token(spec.name, domain, alternatives),
                    "Tags": awstags.tag_list(self.tags_for(spec)),
                }
                if alternatives:
                    params["SubjectAlternativeNames"] = alternatives
                arn = self.acm.request_certificate(**params)["CertificateArn"]
            else:
                self._sync_tags(arn, spec)
            self.made(arn)
        ref = ResourceRef(name=spec.name, type=spec.type, provider_id=arn)
        # ACM fills in the DNS records a few seconds after the request; they are the output
        # a user needs, so create returns once they are there.
        return self.wait(lambda: self._with_records(ref), f"{self.describe(spec.name)} records")

    def locate(self, spec: ResourceSpec) -> str:
        with self.errors(spec.name):
            return self._find(spec.name, self._domain(spec)) or ""

    def read(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            cert = self.acm.describe_certificate(CertificateArn=ref.provider_id)["Certificate"]
            tags = self._tags(ref.provider_id)
        domain = cert["DomainName"]
        options = cert.get("DomainValidationOptions") or []
        records = [
            {
                "domain": option["DomainName"],
                "name": option["ResourceRecord"]["Name"],
                "type": option["ResourceRecord"]["Type"],
                "value": option["ResourceRecord"]["Value"],
            }
            for option in options
            if option.get("ResourceRecord")
        ]
        outputs = {
            "arn": cert["CertificateArn"],
            "domain_name": domain,
            # ACM lists the primary name among the alternatives; the stack does not.
            "subject_alternative_names": sorted(
                n for n in cert.get("SubjectAlternativeNames", []) if n != domain
            ),
            "status": cert["Status"],
            "validation_method": options[0].get("ValidationMethod", "") if options else "",
            "validation_records": sorted(records, key=lambda r: r["domain"]),
            "in_use_by": list(cert.get("InUseBy", [])),
            "not_after": cert["NotAfter"].isoformat() if cert.get("NotAfter") else "",
            "tags": awstags.user_tags(tags),
        }
        status = _STATUS.get(cert["Status"], ResourceStatus.FAILED)
        return self.output(ref.name, cert["CertificateArn"], outputs, status)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        with self.errors(spec.name):
            self._sync_tags(ref.provider_id, spec)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing(ref.name):
            self.retry_while(
                {"ResourceInUseException"},
                lambda: self.acm.delete_certificate(CertificateArn=ref.provider_id),
                ref.name,
                f"{self.describe(ref.name)} to be released by its users",
            )

    def health_check(self, ref: ResourceRef) -> HealthResult:
        current = self.read(ref)
        status = current.outputs["status"]
        if status == "ISSUED":
            return HealthResult(healthy=True, message=f"{self.describe(ref.name)} is ISSUED")
        message = f"{self.describe(ref.name)} is {status}"
        if status == "PENDING_VALIDATION":
            names = ", ".join(r["name"] for r in current.outputs["validation_records"])
            message += f": waiting for the DNS validation records ({names})"
        return HealthResult(healthy=False, message=message)

    def natural_id(self, provider_id: str) -> str:
        return provider_id  # the ARN is the only id ACM knows a certificate by

    # -- parts ----------------------------------------------------------------------------

    @property
    def acm(self) -> Any:
        return self.client("acm")

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "domain_name" in fields:
            fields["domain_name"] = self._domain(spec)
        if "subject_alternative_names" in fields:
            fields["subject_alternative_names"] = self._alternatives(spec)
        return fields

    def _domain(self, spec: ResourceSpec) -> str:
        domain = str(spec.config.get("domain_name") or "").strip().rstrip(".").lower()
        if not domain:
            raise self.invalid(spec.name, "config needs `domain_name`, for example example.com")
        return domain

    def _alternatives(self, spec: ResourceSpec) -> list[str]:
        names = spec.config.get("subject_alternative_names") or []
        if isinstance(names, str):
            names = [names]
        domain = self._domain(spec)
        return sorted({str(n).strip().rstrip(".").lower() for n in names} - {domain})

    def _token(self, name: str, domain: str, alternatives: list[str]) -> str:
        # Per create, not per name: ACM keeps a token for an hour and answers it with the
        # certificate it first made, even once that one is deleted (a destroy, then apply).
        seed = "\n".join([self.stack, name, domain, *alternatives, creation_token()])
        return hashlib.sha256(seed.encode()).hexdigest()[:32]

    def _find(self, name: str, domain: str) -> str | None:
        pages = self.acm.get_paginator("list_certificates").paginate(
            Includes={"keyTypes": _KEY_TYPES}
        )
        for page in pages:
            for summary in page["CertificateSummaryList"]:
                if summary.get("DomainName") != domain:
                    continue
                arn = summary["CertificateArn"]
                if awstags.is_ours(self._tags(arn), self.stack, name):
                    return arn
        return None

    def _tags(self, arn: str) -> dict[str, str]:
        found = self.acm.list_tags_for_certificate(CertificateArn=arn)
        return awstags.tags_from_list(found.get("Tags"))

    def _sync_tags(self, arn: str, spec: ResourceSpec) -> None:
        to_set, to_remove = awstags.tag_changes(self._tags(arn), self.tags_for(spec))
        if to_set:
            self.acm.add_tags_to_certificate(CertificateArn=arn, Tags=awstags.tag_list(to_set))
        if to_remove:
            self.acm.remove_tags_from_certificate(
                CertificateArn=arn, Tags=[{"Key": key} for key in to_remove]
            )

    def _with_records(self, ref: ResourceRef) -> ResourceOutput | None:
        current = self.read(ref)
        wanted = 1 + len(current.outputs["subject_alternative_names"])
        if current.outputs["status"] == "PENDING_VALIDATION" and (
            len(current.outputs["validation_records"]) < wanted
        ):
            return None
        return current
