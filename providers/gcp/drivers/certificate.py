"""infra.certificate: a Google-managed Compute SSL certificate for a load balancer."""

from __future__ import annotations

from typing import Any

from google.cloud import compute_v1

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from providers.gcp.base import GcpDriver


class CertificateDriver(GcpDriver):
    """Config: domains (list; `domain_name` for one), certificate (the name, default
    <stack>-<name>). Google provisions it once a load balancer serves it and DNS points
    there, so it is ready as soon as it exists; `status` tells PROVISIONING from ACTIVE.
    Certificates are immutable: new domains mean a new certificate."""

    resource_type = "infra.certificate"
    FORCE_NEW = frozenset({"domains", "certificate"})
    OUTPUTS = frozenset({
        "certificate", "domain_status", "domains", "expire_time", "self_link", "status"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        name = self.certificate_name(spec)
        body = {
            "name": name,
            "description": self.description(spec.name),
            "type_": "MANAGED",
            "managed": {"domains": self.domains(spec)},
        }
        self.ensure(
            spec.name,
            f"certificate {name}",
            lambda: self._get(name),
            lambda rid: self.certificates.insert_unary(
                compute_v1.InsertSslCertificateRequest(
                    project=self.project, request_id=rid, ssl_certificate_resource=body
                )
            ),
            self.owned_by_description(spec.name),
        )
        self.made(name)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=name))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            cert = self._get(ref.provider_id)
        outputs: dict[str, Any] = {
            "certificate": cert.name,
            "self_link": cert.self_link,
            "domains": list(cert.managed.domains),
            "status": cert.managed.status or "PROVISIONING",
            "domain_status": dict(cert.managed.domain_status),
            "expire_time": cert.expire_time,
        }
        return self.output(ref.name, cert.name, outputs)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        # Nothing changes in place (the engine replaces on domains); read what there is.
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        self.remove(
            ref.name,
            f"certificate {ref.provider_id}",
            lambda rid: self.certificates.delete_unary(
                compute_v1.DeleteSslCertificateRequest(
                    project=self.project, ssl_certificate=ref.provider_id, request_id=rid
                )
            ),
        )

    @property
    def certificates(self) -> compute_v1.SslCertificatesClient:
        return self.compute(compute_v1.SslCertificatesClient)

    def certificate_name(self, spec: ResourceSpec) -> str:
        given = spec.config.get("certificate")
        return str(given) if given else self.gce_name(spec)

    def domains(self, spec: ResourceSpec) -> list[str]:
        found = spec.config.get("domains") or (
            [spec.config["domain_name"]] if spec.config.get("domain_name") else []
        )
        if not isinstance(found, list) or not found:
            raise self.invalid(spec.name, "config needs `domains` (or `domain_name`)")
        return [str(d) for d in found]

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "domain_name" in spec.config or "domains" in spec.config:
            fields["domains"] = self.domains(spec)
        return fields

    def _get(self, name: str) -> compute_v1.SslCertificate:
        return self.certificates.get(project=self.project, ssl_certificate=name)
