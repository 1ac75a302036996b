"""infra.secret: a Key Vault of its own holding one secret, both through ARM.

One vault per secret keeps every call on the management API (a secret cannot be deleted
there, but its vault can) and makes a destroy remove exactly what the create made. A
deleted vault stays soft-deleted with its name reserved, so delete also purges it. The
value comes from the worker's environment (`value_env`) or is generated here (see
providers/secret_values.py); ARM never returns it, and neither do the outputs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from interfaces.errors import NotFoundError
from providers.azure.base import ArmDriver, dns_label
from providers.secret_values import (
    SourcedValue,
    ValueSource,
    source_from_label,
)

SECRET_TYPE = "Microsoft.KeyVault/vaults/secrets"
SOURCE_TAG = "wfctl-value-source"
SKUS = ("standard", "premium")
_VAULT_NAME = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$")
_SECRET_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
# The shortest retention Key Vault allows: the name is purged at delete anyway.
RETENTION_DAYS = 7


class SecretDriver(SourcedValue, ArmDriver):
    """Config: secret_name (default the resource name), vault_name (3-24 letters, digits and
    hyphens, unique in Azure; default from the stack and resource names plus a stable
    suffix), tenant_id (the Entra tenant the vault trusts; default AZURE_TENANT_ID on the
    worker), sku (standard or premium), value_env (a worker environment variable holding the
    value) or generate_length (16..4096, default 32: a generated value), location, tags.
    Access is by Azure RBAC (enableRbacAuthorization). A literal `value` is refused."""

    resource_type = "infra.secret"
    ARM_TYPE = "Microsoft.KeyVault/vaults"
    API_VERSION = "2023-07-01"
    FORCE_NEW = frozenset({"location", "vault_name", "secret_name", "tenant_id"})
    UPDATABLE = frozenset({"sku", "value_env", "generate_length", "tags"})
    OUTPUTS = frozenset({
        "arm_name", "generate_length", "id", "location", "secret_id", "secret_name",
        "secret_uri", "sku", "tags", "tenant_id", "value_env", "vault_name", "vault_uri",
    })  # fmt: skip

    def arm_name(self, spec: ResourceSpec) -> str:
        if spec.config.get("vault_name"):
            return str(spec.config["vault_name"])
        prefix = dns_label(f"{self.stack}-{spec.name}", 17).rstrip("-")
        return f"{prefix}-{self.unique_suffix(spec)}"

    def validate(self, spec: ResourceSpec) -> None:
        self._source(spec)
        if not _VAULT_NAME.match(self.arm_name(spec)):
            raise self.invalid(spec.name, f"vault_name {self.arm_name(spec)!r}: 3-24 letters, "
                               "digits and single hyphens, starting with a letter")  # fmt: skip
        if not _SECRET_NAME.match(self.secret_name(spec)):
            raise self.invalid(spec.name, f"secret_name {self.secret_name(spec)!r}: 1-127 "
                               "letters, digits and hyphens")  # fmt: skip
        if str(spec.config.get("sku", "standard")).lower() not in SKUS:
            raise self.invalid(spec.name, f"sku must be one of {', '.join(SKUS)}")
        if not self._tenant(spec):
            raise self.invalid(spec.name, "a vault needs tenant_id (or AZURE_TENANT_ID set on "
                               "the worker): the Entra tenant that signs in to it")  # fmt: skip

    def properties(self, spec: ResourceSpec) -> dict[str, Any]:
        return {
            "properties": {
                "tenantId": self._tenant(spec),
                "sku": {"family": "A", "name": str(spec.config.get("sku", "standard")).lower()},
                "enableRbacAuthorization": True,
                "softDeleteRetentionInDays": RETENTION_DAYS,
            }
        }

    def outputs(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        props = resource.get("properties") or {}
        secret = self._secret(str(resource.get("id", ""))) or {}
        source = source_from_label((secret.get("tags") or {}).get(SOURCE_TAG))
        return {
            **self.common_outputs(resource),
            "vault_name": resource.get("name", ""),
            "vault_uri": props.get("vaultUri", ""),
            "tenant_id": props.get("tenantId", ""),
            "sku": (props.get("sku") or {}).get("name", ""),
            "secret_name": secret.get("name", ""),
            "secret_id": secret.get("id", ""),
            "secret_uri": (secret.get("properties") or {}).get("secretUri", ""),
            **source.fields(),
        }

    # -- the secret inside the vault --------------------------------------------------------

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        created = super().create(spec)  # the vault, adopted when a retry finds it
        source = self._source(spec)
        secret = self._secret(created.provider_id)
        recorded = ((secret or {}).get("tags") or {}).get(SOURCE_TAG)
        # A retry adopting the first attempt's secret keeps a generated value it holds.
        if secret is None or recorded != source.label() or source.env:
            self._write(spec, created.provider_id, source)
            return self.read(ResourceRef(name=spec.name, type=spec.type,
                                         provider_id=created.provider_id))  # fmt: skip
        return created

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        changes = self.updatable_changes(ref, spec)
        updated = super().update(ref, spec)
        if {"value_env", "generate_length"} & set(changes):
            self._write(spec, ref.provider_id, self._source(spec))
            return self.read(ref)
        return updated

    def delete(self, ref: ResourceRef) -> None:
        with self.errors(ref.name):
            vault = self.arm.find(ref.provider_id, self.API_VERSION)
        location = str((vault or {}).get("location") or self.context.location)
        super().delete(ref)
        # Soft-deleted, the name would stay taken (for a new apply too) for the retention.
        name = ref.provider_id.rstrip("/").rsplit("/", 1)[-1]
        purge = (
            f"/subscriptions/{self.context.subscription_id}/providers/Microsoft.KeyVault/"
            f"locations/{location}/deletedVaults/{name}/purge"
        )
        try:
            with self.errors(ref.name):
                self.arm.post(purge, self.API_VERSION)
        except NotFoundError:
            pass  # purged already (a retried delete) or never deleted

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        fields.update(self._source(spec).fields())
        for key, value in (("vault_name", self.arm_name(spec)),
                           ("secret_name", self.secret_name(spec))):  # fmt: skip
            if key in fields:
                fields[key] = value
        # Written at create even when left out: a vault moved to another sku is drift.
        fields["sku"] = str(spec.config.get("sku") or "standard").lower()
        return fields

    def secret_name(self, spec: ResourceSpec) -> str:
        return str(spec.config.get("secret_name") or spec.name.replace("_", "-"))

    def _tenant(self, spec: ResourceSpec) -> str:
        return str(spec.config.get("tenant_id") or os.environ.get("AZURE_TENANT_ID") or "")

    def _secret(self, vault_id: str) -> dict[str, Any] | None:
        """The vault's one secret (None before it is written)."""
        if not vault_id:
            return None
        with self.errors(vault_id):
            found = self.arm.list_children(f"{vault_id}/secrets", self.API_VERSION)
        ours = [s for s in found if SOURCE_TAG in (s.get("tags") or {})]
        return (ours or found or [None])[0]

    def _write(self, spec: ResourceSpec, vault_id: str, source: ValueSource) -> None:
        secret_id = f"{vault_id}/secrets/{self.secret_name(spec)}"
        body = {
            "tags": {SOURCE_TAG: source.label()},
            "properties": {"value": source.value(self.describe(spec.name))},
        }
        with self.errors(spec.name):
            self.arm.put(secret_id, self.API_VERSION, body, self.describe(spec.name))
