"""infra.container_service: a container group (Microsoft.ContainerInstance/containerGroups)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from interfaces import ResourceSpec
from interfaces.errors import ConfigError
from providers.azure.base import ArmDriver, dns_label

_GB_PER_UNIT = {"mi": 1 / 1024, "m": 1 / 1024, "gi": 1.0, "g": 1.0, "": 1.0}
OS_TYPES = ("Linux", "Windows")
RESTART_POLICIES = ("Always", "OnFailure", "Never")
REGISTRY_API_VERSION = "2023-07-01"  # infra.registry's, for listCredentials
ACR_SUFFIX = ".azurecr.io"


class ContainerServiceDriver(ArmDriver):
    """Config: image (required), container_port (default 80), cpu and memory (from `size`,
    or "0.5" and "1.5Gi"), env ({name: value}), public (a public IP, default true),
    os_type (Linux or Windows, default Linux), restart_policy (Always, OnFailure, Never;
    default Always), identity_id (a user-assigned identity from infra.iam_role), registry_id
    (an infra.registry's, to pull a private image), location, tags.

    A private image (an Azure Container Registry's `*.azurecr.io/...`) is pulled with the
    group's identity (identity_id, which needs AcrPull on the registry) or, without one, with
    the registry's admin credentials (registry_id, admin_user on), which the activity asks the
    registry for at each PUT: they never pass through a workflow's history.

    One container per group. ARM cannot change cpu, memory, OS type, restart policy or the
    network side (public IP or not) of a live group: those replace it; the image, port,
    environment and identity change in place (the containers restart).
    """

    resource_type = "infra.container_service"
    ARM_TYPE = "Microsoft.ContainerInstance/containerGroups"
    API_VERSION = "2023-05-01"
    FORCE_NEW = frozenset({"location", "cpu", "memory", "public", "os_type", "restart_policy"})
    UPDATABLE = frozenset({"image", "container_port", "env", "identity_id", "tags"})
    OUTPUTS = frozenset({
        "arm_name", "container_port", "cpu", "env", "group_id", "id", "identity_id", "image",
        "ip_address", "location", "memory", "os_type", "public", "registry_server",
        "restart_policy", "tags"
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
        for key, allowed in (("os_type", OS_TYPES), ("restart_policy", RESTART_POLICIES)):
            value = spec.config.get(key)
            if value is not None and str(value) not in allowed:
                raise self.invalid(spec.name, f"{key} must be one of {', '.join(allowed)}")
        host = registry_host(str(spec.config["image"]))
        if host.endswith(ACR_SUFFIX) and not (
            spec.config.get("identity_id") or spec.config.get("registry_id")
        ):
            raise self.invalid(
                spec.name,
                f"image {spec.config['image']!r} is in a private registry ({host}): give "
                "identity_id (an identity with AcrPull on it) or registry_id (admin_user on)",
            )

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
                "osType": str(config.get("os_type", "Linux")),
                "restartPolicy": str(config.get("restart_policy", "Always")),
                "containers": [container],
            }
        }
        credential = self.registry_credential(spec)
        if credential:
            body["properties"]["imageRegistryCredentials"] = [credential]
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

    def registry_credential(self, spec: ResourceSpec) -> dict[str, Any] | None:
        """How ACI signs in to the image's registry: the group's identity, or the registry's
        admin user read from the registry now (inside the activity, never in its input)."""
        config = spec.config
        host = registry_host(str(config["image"]))
        if config.get("registry_id"):
            registry = self.arm.get(str(config["registry_id"]), REGISTRY_API_VERSION)
            server = str((registry.get("properties") or {}).get("loginServer") or host).lower()
            if host and host != server:
                raise self.invalid(
                    spec.name, f"image {config['image']!r} is not in registry_id's {server}"
                )
            host = server
        elif not host.endswith(ACR_SUFFIX):
            return None
        if config.get("identity_id"):
            return {"server": host, "identity": str(config["identity_id"])}
        found = self.arm.post(f"{config['registry_id']}/listCredentials", REGISTRY_API_VERSION)
        passwords = found.get("passwords") or []
        if not found.get("username") or not passwords:
            raise self.invalid(
                spec.name, f"registry {host} has no admin user: set admin_user or identity_id"
            )
        return {"server": host, "username": found["username"], "password": passwords[0]["value"]}

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
            "os_type": props.get("osType", ""),
            "restart_policy": props.get("restartPolicy", ""),
            "registry_server": next(
                (c.get("server", "") for c in props.get("imageRegistryCredentials") or []), ""
            ),
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


def registry_host(image: str) -> str:
    """The registry part of an image reference ("" for Docker Hub's short names)."""
    first, _, rest = image.partition("/")
    return first.lower() if rest and ("." in first or ":" in first) else ""


def memory_gb(quantity: Any) -> float:
    """GB for ACI from "512Mi", "1.5Gi", "2G" or a number of GB."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(quantity))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _GB_PER_UNIT:
        raise ConfigError(f"memory {quantity!r} is not a size like 512Mi or 1.5Gi")
    return round(float(match.group(1)) * _GB_PER_UNIT[unit], 2)
