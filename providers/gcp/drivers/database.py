"""infra.database: a Cloud SQL instance, through the Cloud SQL Admin API v1 (discovery REST).

No password is made or stored: PostgreSQL instances get IAM database authentication, so
nothing secret passes through the engine's state or Temporal history.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from interfaces.errors import NotFoundError, ProviderError
from providers.creation_journal import creation_token
from providers.gcp import labels as gcplabels
from providers.gcp.base import CONFLICT_CODES, GcpDriver

ENGINES = {"postgres": ("POSTGRES", "16"), "mysql": ("MYSQL", "8_0")}
IAM_FLAG = "cloudsql.iam_authentication"
DEFAULT_TIER = "db-f1-micro"
DEFAULT_STORAGE_GB = 10
# Enterprise Plus runs only the performance-optimized machine types; Enterprise runs the
# shared-core and custom ones. Cloud SQL picks the edition itself when none is sent (Enterprise
# Plus for PostgreSQL 16 and later), so it is always sent, derived from the tier.
EDITIONS = ("ENTERPRISE", "ENTERPRISE_PLUS")
PLUS_TIER_PREFIX = "db-perf-optimized-"
NAME_TRIES = 3  # names one create asks for before it reports them all reserved
STATES = {
    "RUNNABLE": ResourceStatus.READY,
    "PENDING_CREATE": ResourceStatus.CREATING,
    "MAINTENANCE": ResourceStatus.UPDATING,
    "FAILED": ResourceStatus.FAILED,
    "SUSPENDED": ResourceStatus.FAILED,
    "PENDING_DELETE": ResourceStatus.DELETING,
}


class DatabaseDriver(GcpDriver):
    """Config: engine (postgres default, or mysql), version ("16", "8_0"...), region (the
    provider's), instance_type (the tier, from sizing, else db-f1-micro), edition
    (ENTERPRISE, or ENTERPRISE_PLUS with a db-perf-optimized-* tier; derived from the tier
    when unset), storage_gb (from sizing, else 10), high_availability (false), backups
    (true), deletion_protection (false), public_ip (true), authorized_networks (CIDRs),
    database_flags (a mapping), labels.

    Engine, version and region need a new instance. Every create gets a name of its own
    (a digest of those three and the create's token): Cloud SQL may keep a deleted
    instance's name reserved, so a destroy then apply must not ask for the old one. The
    name is on record in the state from the moment the insert is accepted; an instance
    whose create died before that is found again by its labels. A name refused although no
    instance has it is passed over for the next (NAME_TRIES in all).
    """

    resource_type = "infra.database"
    FORCE_NEW = frozenset({"engine", "version", "region"})
    UPDATABLE = frozenset(
        {"instance_type", "edition", "storage_gb", "high_availability", "backups",
         "deletion_protection", "public_ip", "authorized_networks", "database_flags",
         "labels"}
    )  # fmt: skip
    OUTPUTS = frozenset({
        "authorized_networks", "backups", "connection_name", "database_flags",
        "deletion_protection", "edition", "engine", "high_availability", "instance",
        "instance_type", "ip_address", "labels", "private_ip", "public_ip", "region",
        "self_link", "state", "storage_gb", "version"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        found = self._labelled(spec) or self._made(spec)
        name = str(found["name"])
        labels = found.get("settings", {}).get("userLabels", {})
        if not gcplabels.is_ours(self.stack, spec.name, labels_found=labels):
            raise ProviderError(
                f"{self.describe(spec.name)}: Cloud SQL instance {name!r} already exists and "
                "is not this resource's (import it to manage it)",
                code="AlreadyExists",
            )
        self.made(name)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=name))

    def locate(self, spec: ResourceSpec) -> str:
        found = self._labelled(spec)
        return str(found["name"]) if found is not None else ""

    def read(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            instance = self._get(ref.provider_id)
        settings = instance.get("settings", {})
        engine, _, version = str(instance.get("databaseVersion", "")).partition("_")
        ip = settings.get("ipConfiguration", {})
        addresses = {a.get("type"): a.get("ipAddress") for a in instance.get("ipAddresses", [])}
        flags = {f["name"]: f.get("value", "") for f in settings.get("databaseFlags", [])}
        outputs: dict[str, Any] = {
            "instance": instance["name"],
            "connection_name": instance.get("connectionName", ""),
            "self_link": instance.get("selfLink", ""),
            "engine": engine.lower(),
            "version": version,
            "region": instance.get("region", ""),
            "instance_type": settings.get("tier", ""),
            "edition": settings.get("edition", ""),
            "storage_gb": int(settings.get("dataDiskSizeGb") or 0),
            "high_availability": settings.get("availabilityType") == "REGIONAL",
            "backups": bool(settings.get("backupConfiguration", {}).get("enabled")),
            "deletion_protection": bool(settings.get("deletionProtectionEnabled")),
            "public_ip": bool(ip.get("ipv4Enabled")),
            "authorized_networks": [n["value"] for n in ip.get("authorizedNetworks", [])],
            "database_flags": {k: v for k, v in flags.items() if k != IAM_FLAG},
            "labels": gcplabels.user_labels(settings.get("userLabels")),
            "ip_address": addresses.get("PRIMARY", ""),
            "private_ip": addresses.get("PRIVATE", ""),
            "state": instance.get("state", ""),
        }
        status = STATES.get(str(instance.get("state")), ResourceStatus.UNKNOWN)
        return self.output(ref.name, instance["name"], outputs, status)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        if self.updatable_changes(ref, spec):
            with self.errors(spec.name):
                operation = self.sql.instances().patch(
                    project=self.project,
                    instance=ref.provider_id,
                    body={"settings": self._settings(spec)},
                ).execute(num_retries=0)
            self.context.sql_operations.wait(operation, self.describe(spec.name))
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        try:
            with self.errors(ref.name):
                operation = self.sql.instances().delete(
                    project=self.project, instance=ref.provider_id
                ).execute(num_retries=0)
            self.context.sql_operations.wait(operation, self.describe(ref.name))
        except NotFoundError:
            pass

    # -- parts ----------------------------------------------------------------------------

    @property
    def sql(self) -> Any:
        return self.context.clients.sqladmin()

    def instance_name(self, spec: ResourceSpec, attempt: int = 0) -> str:
        """The name the `attempt`th try of this create asks for: the same in every retry of
        one create (the engine's creation token), new for the next create."""
        # Outside an engine create (no token) a fresh one: a retry finds it by its labels.
        token = creation_token() or uuid.uuid4().hex
        identity = "/".join((self._database_version(spec), self._region(spec), token))
        if attempt:
            identity += f"/{attempt}"
        digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
        return gcplabels.resource_name(self.stack, spec.name, digest, max_length=80)

    def _made(self, spec: ResourceSpec) -> dict[str, Any]:
        """The instance this create made (an earlier attempt's, or inserted now). A name that
        Cloud SQL refuses although no instance has it (a deleted instance's, still reserved)
        is passed over for the next one."""
        refused: list[str] = []
        for attempt in range(NAME_TRIES):
            name = self.instance_name(spec, attempt)
            found = self._find(spec, name)
            if found is None and self._insert(spec, name):
                with self.errors(spec.name):
                    found = self._get(name)
            if found is not None:
                return found
            refused.append(name)
        raise ProviderError(
            f"{self.describe(spec.name)}: Cloud SQL refuses the instance names "
            f"{', '.join(refused)} although no instance has them: the names of deleted "
            "instances can stay reserved for a while after deletion (up to a week); retry later",
            code="InstanceNameReserved",
        )

    def _insert(self, spec: ResourceSpec, name: str) -> bool:
        """Insert the instance and wait for it; False when Cloud SQL refuses the name and
        no instance has it."""
        body = {
            "name": name,
            "region": self._region(spec),
            "databaseVersion": self._database_version(spec),
            "settings": self._settings(spec),
        }
        try:
            with self.errors(spec.name):
                operation = self.sql.instances().insert(project=self.project, body=body)
                operation = operation.execute(num_retries=0)
            self.made(name)  # accepted: on record before the long wait
            self.context.sql_operations.wait(operation, self.describe(spec.name))
        except ProviderError as error:
            if error.code not in CONFLICT_CODES | {"instanceAlreadyExists"}:
                raise
            # Made meanwhile by an earlier attempt, or a name no instance has any more.
            return self._find(spec, name) is not None
        return True

    def _find(self, spec: ResourceSpec, name: str) -> dict[str, Any] | None:
        return self.find(spec.name, lambda: self._get(name))

    def _labelled(self, spec: ResourceSpec) -> dict[str, Any] | None:
        """Our instance for `spec` (its labels, version and region), if one exists and is
        not on its way out (a deleted instance is listed as PENDING_DELETE for a while)."""
        version, region = self._database_version(spec), self._region(spec)
        token = None
        with self.errors(spec.name):
            while True:
                page = self.sql.instances().list(
                    project=self.project, pageToken=token
                ).execute(num_retries=0)
                for instance in page.get("items", []):
                    found = instance.get("settings", {}).get("userLabels", {})
                    if (gcplabels.is_ours(self.stack, spec.name, labels_found=found)
                            and instance.get("databaseVersion") == version
                            and instance.get("region") == region
                            and instance.get("state") != "PENDING_DELETE"):  # fmt: skip
                        return dict(instance)
                token = page.get("nextPageToken")
                if not token:
                    return None

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        engine, version = self._engine(spec)
        fields.update(engine=engine.lower(), version=version, region=self._region(spec))
        if "edition" in fields:
            fields["edition"] = self._edition(spec)
        if "storage_gb" in fields:
            fields["storage_gb"] = int(fields["storage_gb"])
        return fields

    def _engine(self, spec: ResourceSpec) -> tuple[str, str]:
        engine = str(spec.config.get("engine") or "postgres").lower()
        if engine not in ENGINES:
            raise self.invalid(spec.name, f"engine {engine!r} is not one of {sorted(ENGINES)}")
        prefix, default_version = ENGINES[engine]
        version = str(spec.config.get("version") or default_version).replace(".", "_")
        return prefix, version

    def _database_version(self, spec: ResourceSpec) -> str:
        return "_".join(self._engine(spec))

    def _region(self, spec: ResourceSpec) -> str:
        return str(spec.config.get("region") or self.context.region)

    def _tier(self, spec: ResourceSpec) -> str:
        return str(spec.config.get("instance_type") or DEFAULT_TIER)

    def _edition(self, spec: ResourceSpec) -> str:
        tier = self._tier(spec)
        plus_tier = tier.startswith(PLUS_TIER_PREFIX)
        given = spec.config.get("edition")
        edition = str(given).upper() if given else EDITIONS[plus_tier]
        if edition not in EDITIONS:
            raise self.invalid(spec.name, f"edition {given!r} is not one of {list(EDITIONS)}")
        if (edition == "ENTERPRISE_PLUS") != plus_tier:
            raise self.invalid(
                spec.name,
                f"tier {tier!r} does not run on edition {edition}: ENTERPRISE_PLUS takes the "
                f"{PLUS_TIER_PREFIX}* tiers, ENTERPRISE the shared-core and custom ones",
            )
        return edition

    def _settings(self, spec: ResourceSpec) -> dict[str, Any]:
        config = spec.config
        flags = {str(k): str(v) for k, v in (config.get("database_flags") or {}).items()}
        if self._engine(spec)[0] == "POSTGRES":
            flags[IAM_FLAG] = "on"
        return {
            "tier": self._tier(spec),
            "edition": self._edition(spec),
            "dataDiskSizeGb": str(int(config.get("storage_gb") or DEFAULT_STORAGE_GB)),
            "availabilityType": "REGIONAL" if config.get("high_availability") else "ZONAL",
            "userLabels": self.labels_for(spec),
            "backupConfiguration": {"enabled": bool(config.get("backups", True))},
            "deletionProtectionEnabled": bool(config.get("deletion_protection", False)),
            "ipConfiguration": {
                "ipv4Enabled": bool(config.get("public_ip", True)),
                "authorizedNetworks": [
                    {"value": str(cidr)} for cidr in config.get("authorized_networks") or []
                ],
            },
            "databaseFlags": [{"name": k, "value": v} for k, v in sorted(flags.items())],
        }

    def _get(self, name: str) -> dict[str, Any]:
        instance: dict[str, Any] = (
            self.sql.instances().get(project=self.project, instance=name).execute(num_retries=0)
        )
        return instance
