"""infra.cache: Azure Cache for Redis (Microsoft.Cache/redis)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from interfaces import ResourceSpec
from providers.azure.base import ArmDriver, dns_label

TIERS = ("Basic", "Standard")


class CacheDriver(ArmDriver):
    """Config: instance_type (C0..C6, from `size`), tier (Basic or Standard, default
    Standard: a replica), redis_version (default 6), name (unique in Azure; default derived),
    location, tags. TLS only (1.2), the non-TLS port stays closed."""

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

    def properties(self, spec: ResourceSpec) -> dict[str, Any]:
        instance = str(spec.config.get("instance_type", "C1")).upper()
        return {
            "properties": {
                # Redis keeps its sku inside properties, unlike most resource types.
                "sku": {
                    "name": str(spec.config.get("tier", "Standard")).capitalize(),
                    "family": "C",
                    "capacity": int(instance[1:]),
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
