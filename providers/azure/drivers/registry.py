"""infra.registry: a container registry (Microsoft.ContainerRegistry/registries)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interfaces import ResourceSpec
from providers.azure.base import ArmDriver, alphanumeric

SKUS = ("Basic", "Standard", "Premium")


class RegistryDriver(ArmDriver):
    """Config: sku (Basic, Standard, Premium; default Basic), admin_user (default false),
    name (letters and digits, unique in Azure; default the resource name plus a stable
    suffix), location, tags."""

    resource_type = "infra.registry"
    ARM_TYPE = "Microsoft.ContainerRegistry/registries"
    API_VERSION = "2023-07-01"
    UPDATABLE = frozenset({"sku", "admin_user", "tags"})
    OUTPUTS = frozenset({
        "admin_user", "arm_name", "id", "location", "login_server", "registry_id", "sku", "tags"
    })

    def arm_name(self, spec: ResourceSpec) -> str:
        if spec.config.get("name"):
            return str(spec.config["name"])
        return f"{alphanumeric(spec.name)[:44]}{self.unique_suffix(spec)}"

    def validate(self, spec: ResourceSpec) -> None:
        if str(spec.config.get("sku", "Basic")).capitalize() not in SKUS:
            raise self.invalid(spec.name, f"sku must be one of {', '.join(SKUS)}")

    def properties(self, spec: ResourceSpec) -> dict[str, Any]:
        return {
            "sku": {"name": str(spec.config.get("sku", "Basic")).capitalize()},
            "properties": {"adminUserEnabled": bool(spec.config.get("admin_user", False))},
        }

    def outputs(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        props = resource.get("properties") or {}
        return {
            **self.common_outputs(resource),
            "registry_id": resource.get("id", ""),
            "login_server": props.get("loginServer", ""),
            "sku": (resource.get("sku") or {}).get("name", ""),
            "admin_user": bool(props.get("adminUserEnabled", False)),
        }
