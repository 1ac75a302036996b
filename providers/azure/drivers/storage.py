"""infra.storage: a storage account (Microsoft.Storage/storageAccounts)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interfaces import ResourceSpec
from providers.azure.base import ArmDriver, alphanumeric

TIERS = ("Hot", "Cool", "Cold")


class StorageDriver(ArmDriver):
    """Config: sku (replication, default Standard_LRS), access_tier (Hot, Cool, Cold),
    public_access (anonymous blob reads, default false), kind (default StorageV2),
    name (3-24 lowercase letters and digits, unique in Azure; default derived), tags.

    Https only and TLS 1.2 always.
    """

    resource_type = "infra.storage"
    ARM_TYPE = "Microsoft.Storage/storageAccounts"
    API_VERSION = "2023-01-01"
    FORCE_NEW = frozenset({"location", "kind"})
    UPDATABLE = frozenset({"sku", "access_tier", "public_access", "tags"})
    OUTPUTS = frozenset({
        "access_tier", "account_id", "account_name", "arm_name", "blob_endpoint", "id", "kind",
        "location", "public_access", "sku", "tags"
    })

    def arm_name(self, spec: ResourceSpec) -> str:
        if spec.config.get("name"):
            return str(spec.config["name"])
        return f"{alphanumeric(spec.name)[:18]}{self.unique_suffix(spec)}"

    def validate(self, spec: ResourceSpec) -> None:
        name = self.arm_name(spec)
        if not (3 <= len(name) <= 24 and name.isalnum() and name == name.lower()):
            raise self.invalid(spec.name, f"name {name!r}: 3-24 lowercase letters and digits")
        if str(spec.config.get("access_tier", "Hot")).capitalize() not in TIERS:
            raise self.invalid(spec.name, f"access_tier must be one of {', '.join(TIERS)}")

    def properties(self, spec: ResourceSpec) -> dict[str, Any]:
        return {
            "kind": str(spec.config.get("kind", "StorageV2")),
            "sku": {"name": str(spec.config.get("sku", "Standard_LRS"))},
            "properties": {
                "accessTier": str(spec.config.get("access_tier", "Hot")).capitalize(),
                "allowBlobPublicAccess": bool(spec.config.get("public_access", False)),
                "supportsHttpsTrafficOnly": True,
                "minimumTlsVersion": "TLS1_2",
            },
        }

    def outputs(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        props = resource.get("properties") or {}
        return {
            **self.common_outputs(resource),
            "account_id": resource.get("id", ""),
            "account_name": resource.get("name", ""),
            "blob_endpoint": (props.get("primaryEndpoints") or {}).get("blob", ""),
            "kind": resource.get("kind", ""),
            "sku": (resource.get("sku") or {}).get("name", ""),
            "access_tier": props.get("accessTier", ""),
            "public_access": bool(props.get("allowBlobPublicAccess", False)),
        }
