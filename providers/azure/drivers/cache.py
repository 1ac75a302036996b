"""infra.cache: Azure Cache for Redis (Microsoft.Cache/redis)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from providers.azure.base import ArmDriver, dns_label

TIERS = ("Basic", "Standard")  # in the order Azure lets a cache move: up only


class CacheDriver(ArmDriver):
    """Config: instance_type (C0..C6, from `size`), tier (Basic or Standard, default
    Standard: a replica), redis_version (default 6), name (unique in Azure; default derived),
    location, tags. TLS only (1.2), the non-TLS port stays closed.

    Updates are PATCHes (a PUT re-creates the cache's configuration). Azure scales a cache up
    or down within its tier and from Basic up to Standard, but never Standard down to Basic
    nor any size down to C0: those replace the cache. Basic to Standard cannot change the
    size in the same operation, so that update is two PATCHes.
    """

    resource_type = "infra.cache"
    ARM_TYPE = "Microsoft.Cache/redis"
    API_VERSION = "2023-08-01"
    UPDATABLE = frozenset({"instance_type", "tier", "tags"})
    OUTPUTS = frozenset({
        "arm_name", "cache_id", "host_name", "id", "instance_type", "location", "port",
        "redis_version", "tags", "tier"
    })

    def arm_name(self, spec: ResourceSpec) -> str:
        if spec.config.get("name"):
            return str(spec.config["name"])
        return f"{dns_label(spec.name, 55)}-{self.unique_suffix(spec)}"

    def validate(self, spec: ResourceSpec) -> None:
        if not re.fullmatch(r"C[0-6]", str(spec.config.get("instance_type", "C1")).upper()):
            raise self.invalid(spec.name, "instance_type must be C0..C6 (or give a size)")
        if str(spec.config.get("tier", "Standard")).capitalize() not in TIERS:
            raise self.invalid(spec.name, f"tier must be one of {', '.join(TIERS)}")

    def forces_new(self, key: str, desired: Any, actual: Any) -> bool:
        if key == "tier":
            return tier_rank(desired) < tier_rank(actual)
        if key == "instance_type":
            return capacity(desired) == 0 and capacity(actual) > 0
        return super().forces_new(key, desired, actual)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        self.validate(spec)
        body = self.body(spec)
        del body["location"]  # not a member a PATCH may carry
        what = self.describe(spec.name)
        with self.errors(spec.name):
            live = self.arm.get(ref.provider_id, self.API_VERSION).get("properties") or {}
            live_sku = live.get("sku") or {}
            wanted = body["properties"]["sku"]
            if live_sku.get("name") != wanted["name"] and wanted["capacity"] != live_sku.get(
                "capacity"
            ):
                # Basic -> Standard keeps the size; the new size follows in a second PATCH.
                first = {"properties": {"sku": {**wanted, "capacity": live_sku.get("capacity")}}}
                self.arm.patch(ref.provider_id, self.API_VERSION, first, what)
            self.arm.patch(ref.provider_id, self.API_VERSION, body, what)
        return self.read(ref)

    def properties(self, spec: ResourceSpec) -> dict[str, Any]:
        instance = str(spec.config.get("instance_type", "C1")).upper()
        return {
            "properties": {
                # Redis keeps its sku inside properties, unlike most resource types.
                "sku": {
                    "name": str(spec.config.get("tier", "Standard")).capitalize(),
                    "family": "C",
                    "capacity": capacity(instance),
                },
                "enableNonSslPort": False,
                "minimumTlsVersion": "1.2",
                "redisVersion": str(spec.config.get("redis_version", "6")),
            }
        }

    def outputs(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        props = resource.get("properties") or {}
        sku = props.get("sku") or {}
        return {
            **self.common_outputs(resource),
            "cache_id": resource.get("id", ""),
            "host_name": props.get("hostName", ""),
            "port": props.get("sslPort", 6380),
            "instance_type": f"{sku.get('family', 'C')}{sku.get('capacity', '')}",
            "tier": sku.get("name", ""),
            "redis_version": str(props.get("redisVersion", "")),
        }


def tier_rank(tier: Any) -> int:
    name = str(tier).capitalize()
    return TIERS.index(name) if name in TIERS else len(TIERS)


def capacity(instance_type: Any) -> int:
    """5 for "C5"; -1 when it is no C size (validate reports those)."""
    match = re.fullmatch(r"C(\d)", str(instance_type).upper())
    return int(match.group(1)) if match else -1
