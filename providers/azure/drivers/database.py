"""infra.database: an Azure SQL logical server and one database on it
(Microsoft.Sql/servers and Microsoft.Sql/servers/databases)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from interfaces import ResourceSpec
from providers.azure.base import ArmDriver, dns_label

GIB = 1024**3
TIERS = {"GP": "GeneralPurpose", "BC": "BusinessCritical", "HS": "Hyperscale"}
SYSTEM_DATABASES = frozenset({"master"})


class DatabaseDriver(ArmDriver):
    """Config: admin_login and admin_object_id (the Entra ID user or group that administers
    the server: sign-in is Entra-only, so no password exists to leak), tenant_id (optional),
    database_name (default the resource name), instance_type (GP_Gen5_2..., from `size`),
    storage_gb (from `size`), public_access (default false), name (the server's, unique in
    Azure; default derived), location, tags.
    """

    resource_type = "infra.database"
    ARM_TYPE = "Microsoft.Sql/servers"
    API_VERSION = "2021-11-01"
    FORCE_NEW = frozenset({"location", "database_name"})
    UPDATABLE = frozenset(
        {"instance_type", "storage_gb", "public_access", "admin_login", "admin_object_id",
         "tags"}
    )  # fmt: skip
    OUTPUTS = frozenset({
        "admin_login", "admin_object_id", "arm_name", "database_id", "database_name", "fqdn", "id",
        "instance_type", "location", "public_access", "server_id", "storage_gb", "tags"
    })

    def arm_name(self, spec: ResourceSpec) -> str:
        if spec.config.get("name"):
            return str(spec.config["name"])
        return f"{dns_label(spec.name, 55)}-{self.unique_suffix(spec)}"

    def validate(self, spec: ResourceSpec) -> None:
        missing = [k for k in ("admin_login", "admin_object_id") if not spec.config.get(k)]
        if missing:
            raise self.invalid(
                spec.name,
                f"config needs {' and '.join(missing)} (the Entra ID administrator)",
            )

    def properties(self, spec: ResourceSpec) -> dict[str, Any]:
        config = spec.config
        administrator: dict[str, Any] = {
            "administratorType": "ActiveDirectory",
            "azureADOnlyAuthentication": True,
            "login": str(config["admin_login"]),
            "sid": str(config["admin_object_id"]),
            "principalType": str(config.get("admin_type", "Group")),
        }
        if config.get("tenant_id"):
            administrator["tenantId"] = str(config["tenant_id"])
        return {
            "properties": {
                "version": "12.0",
                "minimalTlsVersion": "1.2",
                "publicNetworkAccess": "Enabled" if config.get("public_access") else "Disabled",
                "administrators": administrator,
            }
        }

    def after_put(self, spec: ResourceSpec, resource_id: str) -> None:
        config = spec.config
        body: dict[str, Any] = {
            "location": self.location_of(spec),
            "tags": self.tags_for(spec),
            "sku": sku(str(config.get("instance_type", "GP_Gen5_2"))),
            "properties": {"maxSizeBytes": int(config.get("storage_gb", 32)) * GIB},
        }
        database_id = f"{resource_id}/databases/{self.database_name(spec)}"
        self.put(spec, database_id, body)

    def database_name(self, spec: ResourceSpec) -> str:
        return str(spec.config.get("database_name") or spec.name)

    def outputs(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        props = resource.get("properties") or {}
        admin = props.get("administrators") or {}
        databases = [
            d for d in self.arm.list_children(f"{resource.get('id')}/databases", self.API_VERSION)
            if d.get("name") not in SYSTEM_DATABASES
        ]  # fmt: skip
        database = databases[0] if databases else {}
        db_sku = database.get("sku") or {}
        db_props = database.get("properties") or {}
        return {
            **self.common_outputs(resource),
            "server_id": resource.get("id", ""),
            "fqdn": props.get("fullyQualifiedDomainName", ""),
            "public_access": props.get("publicNetworkAccess") == "Enabled",
            "admin_login": admin.get("login", ""),
            "admin_object_id": admin.get("sid", ""),
            "database_id": database.get("id", ""),
            "database_name": database.get("name", ""),
            "instance_type": instance_type(db_sku),
            "storage_gb": int(db_props.get("maxSizeBytes", 0)) // GIB,
        }


def sku(instance: str) -> dict[str, Any]:
    """ARM's sku for "GP_Gen5_2" (tier, family, vCores); other names (S0, Basic) as they are."""
    match = re.fullmatch(r"(GP|BC|HS)_(\w+?)_(\d+)", instance)
    if not match:
        return {"name": instance}
    edition, family, cores = match.groups()
    return {"name": f"{edition}_{family}", "tier": TIERS[edition], "family": family,
            "capacity": int(cores)}  # fmt: skip


def instance_type(found: Mapping[str, Any]) -> str:
    if found.get("capacity") and found.get("family"):
        return f"{found.get('name')}_{found['capacity']}"
    return str(found.get("name", ""))
