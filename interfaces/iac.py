"""IaC-side data types of the spec: specs, state, plans, results and sizing."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


def _now() -> datetime:
    return datetime.now(UTC)


class Size(StrEnum):
    """Abstract size tiers a stack names; providers map them to their own instance types."""

    XS = "xs"
    S = "s"
    M = "m"
    L = "l"
    XL = "xl"


# The spec format's `infra.*` resource types: a provider lacking one of these does not offer it
# (said so by name), while any other unsupported type is more likely a typo.
SPEC_RESOURCE_TYPES = frozenset({
    "infra.api_gateway", "infra.cache", "infra.cdn", "infra.certificate",
    "infra.container_service", "infra.database", "infra.dns", "infra.firewall",
    "infra.iam_role", "infra.load_balancer", "infra.registry", "infra.secret",
    "infra.storage", "infra.vpc",
})  # fmt: skip


class SizingDefaults(BaseModel):
    """Provider-neutral specs of a size tier."""

    cpu: str
    memory: str
    db_storage: str
    cache_memory: str


SIZING_MAP: dict[Size, SizingDefaults] = {
    Size.XS: SizingDefaults(cpu="0.25", memory="512Mi", db_storage="10Gi", cache_memory="256Mi"),
    Size.S: SizingDefaults(cpu="1", memory="2Gi", db_storage="50Gi", cache_memory="1Gi"),
    Size.M: SizingDefaults(cpu="2", memory="4Gi", db_storage="100Gi", cache_memory="4Gi"),
    Size.L: SizingDefaults(cpu="4", memory="16Gi", db_storage="500Gi", cache_memory="16Gi"),
    Size.XL: SizingDefaults(cpu="8", memory="32Gi", db_storage="1Ti", cache_memory="64Gi"),
}


class ResourceHints(BaseModel):
    """Overrides of a size tier's specs."""

    cpu: str = ""
    memory: str = ""
    storage: str = ""


class ResourceSpec(BaseModel):
    """A desired resource as the stack declares it."""

    name: str
    type: str
    config: dict[str, Any] = Field(default_factory=dict)
    size: Size | None = None
    hints: ResourceHints | None = None
    depends_on: list[str] = Field(default_factory=list)


class ResourceRef(BaseModel):
    """Enough to find a live resource again."""

    name: str
    type: str
    provider_id: str = ""


class ResourceStatus(StrEnum):
    PENDING = "pending"
    CREATING = "creating"
    READY = "ready"
    UPDATING = "updating"
    DELETING = "deleting"
    DELETED = "deleted"
    FAILED = "failed"
    UNKNOWN = "unknown"


class ResourceOutput(BaseModel):
    """What a driver reports of a live resource."""

    name: str
    type: str
    provider_id: str = ""
    outputs: dict[str, Any] = Field(default_factory=dict)
    status: ResourceStatus = ResourceStatus.READY
    # Output keys whose values must never be shown (passwords, secret ARNs): wfctl extension.
    sensitive: list[str] = Field(default_factory=list)


class ResourceState(BaseModel):
    """What the state store records of a resource after an action.

    A `pending` entry is written before a create's first cloud call and updated with the
    cloud's id as soon as the cloud returns it (wfctl extension): what a failed or killed
    create made is still on record, so a later run adopts it and destroy deletes it.
    `provider_id` stays empty until the cloud has named the resource.
    """

    id: str
    name: str
    type: str
    provider: str
    provider_id: str = ""
    config_hash: str = ""
    applied_config: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    dependencies: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    last_drift_check: datetime | None = None
    sensitive: list[str] = Field(default_factory=list)
    pending: bool = False


class FieldChange(BaseModel):
    path: str
    old: Any = None
    new: Any = None
    force_new: bool = False


class DiffResult(BaseModel):
    needs_update: bool = False
    needs_replace: bool = False
    changes: list[FieldChange] = Field(default_factory=list)


class PlanAction(BaseModel):
    action: Literal["create", "update", "replace", "delete"]
    resource: ResourceSpec
    current: ResourceState | None = None
    changes: list[FieldChange] = Field(default_factory=list)


class Plan(BaseModel):
    id: str
    actions: list[PlanAction] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=_now)
    # wfctl extensions: which stack, and the state serial the plan was computed against,
    # so a saved plan whose state has moved since is refused.
    stack: str = ""
    state_serial: int = 0
    # Resource name -> why its action is there when the state explains it: "created by a
    # failed run, will be adopted" (or deleted) for a pending entry.
    notes: dict[str, str] = Field(default_factory=dict)


class ActionError(BaseModel):
    resource: str
    action: str
    error: str


class ApplyResult(BaseModel):
    plan_id: str = ""
    resources: list[ResourceOutput] = Field(default_factory=list)
    errors: list[ActionError] = Field(default_factory=list)


class DestroyResult(BaseModel):
    destroyed: list[str] = Field(default_factory=list)
    errors: list[ActionError] = Field(default_factory=list)


class DriftResult(BaseModel):
    name: str
    type: str
    drifted: bool = False
    expected: dict[str, Any] = Field(default_factory=dict)
    actual: dict[str, Any] = Field(default_factory=dict)
    fields: list[str] = Field(default_factory=list)


class HealthResult(BaseModel):
    healthy: bool
    message: str = ""


class ProviderSizing(BaseModel):
    instance_type: str
    specs: dict[str, Any] = Field(default_factory=dict)


class CapabilityDeclaration(BaseModel):
    resource_type: str
    tier: int = 1
    operations: list[str] = Field(default_factory=list)
