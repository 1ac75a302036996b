"""Key Vault for the ARM fake: vaults and their secrets, with the service's rules.

Beyond the azure-mgmt-keyvault models (which the fake checks every PUT against), Key Vault
holds: vault names of 3-24 letters, digits and single hyphens, starting with a letter, unique
in all of Azure; a deleted vault stays soft-deleted, its name reserved (409) until it is
purged (POST .../locations/{location}/deletedVaults/{name}/purge); a retention of 7-90 days;
secret names of 1-127 letters, digits and hyphens; a secret's value is written, never read
back by the management API, and each write makes a new version.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

VAULT = "microsoft.keyvault/vaults"
SECRET = "microsoft.keyvault/vaults/secrets"
VAULT_NAME = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$")
SECRET_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
PURGE = re.compile(
    r"^/subscriptions/[^/]+/providers/microsoft\.keyvault/locations/(?P<location>[^/]+)/"
    r"deletedvaults/(?P<name>[^/]+)/purge$"
)

Refusal = tuple[int, str, str]


class KeyVaults:
    """The vaults deleted but not purged, by lowercase name -> location."""

    def __init__(self) -> None:
        self.deleted: dict[str, str] = {}

    def refusal(
        self, kind: str, name: str, body: dict[str, Any], live: list[dict[str, Any]],
        resource_id: str,
    ) -> Refusal | None:  # fmt: skip
        """Why a PUT of `kind` is refused; `live` are the vaults that exist anywhere."""
        if kind == VAULT:
            if not VAULT_NAME.match(name):
                return (400, "VaultNameNotValid", f"The vault name '{name}' is invalid: 3-24 "
                        "letters, digits and single hyphens, starting with a letter")  # fmt: skip
            if name.lower() in self.deleted:
                return (409, "ConflictError", f"A vault with the name '{name}' already exists "
                        "in deleted state. You need to either recover or purge existing key "
                        "vault.")  # fmt: skip
            if any(v["name"].lower() == name.lower() and v["id"].lower() != resource_id.lower()
                   for v in live):  # fmt: skip
                return (409, "VaultAlreadyExists", f"The vault name '{name}' is already in use.")
            days = (body.get("properties") or {}).get("softDeleteRetentionInDays", 90)
            if not isinstance(days, int) or not 7 <= days <= 90:
                return (400, "BadRequest", "softDeleteRetentionInDays must be 7..90")
        elif kind == SECRET and not SECRET_NAME.match(name):
            return (400, "BadRequest", f"The secret name '{name}' is invalid: 1-127 letters, "
                    "digits and hyphens")  # fmt: skip
        return None

    def effects(self, kind: str, resource: dict[str, Any], vault: dict[str, Any] | None) -> None:
        """What Key Vault does with an accepted PUT: URIs, versions, the value kept back."""
        props = resource.setdefault("properties", {})
        if kind == VAULT:
            props["vaultUri"] = f"https://{resource['name']}.vault.azure.net/"
        elif kind == SECRET:
            props.pop("value", None)  # write-only through the management API
            base = ((vault or {}).get("properties") or {}).get("vaultUri", "")
            props["secretUri"] = f"{base}secrets/{resource['name']}"
            props["secretUriWithVersion"] = f"{props['secretUri']}/{uuid.uuid4().hex}"

    def deleted_vault(self, resource: dict[str, Any]) -> None:
        self.deleted[resource["name"].lower()] = str(resource.get("location", ""))

    def purge(self, path: str) -> Refusal | None:
        """None when purged; else the error a purge of something not deleted gets."""
        match = PURGE.match(path.lower())
        if match is None:
            return (404, "NotFound", f"no route for {path}")
        if self.deleted.get(match["name"]) is None:
            return (404, "ResourceNotFound", f"deleted vault '{match['name']}' not found")
        del self.deleted[match["name"]]
        return None
