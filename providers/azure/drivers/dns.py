"""infra.dns: a DNS zone and its record sets (Microsoft.Network/dnszones)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interfaces import ResourceSpec
from providers.azure.base import ArmDriver

ZONE_TYPES = ("Public", "Private")
# How each record type sits in a record set's properties, and how one value looks there.
RECORD_SHAPES: dict[str, tuple[str, str]] = {
    "A": ("ARecords", "ipv4Address"),
    "AAAA": ("AAAARecords", "ipv6Address"),
    "CNAME": ("CNAMERecord", "cname"),
    "TXT": ("TXTRecords", "value"),
    "MX": ("MXRecords", "exchange"),
}
SYSTEM_RECORDS = frozenset({("@", "NS"), ("@", "SOA")})


class DnsDriver(ArmDriver):
    """Config: domain (the zone, required), zone_type (Public or Private, default Public),
    records (list of {name, type A/AAAA/CNAME/TXT/MX, ttl (300), values}), tags.

    Record sets the stack no longer declares are deleted; the zone's own NS and SOA stay.
    ARM deletes a zone's record sets with the zone.
    """

    resource_type = "infra.dns"
    ARM_TYPE = "Microsoft.Network/dnszones"
    API_VERSION = "2018-05-01"
    LOCATION = "global"
    FORCE_NEW = frozenset({"domain", "zone_type"})
    UPDATABLE = frozenset({"records", "tags"})
    OUTPUTS = frozenset({
        "arm_name", "domain", "id", "location", "name_servers", "records", "tags", "zone_id",
        "zone_type"
    })

    def arm_name(self, spec: ResourceSpec) -> str:
        return str(spec.config.get("domain", "")).rstrip(".").lower()

    def validate(self, spec: ResourceSpec) -> None:
        if not spec.config.get("domain"):
            raise self.invalid(spec.name, "config needs `domain`, for example example.com")
        if str(spec.config.get("zone_type", "Public")).capitalize() not in ZONE_TYPES:
            raise self.invalid(spec.name, "zone_type must be Public or Private")
        for record in spec.config.get("records") or []:
            kind = str(record.get("type", "")).upper() if isinstance(record, Mapping) else ""
            if kind not in RECORD_SHAPES or not record.get("name") or not record.get("values"):
                raise self.invalid(
                    spec.name, f"record {record!r} needs name, values and a type of "
                    f"{', '.join(RECORD_SHAPES)}",
                )  # fmt: skip

    def properties(self, spec: ResourceSpec) -> dict[str, Any]:
        return {
            "properties": {"zoneType": str(spec.config.get("zone_type", "Public")).capitalize()}
        }

    def after_put(self, spec: ResourceSpec, resource_id: str) -> None:
        wanted = {(r["name"], r["type"]): r for r in _records(spec.config.get("records"))}
        for (name, kind), record in sorted(wanted.items()):
            self.put(spec, f"{resource_id}/{kind}/{name}", {"properties": _record_body(record)})
        for record in self._live_records(resource_id):
            key = (record.get("name", ""), _kind(record))
            if key not in wanted and key not in SYSTEM_RECORDS:
                self.arm.delete(
                    f"{resource_id}/{key[1]}/{key[0]}", self.API_VERSION, self.describe(spec.name)
                )

    def outputs(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        props = resource.get("properties") or {}
        records = []
        for record in self._live_records(str(resource.get("id"))):
            kind = _kind(record)
            if (record.get("name"), kind) in SYSTEM_RECORDS or kind not in RECORD_SHAPES:
                continue
            record_props = record.get("properties") or {}
            records.append(
                {
                    "name": record.get("name", ""),
                    "type": kind,
                    "ttl": int(record_props.get("TTL", 0)),
                    "values": _values(kind, record_props),
                }
            )
        return {
            **self.common_outputs(resource),
            "zone_id": resource.get("id", ""),
            "domain": resource.get("name", ""),
            "zone_type": props.get("zoneType", "Public"),
            "name_servers": list(props.get("nameServers") or []),
            "records": sorted(records, key=lambda r: (r["name"], r["type"])),
        }

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "domain" in fields:
            fields["domain"] = self.arm_name(spec)
        if "records" in fields:
            fields["records"] = _records(fields["records"])
        return fields

    def _live_records(self, zone_id: str) -> list[dict[str, Any]]:
        return self.arm.list_children(f"{zone_id}/recordsets", self.API_VERSION)


def _records(items: Any) -> list[dict[str, Any]]:
    records = []
    for record in items or []:
        values = record.get("values")
        records.append(
            {
                "name": str(record["name"]),
                "type": str(record["type"]).upper(),
                "ttl": int(record.get("ttl", 300)),
                "values": [str(v) for v in (values if isinstance(values, list) else [values])],
            }
        )
    return sorted(records, key=lambda r: (r["name"], r["type"]))


def _record_body(record: Mapping[str, Any]) -> dict[str, Any]:
    kind = record["type"]
    member, field = RECORD_SHAPES[kind]
    body: dict[str, Any] = {"TTL": record["ttl"]}
    if kind == "CNAME":
        body[member] = {field: record["values"][0]}
    elif kind == "TXT":
        body[member] = [{field: [value]} for value in record["values"]]
    elif kind == "MX":
        body[member] = [
            {"preference": int(pref), field: host}
            for pref, host in (value.split(None, 1) for value in record["values"])
        ]
    else:
        body[member] = [{field: value} for value in record["values"]]
    return body


def _values(kind: str, props: Mapping[str, Any]) -> list[str]:
    member, field = RECORD_SHAPES[kind]
    found = props.get(member)
    if kind == "CNAME":
        return [str(found.get(field, ""))] if found else []
    if kind == "TXT":
        return ["".join(item.get(field) or []) for item in found or []]
    if kind == "MX":
        return [f"{item.get('preference')} {item.get(field)}" for item in found or []]
    return [str(item.get(field, "")) for item in found or []]


def _kind(record: Mapping[str, Any]) -> str:
    # "Microsoft.Network/dnszones/A" -> "A"
    return str(record.get("type", "")).rsplit("/", 1)[-1].upper()
