"""infra.dns: a DigitalOcean domain and the records the stack declares in it.

Domains have no id besides their name, so the domain name is the provider id. Records the
stack does not declare are left alone (DigitalOcean's own NS and SOA, hand-made ones), except
those listed in `absent_records`, which are removed.
"""

from __future__ import annotations

from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from interfaces.errors import NotFoundError
from providers.digitalocean.base import DoDriver

DEFAULT_TTL = 1800
RECORD_FIELDS = ("type", "name", "data", "ttl", "priority", "port", "weight")


class DnsDriver(DoDriver):
    """Config: domain (required), records ([{type, name ("@" for the apex), data, ttl
    (1800), priority, port, weight}]), absent_records ([{type, name, data?}] to remove)."""

    resource_type = "infra.dns"
    FORCE_NEW = frozenset({"domain"})
    UPDATABLE = frozenset({"records", "absent_records"})
    OUTPUTS = frozenset({"domain", "name_servers", "records", "ttl"})

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        domain = self._domain(spec)
        try:
            self.call(spec.name, self.do.domains.get, domain)
        except NotFoundError:
            self.call(spec.name, self.do.domains.create, {"name": domain})
        self.made(domain)
        self._sync_records(spec, domain)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=domain))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        domain = self.call(ref.name, self.do.domains.get, ref.provider_id)["domain"]
        records = self._records(ref.name, domain["name"])
        outputs = {
            "domain": domain["name"],
            "ttl": domain.get("ttl"),
            "name_servers": sorted(r["data"] for r in records if r.get("type") == "NS"),
            "records": sorted(
                (_shape(r) for r in records if r.get("type") not in ("NS", "SOA")),
                key=_key,
            ),
        }
        return self.output(ref.name, domain["name"], outputs)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        self._sync_records(spec, ref.provider_id)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing():
            self.call(ref.name, self.do.domains.delete, ref.provider_id)

    # -- parts ----------------------------------------------------------------------------

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "records" in fields:
            fields["records"] = sorted((_shape(r) for r in fields["records"] or []), key=_key)
        if "absent_records" in fields:
            fields["absent_records"] = list(fields["absent_records"] or [])
        return fields

    def diff(self, desired: ResourceSpec, current: ResourceOutput) -> Any:
        # `records` in outputs lists every record; the stack owns only those it declares,
        # and `absent_records` is satisfied when none of them is there.
        live = current.outputs.get("records") or []
        view = {
            **current.outputs,
            "records": [r for r in live if _key(r) in {_key(d) for d in _declared(desired)}],
            "absent_records": [
                a for a in desired.config.get("absent_records") or []
                if not any(_matches(a, r) for r in live)
            ],
        }  # fmt: skip
        return super().diff(desired, current.model_copy(update={"outputs": view}))

    def _domain(self, spec: ResourceSpec) -> str:
        domain = str(spec.config.get("domain") or "").strip().rstrip(".").lower()
        if not domain:
            raise self.invalid(spec.name, "config needs `domain`, for example example.com")
        return domain

    def _records(self, name: str, domain: str) -> list[dict[str, Any]]:
        return self.list_all(
            name, self.do.domains.list_records, "domain_records", domain_name=domain
        )

    def _sync_records(self, spec: ResourceSpec, domain: str) -> None:
        live = self._records(spec.name, domain)
        for wanted in _declared(spec):
            same_key = [r for r in live if _key(_shape(r)) == _key(wanted)]
            if not same_key:
                body = {k: v for k, v in wanted.items() if v is not None}
                self.call(spec.name, self.do.domains.create_record, domain, body)
            elif _shape(same_key[0]) != wanted:
                # The record keeps its type, name and data; DigitalOcean still requires
                # `type` in every PATCH body.
                changes = {k: v for k, v in wanted.items() if k not in ("name", "data")}
                self.call(
                    spec.name, self.do.domains.patch_record, domain, same_key[0]["id"], changes
                )
        for absent in spec.config.get("absent_records") or []:
            for record in live:
                if _matches(absent, record):
                    with self.ignoring_missing():
                        self.call(
                            spec.name, self.do.domains.delete_record, domain, record["id"]
                        )


def _declared(spec: ResourceSpec) -> list[dict[str, Any]]:
    return [_shape(r) for r in spec.config.get("records") or []]


def _shape(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the stack writes it: our fields only, the ttl defaulted."""
    shaped = {k: record.get(k) for k in RECORD_FIELDS}
    shaped["type"] = str(shaped["type"] or "A").upper()
    shaped["name"] = str(shaped["name"] or "@")
    shaped["data"] = str(shaped["data"] or "")
    shaped["ttl"] = int(shaped["ttl"] or DEFAULT_TTL)
    return {k: v for k, v in shaped.items() if v is not None}


def _key(record: dict[str, Any]) -> tuple[str, str, str]:
    return (str(record.get("type")), str(record.get("name")), str(record.get("data")))


def _matches(absent: dict[str, Any], record: dict[str, Any]) -> bool:
    return (
        str(absent.get("type", "")).upper() == str(record.get("type", "")).upper()
        and str(absent.get("name", "@")) == str(record.get("name", ""))
        and (not absent.get("data") or str(absent["data"]) == str(record.get("data")))
    )
