"""infra.dns: a Route53 hosted zone and the record sets the stack declares in it."""

from __future__ import annotations

import uuid
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from providers.aws import tags as awstags
from providers.aws.base import AwsDriver

Record = dict[str, Any]


class DnsDriver(AwsDriver):
    """Config: zone (required, e.g. shop.example.com), private (with vpc_id), comment,
    records: [{name ("@", "www" or a full name), type, ttl (300), values or value}], tags.

    A retried create finds the zone by its CallerReference prefix, which Route53 stores
    atomically with the zone (tags come one call later)."""

    resource_type = "infra.dns"
    FORCE_NEW = frozenset({"zone", "private", "vpc_id"})
    UPDATABLE = frozenset({"comment", "records", "tags"})
    OUTPUTS = frozenset({
        "arn", "comment", "name_servers", "private", "records", "tags", "vpc_id", "zone", "zone_id"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        zone = self._zone_name(spec)
        with self.errors(spec.name):
            zone_id = self._find(zone, spec.name)
            if zone_id is None:
                params: dict[str, Any] = {
                    "Name": zone,
                    "CallerReference": f"{self._reference_prefix(spec.name)}{uuid.uuid4().hex}",
                    "HostedZoneConfig": {
                        "Comment": str(spec.config.get("comment", "")),
                        "PrivateZone": bool(spec.config.get("private")),
                    },
                }
                if spec.config.get("private"):
                    if not spec.config.get("vpc_id"):
                        raise self.invalid(spec.name, "a private zone needs `vpc_id`")
                    params["VPC"] = {
                        "VPCRegion": self.context.session.region,
                        "VPCId": spec.config["vpc_id"],
                    }
                zone_id = _short_id(self.route53.create_hosted_zone(**params)["HostedZone"]["Id"])
            self.made(zone_id)
            self._converge(zone_id, spec)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=zone_id))

    def locate(self, spec: ResourceSpec) -> str:
        with self.errors(spec.name):
            return self._find(self._zone_name(spec), spec.name) or ""

    def read(self, ref: ResourceRef) -> ResourceOutput:
        zone_id = _short_id(ref.provider_id)
        with self.errors(ref.name):
            found = self.route53.get_hosted_zone(Id=zone_id)
            records = self._records(zone_id, found["HostedZone"]["Name"])
            tags = self._tags(zone_id)
        zone = found["HostedZone"]
        vpcs = found.get("VPCs", [])
        outputs = {
            "zone_id": zone_id,
            "zone": zone["Name"].rstrip("."),
            "name_servers": found.get("DelegationSet", {}).get("NameServers", []),
            "private": bool(zone.get("Config", {}).get("PrivateZone")),
            "vpc_id": vpcs[0]["VPCId"] if vpcs else "",
            "comment": zone.get("Config", {}).get("Comment", ""),
            "records": [r for r in records if not _managed(r, zone["Name"])],
            "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
            "tags": awstags.user_tags(tags),
        }
        return self.output(ref.name, zone_id, outputs, ResourceStatus.READY)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        with self.errors(spec.name):
            self._converge(_short_id(ref.provider_id), spec)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        zone_id = _short_id(ref.provider_id)
        with self.ignoring_missing(ref.name):
            zone_name = self.route53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"]
            # Route53 refuses to delete a zone that still holds records of its own.
            stale = [r for r in self._records(zone_id, zone_name) if not _managed(r, zone_name)]
            self._change(zone_id, [("DELETE", r) for r in stale])
            self.route53.delete_hosted_zone(Id=zone_id)

    def natural_id(self, provider_id: str) -> str:
        return _short_id(super().natural_id(provider_id))

    # -- parts ----------------------------------------------------------------------------

    @property
    def route53(self) -> Any:
        return self.client("route53")

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "zone" in fields:
            fields["zone"] = self._zone_name(spec)
        if "records" in fields:
            fields["records"] = self._desired_records(spec)
        if "private" in fields:
            fields["private"] = bool(fields["private"])
        return fields

    def _zone_name(self, spec: ResourceSpec) -> str:
        zone = str(spec.config.get("zone") or "").strip().rstrip(".").lower()
        if not zone:
            raise self.invalid(spec.name, "config needs `zone`, for example shop.example.com")
        return zone

    def _reference_prefix(self, name: str) -> str:
        return f"wfctl/{self.stack}/{name}/"[:96]

    def _find(self, zone: str, name: str) -> str | None:
        prefix = self._reference_prefix(name)
        params: dict[str, Any] = {"DNSName": zone}
        while True:
            page = self.route53.list_hosted_zones_by_name(**params)
            for candidate in page["HostedZones"]:
                if candidate["Name"].rstrip(".") != zone:
                    return None  # listed by name: past every zone of this name
                zone_id = _short_id(candidate["Id"])
                if candidate.get("CallerReference", "").startswith(prefix):
                    return zone_id
                if awstags.is_ours(self._tags(zone_id), self.stack, name):
                    return zone_id
            if not page.get("IsTruncated"):
                return None
            params = {"DNSName": page["NextDNSName"], "HostedZoneId": page["NextHostedZoneId"]}

    def _tags(self, zone_id: str) -> dict[str, str]:
        found = self.route53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)
        return awstags.tags_from_list(found["ResourceTagSet"].get("Tags"))

    def _records(self, zone_id: str, zone_name: str) -> list[Record]:
        records: list[Record] = []
        pages = self.route53.get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=zone_id
        )
        for page in pages:
            for item in page["ResourceRecordSets"]:
                if "AliasTarget" in item:
                    continue  # not declared by this driver's config shape
                records.append(
                    {
                        "name": item["Name"].rstrip(".").lower(),
                        "type": item["Type"],
                        "ttl": int(item.get("TTL", 300)),
                        "values": sorted(r["Value"] for r in item.get("ResourceRecords", [])),
                    }
                )
        return records

    def _desired_records(self, spec: ResourceSpec) -> list[Record]:
        zone = self._zone_name(spec)
        records: list[Record] = []
        for raw in spec.config.get("records") or []:
            if not isinstance(raw, dict) or not raw.get("type"):
                raise self.invalid(spec.name, f"record {raw!r} needs at least a type")
            name = str(raw.get("name", "@")).strip().rstrip(".").lower()
            if name in ("", "@"):
                name = zone
            elif name != zone and not name.endswith(f".{zone}"):
                name = f"{name}.{zone}"
            kind = str(raw["type"]).upper()
            values = raw.get("values") or ([raw["value"]] if raw.get("value") else [])
            if not values:
                raise self.invalid(spec.name, f"record {name} {kind} needs values")
            records.append(
                {
                    "name": name,
                    "type": kind,
                    "ttl": int(raw.get("ttl", 300)),
                    "values": sorted(_record_value(kind, str(v)) for v in values),
                }
            )
        return records

    def _converge(self, zone_id: str, spec: ResourceSpec) -> None:
        current = self._tags(zone_id)
        to_set, to_remove = awstags.tag_changes(current, self.tags_for(spec))
        if to_set or to_remove:
            params: dict[str, Any] = {"ResourceType": "hostedzone", "ResourceId": zone_id}
            if to_set:
                params["AddTags"] = awstags.tag_list(to_set)
            if to_remove:
                params["RemoveTagKeys"] = to_remove
            self.route53.change_tags_for_resource(**params)
        zone = self.route53.get_hosted_zone(Id=zone_id)["HostedZone"]
        if "comment" in spec.config and zone.get("Config", {}).get("Comment", "") != str(
            spec.config["comment"]
        ):
            self.route53.update_hosted_zone_comment(Id=zone_id, Comment=str(spec.config["comment"]))
        if "records" not in spec.config:
            return
        wanted = self._desired_records(spec)
        have = [r for r in self._records(zone_id, zone["Name"]) if not _managed(r, zone["Name"])]
        wanted_keys = {(r["name"], r["type"]) for r in wanted}
        changes = [("DELETE", r) for r in have if (r["name"], r["type"]) not in wanted_keys]
        changes += [("UPSERT", r) for r in wanted if r not in have]
        self._change(zone_id, changes)

    def _change(self, zone_id: str, changes: list[tuple[str, Record]]) -> None:
        if not changes:
            return
        batch = [
            {
                "Action": action,
                "ResourceRecordSet": {
                    "Name": record["name"],
                    "Type": record["type"],
                    "TTL": record["ttl"],
                    "ResourceRecords": [{"Value": v} for v in record["values"]],
                },
            }
            for action, record in changes
        ]
        change = self.route53.change_resource_record_sets(
            HostedZoneId=zone_id, ChangeBatch={"Changes": batch}
        )["ChangeInfo"]
        self.wait(
            lambda: self.route53.get_change(Id=change["Id"])["ChangeInfo"]["Status"] == "INSYNC"
            or None,
            f"DNS change {change['Id']} to be in sync",
        )


def _short_id(zone_id: str) -> str:
    return zone_id.rsplit("/", 1)[-1]


def _managed(record: Record, zone_name: str) -> bool:
    """The apex SOA and NS records Route53 makes and keeps itself."""
    return record["name"] == zone_name.rstrip(".").lower() and record["type"] in ("SOA", "NS")


def _record_value(kind: str, value: str) -> str:
    # Route53 stores TXT values quoted; accept them either way.
    if kind == "TXT" and not value.startswith('"'):
        return f'"{value}"'
    return value
