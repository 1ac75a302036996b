"""infra.container_service: a container group (Microsoft.ContainerInstance/containerGroups)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from interfaces import ResourceSpec
from interfaces.errors import ConfigError
from providers.azure.base import ArmDriver, dns_label

_GB_PER_UNIT = {"mi": 1 / 1024, "m": 1 / 1024, "gi": 1.0, "g": 1.0, "": 1.0}


class ContainerServiceDriver(ArmDriver):
    """Config: image (required), container_port (default 80), cpu and memory (from `size`,
    or "0.5" and "1.5Gi"), env ({name: value}), public (a public IP, default true),
    identity_id (a user-assigned identity from infra.iam_role), location, tags.

    One container per group; an update replaces the group's containers in place.
    """

    resource_type = "infra.container_service"
    ARM_TYPE = "Microsoft.ContainerInstance/containerGroups"
    API_VERSION = "2023-05-01"
    UPDATABLE = frozenset(
        {"image", "container_port", "cpu", "memory", "env", "public", "identity_id", "tags"}
    )
    OUTPUTS = frozenset({
        "arm_name", "container_port", "cpu", "env", "group_id", "id", "identity_id", "image",
        "ip_address", "location", "memory", "public", "tags"
    })

    def arm_name(self, spec: ResourceSpec) -> str:
        return dns_label(str(spec.config.get("name") or spec.name))

    def validate(self, spec: ResourceSpec) -> None:
        if not spec.config.get("image"):
            raise self.invalid(spec.name, "config needs `image`")
        try:
            memory_gb(spec.config.get("memory", "1.5Gi"))
            float(spec.config.get("cpu", 1))
        except (ConfigError, ValueError) as error:
            raise self.invalid(spec.name, str(error)) from None

    def properties(self, spec: ResourceSpec) -> dict[str, Any]:
        config = spec.config
        port = int(config.get("container_port", 80))
        container = {
            "name": "main",
            "properties": {
                "image": str(config["image"]),
                "ports": [{"port": port, "protocol": "TCP"}],
                "resources": {
                    "requests": {
                        "cpu": float(config.get("cpu", 1)),
                        "memoryInGB": memory_gb(config.get("memory", "1.5Gi")),
                    }
                },
                "environmentVariables": [
                    {"name": str(k), "value": str(v)}
                    for k, v in sorted((config.get("env") or {}).items())
                ],
            },
        }
        body: dict[str, Any] = {
            "properties": {
                "osType": "Linux",
                "restartPolicy": "Always",
                "containers": [container],
            }
        }
        if config.get("public", True):
            body["properties"]["ipAddress"] = {
                "type": "Public",
                "ports": [{"port": port, "protocol": "TCP"}],
            }
        if config.get("identity_id"):
            body["identity"] = {
                "type": "UserAssigned",
                "userAssignedIdentities": {str(config["identity_id"]): {}},
            }
        return body

    def outputs(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        props = resource.get("properties") or {}
        containers = props.get("containers") or [{}]
        main = containers[0].get("properties") or {}
        requests = (main.get("resources") or {}).get("requests") or {}
        ports = main.get("ports") or [{}]
        address = props.get("ipAddress") or {}
        identities = (resource.get("identity") or {}).get("userAssignedIdentities") or {}
        return {
            **self.common_outputs(resource),
            "group_id": resource.get("id", ""),
            "image": main.get("image", ""),
            "container_port": ports[0].get("port", 0),
            "cpu": f"{float(requests.get('cpu', 0)):g}",
            "memory": f"{round(float(requests.get('memoryInGB', 0)) * 1024)}Mi",
            "env": {e.get("name"): e.get("value") for e in main.get("environmentVariables") or []},
            "public": address.get("type") == "Public",
            "ip_address": address.get("ip", ""),
            "identity_id": next(iter(identities), ""),
        }

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "cpu" in fields:
            fields["cpu"] = f"{float(fields['cpu']):g}"
        if "memory" in fields:
            fields["memory"] = f"{round(memory_gb(fields['memory']) * 1024)}Mi"
        if "env" in fields:
            fields["env"] = {str(k): str(v) for k, v in (fields["env"] or {}).items()}
        return fields


def memory_gb(quantity: Any) -> float:
    """GB for ACI from "512Mi", "1.5Gi", "2G" or a number of GB."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(quantity))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _GB_PER_UNIT:
        raise ConfigError(f"memory {quantity!r} is not a size like 512Mi or 1.5Gi")
    return round(float(match.group(1)) * _GB_PER_UNIT[unit], 2)
