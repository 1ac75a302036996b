"""infra.iam_role: a user-assigned managed identity
(Microsoft.ManagedIdentity/userAssignedIdentities); grant it roles where it is used."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interfaces import ResourceSpec
from providers.azure.base import ArmDriver


class IamRoleDriver(ArmDriver):
    """Config: location, tags. Outputs the principal and client ids to grant roles to."""

    resource_type = "infra.iam_role"
    OUTPUTS = frozenset({
        "arm_name", "client_id", "id", "identity_id", "location", "principal_id", "tags",
        "tenant_id"
    })
    ARM_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
    API_VERSION = "2023-01-31"

    def properties(self, spec: ResourceSpec) -> dict[str, Any]:
        return {}

    def outputs(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        props = resource.get("properties") or {}
        return {
            **self.common_outputs(resource),
            "identity_id": resource.get("id", ""),
            "principal_id": props.get("principalId", ""),
            "client_id": props.get("clientId", ""),
            "tenant_id": props.get("tenantId", ""),
        }
