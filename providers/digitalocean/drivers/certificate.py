"""infra.certificate: a DigitalOcean certificate, issued by Let's Encrypt or uploaded.

Certificates cannot change: any change of what they certify makes a new one. A custom
certificate's private key is read on the worker from the environment variable named in
`private_key_env`, so it never travels through workflow input or history.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from providers.digitalocean.base import DoDriver

STATUSES = {
    "pending": ResourceStatus.CREATING,
    "verified": ResourceStatus.READY,
    "error": ResourceStatus.FAILED,
}


class CertificateDriver(DoDriver):
    """Config: type (lets_encrypt | custom; lets_encrypt when dns_names are given),
    dns_names (Let's Encrypt; the domains must be managed by DigitalOcean DNS), or
    leaf_certificate, certificate_chain and private_key_env (custom), name."""

    resource_type = "infra.certificate"
    FORCE_NEW = frozenset({"type", "dns_names", "sha1_fingerprint"})
    OUTPUTS = frozenset({
        "certificate_id", "dns_names", "name", "not_after", "sha1_fingerprint", "state", "type"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        name = self.do_name(spec, 255)
        listed = self.list_all(spec.name, self.do.certificates.list, "certificates", name=name)
        found = next((c for c in listed if c.get("name") == name), None)
        if found is None:
            found = self.call(spec.name, self.do.certificates.create, self._body(spec, name))[
                "certificate"
            ]
        self.made(found["id"])
        ref = ResourceRef(name=spec.name, type=spec.type, provider_id=found["id"])
        self.wait(
            lambda: True if self.read(ref).status == ResourceStatus.READY else None,
            f"certificate {found['id']} of {spec.name} to be verified",
        )
        return self.read(ref)

    def read(self, ref: ResourceRef) -> ResourceOutput:
        cert = self.call(ref.name, self.do.certificates.get, ref.provider_id)["certificate"]
        outputs = {
            "certificate_id": cert["id"],
            "name": cert.get("name", ""),
            "type": cert.get("type", ""),
            "dns_names": sorted(cert.get("dns_names") or []),
            "not_after": cert.get("not_after", ""),
            "sha1_fingerprint": cert.get("sha1_fingerprint", ""),
            "state": cert.get("state", ""),
        }
        status = STATUSES.get(cert.get("state", ""), ResourceStatus.UNKNOWN)
        return self.output(ref.name, cert["id"], outputs, status)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        return self.read(ref)  # nothing about a certificate changes in place

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing():
            self.call(ref.name, self.do.certificates.delete, ref.provider_id)

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        fields["type"] = self._type(spec)
        if spec.config.get("leaf_certificate"):
            # DigitalOcean shows an uploaded certificate only by its fingerprint.
            fields["sha1_fingerprint"] = fingerprint(str(spec.config["leaf_certificate"]))
        return fields

    def _type(self, spec: ResourceSpec) -> str:
        custom = bool(spec.config.get("leaf_certificate"))
        return str(spec.config.get("type") or ("custom" if custom else "lets_encrypt"))

    def _body(self, spec: ResourceSpec, name: str) -> dict[str, Any]:
        kind = self._type(spec)
        if kind == "lets_encrypt":
            names = [str(n) for n in spec.config.get("dns_names") or []]
            if not names:
                raise self.invalid(spec.name, "a Let's Encrypt certificate needs dns_names")
            return {"name": name, "type": kind, "dns_names": names}
        variable = str(spec.config.get("private_key_env") or "")
        key = os.environ.get(variable, "") if variable else ""
        if not key or not spec.config.get("leaf_certificate"):
            raise self.invalid(
                spec.name,
                "a custom certificate needs leaf_certificate and private_key_env naming an "
                "environment variable of the worker that holds the PEM private key",
            )
        body = {
            "name": name,
            "type": kind,
            "private_key": key,
            "leaf_certificate": str(spec.config["leaf_certificate"]),
        }
        if spec.config.get("certificate_chain"):
            body["certificate_chain"] = str(spec.config["certificate_chain"])
        return body


def fingerprint(pem: str) -> str:
    """SHA-1 of the first certificate's DER bytes, as DigitalOcean reports it."""
    match = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", pem, re.S)
    body = match.group(1) if match else pem
    return hashlib.sha1(base64.b64decode("".join(body.split()))).hexdigest()
