"""infra.database: an Azure SQL logical server and one database on it
(Microsoft.Sql/servers and Microsoft.Sql/servers/databases)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from providers.azure.base import ArmDriver, dns_label

GIB = 1024**3
TIERS = {"GP": "GeneralPurpose", "BC": "BusinessCritical", "HS": "Hyperscale"}
SYSTEM_DATABASES = frozenset({"master"})
# The vCore counts Azure SQL sells for a General Purpose single database on standard-series
# (Gen5) hardware: provisioned compute starts at 2 vCores, serverless (GP_S_) at 1 and stops
# at 80. Other tiers and hardware families are passed to ARM as they are, to judge.
PROVISIONED_VCORES = frozenset({2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 24, 32, 40, 80, 128})
SERVERLESS_VCORES = PROVISIONED_VCORES - {128} | {1}
# "GP_Gen5_2", "GP_S_Gen5_1", "HS_S_Gen5_4", "BC_DC_8": tier, serverless, family, vCores.
VCORE_OBJECTIVE = re.compile(r"(GP|BC|HS)_(S_)?([A-Za-z0-9]+)_(\d+)")
# Serverless defaults: the smallest minimum the two small tiers allow, and pause after an
# idle hour (General Purpose accepts 15 minutes to 7 days, or -1 for never; only it pauses).
SERVERLESS_MIN_CAPACITY = 0.5
SERVERLESS_AUTO_PAUSE_MINUTES = 60


class DatabaseDriver(ArmDriver):
    """Config: admin_login and admin_object_id (the Entra ID user or group that administers
    the server: sign-in is Entra-only, so no password exists to leak), tenant_id (optional),
    database_name (default the resource name), instance_type (GP_S_Gen5_1, GP_Gen5_2...,
    from `size`; serverless GP_S_ ones take min_capacity, default 0.5 vCores, and
    auto_pause_minutes, default 60), storage_gb (from `size`), public_access (default false),
    name (the server's, unique in Azure; default derived), location, tags.

    The server's `administrators` block counts only when the server is created: Azure ignores
    it on update, so an update changes the administrator through the server's own
    administrators/ActiveDirectory and azureADOnlyAuthentications/Default endpoints.
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
        problem = sku_problem(str(spec.config.get("instance_type", "GP_Gen5_2")))
        if problem:
            raise self.invalid(spec.name, problem)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        self.validate(spec)
        with self.errors(spec.name):
            body = self.body(spec)
            del body["properties"]["administrators"]  # ignored by Azure on update
            self.put(spec, ref.provider_id, body)
            self.put(spec, f"{ref.provider_id}/administrators/ActiveDirectory",
                     {"properties": self.administrator(spec)})  # fmt: skip
            self.put(spec, f"{ref.provider_id}/azureADOnlyAuthentications/Default",
                     {"properties": {"azureADOnlyAuthentication": True}})  # fmt: skip
            self.after_put(spec, ref.provider_id)
        return self.read(ref)

    def administrator(self, spec: ResourceSpec) -> dict[str, Any]:
        """The Entra ID administrator as the administrators/ActiveDirectory endpoint takes it."""
        config = spec.config
        administrator: dict[str, Any] = {
            "administratorType": "ActiveDirectory",
            "login": str(config["admin_login"]),
            "sid": str(config["admin_object_id"]),
        }
        if config.get("tenant_id"):
            administrator["tenantId"] = str(config["tenant_id"])
        return administrator

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
        database_sku = sku(str(config.get("instance_type", "GP_Gen5_2")))
        properties: dict[str, Any] = {"maxSizeBytes": int(config.get("storage_gb", 32)) * GIB}
        if "_S_" in database_sku["name"]:
            properties["minCapacity"] = float(
                config.get("min_capacity", SERVERLESS_MIN_CAPACITY)
            )
        if database_sku["name"].startswith("GP_S_"):
            properties["autoPauseDelay"] = int(
                config.get("auto_pause_minutes", SERVERLESS_AUTO_PAUSE_MINUTES)
            )
        body: dict[str, Any] = {
            "location": self.location_of(spec),
            "tags": self.tags_for(spec),
            "sku": database_sku,
            "properties": properties,
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
    """ARM's sku for "GP_Gen5_2" or "GP_S_Gen5_1" (tier, family, vCores); DTU objectives
    (S0, Basic) and other names as they are."""
    match = VCORE_OBJECTIVE.fullmatch(instance)
    if not match:
        return {"name": instance}
    edition, serverless, family, cores = match.groups()
    return {"name": f"{edition}_{serverless or ''}{family}", "tier": TIERS[edition],
            "family": family, "capacity": int(cores)}  # fmt: skip


def sku_problem(instance: str) -> str | None:
    """Why Azure SQL would refuse this vCore service objective for a single database, when the
    rule is one this driver knows (General Purpose Gen5 counts; no Business Critical
    serverless); anything else is left to ARM."""
    match = VCORE_OBJECTIVE.fullmatch(instance)
    if not match:
        return None
    edition, serverless, family, cores = match.groups()
    if serverless and edition == "BC":
        return (
            f"instance_type {instance!r}: serverless compute is General Purpose or Hyperscale"
        )
    if edition != "GP" or family != "Gen5":
        return None
    allowed = SERVERLESS_VCORES if serverless else PROVISIONED_VCORES
    if int(cores) not in allowed:
        kind = "serverless" if serverless else "provisioned"
        return (
            f"instance_type {instance!r}: {kind} {TIERS[edition]} sells "
            f"{', '.join(str(n) for n in sorted(allowed))} vCores"
            + ("" if serverless else " (1 vCore is serverless: GP_S_Gen5_1)")
        )
    return None


def instance_type(found: Mapping[str, Any]) -> str:
    if found.get("capacity") and found.get("family"):
        return f"{found.get('name')}_{found['capacity']}"
    return str(found.get("name", ""))
