"""infra.vpc: a virtual network with its subnets (Microsoft.Network/virtualNetworks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interfaces import ResourceSpec
from providers.azure.base import ArmDriver


class VpcDriver(ArmDriver):
    """Config: cidr (the address space, required), subnets (CIDRs, or {name, cidr}),
    location, tags. Subnets are part of the network's own body, so one PUT converges them."""

    resource_type = "infra.vpc"
    ARM_TYPE = "Microsoft.Network/virtualNetworks"
    API_VERSION = "2023-09-01"
    FORCE_NEW = frozenset({"cidr", "location"})
    UPDATABLE = frozenset({"subnets", "tags"})
    OUTPUTS = frozenset({
        "arm_name", "cidr", "id", "location", "subnet_ids", "subnet_names", "subnets", "tags",
        "vnet_id"
    })

    def validate(self, spec: ResourceSpec) -> None:
        if not spec.config.get("cidr"):
            raise self.invalid(spec.name, "config needs `cidr`, for example 10.0.0.0/16")
        self._subnets(spec)

    def properties(self, spec: ResourceSpec) -> dict[str, Any]:
        return {
            "properties": {
                "addressSpace": {"addressPrefixes": [str(spec.config["cidr"])]},
                "subnets": [
                    {"name": name, "properties": {"addressPrefix": cidr}}
                    for name, cidr in self._subnets(spec)
                ],
            }
        }

    def outputs(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        props = resource.get("properties") or {}
        prefixes = (props.get("addressSpace") or {}).get("addressPrefixes") or [""]
        subnets = sorted(
            props.get("subnets") or [],
            key=lambda s: (s.get("properties") or {}).get("addressPrefix", ""),
        )
        return {
            **self.common_outputs(resource),
            "vnet_id": resource.get("id", ""),
            "cidr": prefixes[0],
            "subnets": [(s.get("properties") or {}).get("addressPrefix", "") for s in subnets],
            "subnet_names": [s.get("name", "") for s in subnets],
            "subnet_ids": [s.get("id") or f"{resource.get('id')}/subnets/{s.get('name')}"
                           for s in subnets],  # fmt: skip
        }

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "subnets" in fields:
            fields["subnets"] = [cidr for _, cidr in self._subnets(spec)]
        return fields

    def _subnets(self, spec: ResourceSpec) -> list[tuple[str, str]]:
        result = []
        for item in spec.config.get("subnets") or []:
            if isinstance(item, str):
                result.append((_subnet_name(item), item))
            elif isinstance(item, Mapping) and item.get("cidr"):
                cidr = str(item["cidr"])
                result.append((str(item.get("name") or _subnet_name(cidr)), cidr))
            else:
                raise self.invalid(spec.name, f"subnet {item!r} needs a cidr")
        return result


def _subnet_name(cidr: str) -> str:
    return "subnet-" + cidr.replace(".", "-").replace("/", "-")
