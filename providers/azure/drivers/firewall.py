"""infra.firewall: a network security group (Microsoft.Network/networkSecurityGroups)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interfaces import ResourceSpec
from providers.azure.base import ArmDriver

PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "icmp": "Icmp", "*": "*", "all": "*", "-1": "*"}
FIRST_PRIORITY = 100


class FirewallDriver(ArmDriver):
    """Config: ingress and egress, lists of {port (or "from-to"), cidr, protocol}; tags.

    Each entry becomes an Allow rule; priorities follow list order from 100 in steps of 10.
    A cidr of 0.0.0.0/0 is ARM's "*".
    """

    resource_type = "infra.firewall"
    ARM_TYPE = "Microsoft.Network/networkSecurityGroups"
    API_VERSION = "2023-09-01"
    UPDATABLE = frozenset({"ingress", "egress", "tags"})
    OUTPUTS = frozenset({
        "arm_name", "egress", "id", "ingress", "location", "security_group_id", "tags"
    })

    def validate(self, spec: ResourceSpec) -> None:
        for direction in ("ingress", "egress"):
            for rule in spec.config.get(direction) or []:
                if not isinstance(rule, Mapping) or "port" not in rule:
                    raise self.invalid(spec.name, f"{direction} rule {rule!r} needs a port")
                if str(rule.get("protocol", "tcp")).lower() not in PROTOCOLS:
                    raise self.invalid(spec.name, f"protocol of {rule!r} is not tcp/udp/icmp/*")

    def properties(self, spec: ResourceSpec) -> dict[str, Any]:
        rules = []
        for direction, arm_direction, prefix in (("ingress", "Inbound", "in"),
                                                 ("egress", "Outbound", "out")):  # fmt: skip
            for index, rule in enumerate(_rules(spec.config.get(direction))):
                remote = rule["cidr"]
                rules.append(
                    {
                        "name": f"{prefix}-{index}",
                        "properties": {
                            "priority": FIRST_PRIORITY + 10 * index,
                            "direction": arm_direction,
                            "access": "Allow",
                            "protocol": rule["protocol"],
                            "sourceAddressPrefix": remote if prefix == "in" else "*",
                            "sourcePortRange": "*",
                            "destinationAddressPrefix": remote if prefix == "out" else "*",
                            "destinationPortRange": rule["port"],
                        },
                    }
                )
        return {"properties": {"securityRules": rules}}

    def outputs(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        found: dict[str, list[dict[str, str]]] = {"Inbound": [], "Outbound": []}
        rules = (resource.get("properties") or {}).get("securityRules") or []
        for rule in sorted(rules, key=lambda r: (r.get("properties") or {}).get("priority", 0)):
            props = rule.get("properties") or {}
            if props.get("access", "Allow") != "Allow":
                continue
            inbound = props.get("direction") == "Inbound"
            remote = props.get("sourceAddressPrefix" if inbound else "destinationAddressPrefix")
            found["Inbound" if inbound else "Outbound"].append(
                {
                    "port": str(props.get("destinationPortRange", "*")),
                    "cidr": str(remote or "*"),
                    "protocol": str(props.get("protocol", "*")),
                }
            )
        return {
            **self.common_outputs(resource),
            "security_group_id": resource.get("id", ""),
            "ingress": found["Inbound"],
            "egress": found["Outbound"],
        }

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        for direction in ("ingress", "egress"):
            if direction in fields:
                fields[direction] = _rules(fields[direction])
        return fields


def _rules(items: Any) -> list[dict[str, str]]:
    rules = []
    for rule in items or []:
        cidr = str(rule.get("cidr") or "*")
        rules.append(
            {
                "port": str(rule["port"]),
                "cidr": "*" if cidr in ("0.0.0.0/0", "any") else cidr,
                "protocol": PROTOCOLS.get(str(rule.get("protocol", "tcp")).lower(), "Tcp"),
            }
        )
    return rules
