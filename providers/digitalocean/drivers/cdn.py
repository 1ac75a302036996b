"""infra.cdn: a DigitalOcean CDN endpoint in front of a Spaces bucket.

DigitalOcean keeps one endpoint per origin and puts no tags or name on it, so the origin is
the endpoint's identity: a retried create finds the first attempt's endpoint by its origin.
"""

from __future__ import annotations

import re
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from providers.digitalocean.base import DoDriver

TTLS = (60, 600, 3600, 86400, 604800)
_SPACES_HOST = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\.[a-z0-9]+\.digitaloceanspaces\.com$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


class CdnDriver(DoDriver):
    """Config: origin (required: a Spaces bucket's host, <bucket>.<region>.digitaloceanspaces.com,
    or the bucket's name, in `region` or the provider's), ttl (60, 600, 3600, 86400 or 604800
    seconds; 3600), custom_domain with certificate_id (a DigitalOcean certificate covering
    it). A new origin is a new endpoint; the rest changes in place."""

    resource_type = "infra.cdn"
    FORCE_NEW = frozenset({"origin"})
    UPDATABLE = frozenset({"ttl", "custom_domain", "certificate_id"})
    OUTPUTS = frozenset({
        "certificate_id", "created_at", "custom_domain", "domain_name", "endpoint", "id",
        "origin", "ttl",
    })  # fmt: skip

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        origin = self.origin(spec)
        found = self._find(spec.name, origin)
        if found is None:
            settings = {k: v for k, v in self._settings(spec).items() if v}
            body = {"origin": origin, **settings}
            found = self.call(spec.name, self.do.cdn.create_endpoint, body)["endpoint"]
        self.made(found["id"])
        ref = ResourceRef(name=spec.name, type=spec.type, provider_id=found["id"])
        if self.updatable_changes(ref, spec):
            return self.update(ref, spec)
        return self.read(ref)

    def locate(self, spec: ResourceSpec) -> str:
        found = self._find(spec.name, self.origin(spec))
        return str(found["id"]) if found else ""

    def read(self, ref: ResourceRef) -> ResourceOutput:
        endpoint = self.call(ref.name, self.do.cdn.get_endpoint, ref.provider_id)["endpoint"]
        outputs = {
            "id": endpoint["id"],
            "origin": endpoint["origin"],
            "endpoint": endpoint.get("endpoint", ""),
            # The name the content is served under: the custom one when there is one.
            "domain_name": endpoint.get("custom_domain") or endpoint.get("endpoint", ""),
            "ttl": endpoint.get("ttl"),
            "custom_domain": endpoint.get("custom_domain") or "",
            "certificate_id": endpoint.get("certificate_id") or "",
            "created_at": endpoint.get("created_at", ""),
        }
        return self.output(ref.name, endpoint["id"], outputs)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        self.call(spec.name, self.do.cdn.update_endpoints, ref.provider_id, self._settings(spec))
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing():
            self.call(ref.name, self.do.cdn.delete_endpoint, ref.provider_id)

    # -- parts ----------------------------------------------------------------------------

    def origin(self, spec: ResourceSpec) -> str:
        given = str(spec.config.get("origin") or "").strip().rstrip(".").lower()
        given = re.sub(r"^https?://", "", given).split("/", 1)[0]
        if _BUCKET.match(given):
            given = f"{given}.{self.region(spec)}.digitaloceanspaces.com"
        if not _SPACES_HOST.match(given):
            raise self.invalid(
                spec.name,
                f"origin {given or '(none)'!r}: DigitalOcean's CDN serves Spaces buckets only "
                "(<bucket>.<region>.digitaloceanspaces.com, or the bucket's name)",
            )
        return given

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        fields["origin"] = self.origin(spec)
        fields.update(self._settings(spec))
        return fields

    def _settings(self, spec: ResourceSpec) -> dict[str, Any]:
        ttl = spec.config.get("ttl", 3600)
        if ttl not in TTLS or isinstance(ttl, bool):
            raise self.invalid(spec.name, f"ttl {ttl!r} is not one of {', '.join(map(str, TTLS))}")
        domain = str(spec.config.get("custom_domain") or "")
        certificate = str(spec.config.get("certificate_id") or "")
        if domain and not certificate:
            raise self.invalid(spec.name, "custom_domain needs certificate_id")
        return {"ttl": ttl, "custom_domain": domain, "certificate_id": certificate}

    def _find(self, name: str, origin: str) -> dict[str, Any] | None:
        listed = self.list_all(name, self.do.cdn.list_endpoints, "endpoints")
        return next((e for e in listed if e.get("origin") == origin), None)
