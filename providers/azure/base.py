"""What every Azure driver shares: ids, ARM bodies with tags and location, LRO waits, errors
and the generic diff.

A driver is a thin mapping: `properties(spec)` builds the ARM body for the config and
`outputs(resource)` reads the live ARM resource back into the config's own keys, so the
generic `diff` compares like with like.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from interfaces import ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from interfaces.errors import ProviderError, UnsupportedOperationError
from providers import diffing
from providers.azure import tags as aztags
from providers.azure.client import ArmClient
from providers.azure.errors import azure_errors
from providers.driver_base import DriverBase
from providers.shared_reads import shared

_STATUS = {
    "succeeded": ResourceStatus.READY,
    "failed": ResourceStatus.FAILED,
    "canceled": ResourceStatus.FAILED,
    "deleting": ResourceStatus.DELETING,
    "updating": ResourceStatus.UPDATING,
}


@dataclass(frozen=True)
class AzureContext:
    """Everything a driver needs from the provider: one per initialized provider."""

    arm: ArmClient
    stack: str
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def subscription_id(self) -> str:
        return self.arm.settings.subscription_id

    @property
    def resource_group(self) -> str:
        return self.arm.settings.resource_group

    @property
    def location(self) -> str:
        return self.arm.settings.location


class ArmDriver(DriverBase[AzureContext]):
    """Base of the Azure drivers: one ARM resource type (plus children some drivers add).

    Subclasses set resource_type, ARM_TYPE, API_VERSION, the managed config fields
    (`FORCE_NEW` ones need a new resource when they change, `UPDATABLE` ones change in place)
    and implement `properties` and `outputs`.
    """

    CLOUD = "azure"
    ARM_TYPE: ClassVar[str] = ""
    API_VERSION: ClassVar[str] = ""
    FORCE_NEW: ClassVar[frozenset[str]] = frozenset({"location"})
    UPDATABLE: ClassVar[frozenset[str]] = frozenset({"tags"})
    LOCATION: ClassVar[str | None] = None  # a fixed location ("global" for DNS zones)

    # -- what subclasses provide ---------------------------------------------------------

    def properties(self, spec: ResourceSpec) -> dict[str, Any]:
        """The ARM body's type-specific top-level members (properties, sku, kind...)."""
        raise NotImplementedError

    def outputs(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        """The live resource under the config's own keys, plus useful extra outputs."""
        raise NotImplementedError

    def validate(self, spec: ResourceSpec) -> None:
        """Raise `self.invalid(...)` for a config ARM would reject or silently ignore."""

    def arm_name(self, spec: ResourceSpec) -> str:
        return str(spec.config.get("name") or spec.name)

    def after_put(self, spec: ResourceSpec, resource_id: str) -> None:
        """Converge child resources (databases, record sets...) once the parent exists."""

    def before_delete(self, ref: ResourceRef) -> None:
        """Delete what this driver made beside the resource and ARM does not cascade."""

    def after_delete(self, ref: ResourceRef) -> None:
        """Delete what this driver made that the resource used (a load balancer's IP)."""

    # -- plumbing -------------------------------------------------------------------------

    @property
    def arm(self) -> ArmClient:
        return self.context.arm

    def errors(self, name: str) -> AbstractContextManager[None]:
        return azure_errors(self.describe(name))

    def resource_id(self, arm_name: str, arm_type: str | None = None) -> str:
        return (
            f"/subscriptions/{self.context.subscription_id}/resourceGroups/"
            f"{self.context.resource_group}/providers/{arm_type or self.ARM_TYPE}/{arm_name}"
        )

    def location_of(self, spec: ResourceSpec) -> str:
        return self.LOCATION or str(spec.config.get("location") or self.context.location)

    def tags_for(self, spec: ResourceSpec) -> dict[str, str]:
        return aztags.resource_tags(
            self.stack, spec.name, self.context.tags, spec.config.get("tags")
        )

    def body(self, spec: ResourceSpec) -> dict[str, Any]:
        return {
            "location": self.location_of(spec),
            "tags": self.tags_for(spec),
            **self.properties(spec),
        }

    def unique_suffix(self, spec: ResourceSpec) -> str:
        """Six stable hex digits for names Azure wants unique worldwide (storage, SQL...)."""
        seed = f"{self.context.subscription_id}/{self.context.resource_group}/{self.stack}"
        return hashlib.sha256(f"{seed}/{spec.name}".encode()).hexdigest()[:6]

    def put(self, spec: ResourceSpec, resource_id: str, body: Mapping[str, Any],
            api_version: str | None = None) -> dict[str, Any]:  # fmt: skip
        return self.arm.put(
            resource_id, api_version or self.API_VERSION, body, f"{self.describe(spec.name)}"
        )

    # -- the spec's driver operations -----------------------------------------------------

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        self.validate(spec)
        resource_id = self.resource_id(self.arm_name(spec))
        with self.errors(spec.name):
            existing = self.arm.find(resource_id, self.API_VERSION)
            if existing is not None and not aztags.is_ours(existing.get("tags"), self.stack,
                                                            spec.name):  # fmt: skip
                raise ProviderError(
                    f"{self.describe(spec.name)}: {resource_id} exists and is not this stack's "
                    f"(tags {aztags.STACK_TAG}/{aztags.NAME_TAG} differ); import it instead",
                    code="Conflict",
                )
            # PUT is idempotent by id: a retried create lands on the same resource.
            self.made(resource_id)
            self.put(spec, resource_id, self.body(spec))
            self.after_put(spec, resource_id)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=resource_id))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        resource_id = ref.provider_id or self.resource_id(ref.name)
        with self.errors(ref.name):
            resource = self.arm.get(resource_id, self.API_VERSION)
        return self._output_of(ref, resource_id, resource)

    def read_many(self, refs: Sequence[ResourceRef]) -> dict[str, ResourceOutput | None]:
        """The resource group's resources of this ARM type in one paged GET, instead of one
        GET each; a ref the listing lacks (in another group, or deleted) is read on its own."""
        collection = self.resource_id("").rstrip("/")
        with self.errors(f"{len(refs)} resources"):
            # Listed once per refresh, not once per chunk (providers.shared_reads).
            listed = shared(("azure listing", id(self), collection), lambda: {
                str(resource.get("id", "")).lower(): resource
                for resource in self.arm.list_children(collection, self.API_VERSION)
            })  # fmt: skip
        found: dict[str, ResourceOutput | None] = {}
        for ref in refs:
            resource_id = ref.provider_id or self.resource_id(ref.name)
            resource = listed.get(resource_id.lower())  # ARM ids are case-insensitive
            if resource is None:
                found.update(self.read_each([ref]))
            else:
                found[ref.name] = self._output_of(ref, resource_id, resource)
        return found

    def _output_of(
        self, ref: ResourceRef, resource_id: str, resource: Mapping[str, Any]
    ) -> ResourceOutput:
        with self.errors(ref.name):
            outputs = self.outputs(resource)  # some types read children (a server's databases)
        state = str((resource.get("properties") or {}).get("provisioningState") or "Succeeded")
        status = _STATUS.get(state.lower(), ResourceStatus.CREATING)
        return self.output(ref.name, resource_id, outputs, status)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        self.validate(spec)
        with self.errors(spec.name):
            # ARM's PUT replaces the whole resource with the desired one.
            self.put(spec, ref.provider_id, self.body(spec))
            self.after_put(spec, ref.provider_id)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.errors(ref.name):
            self.before_delete(ref)
            self.arm.delete(ref.provider_id, self.API_VERSION, self.describe(ref.name))
            self.after_delete(ref)
        self.arm.release_group()

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "tags" in fields:
            fields["tags"] = aztags.user_tags(self.tags_for(spec))
        return fields

    def same(self, key: str, desired: Any, actual: Any) -> bool:
        return canonical(desired) == canonical(actual)

    def scale(self, ref: ResourceRef, replicas: int) -> ResourceOutput:
        raise UnsupportedOperationError(
            f"scale is not supported for {self.resource_type} on azure",
            code="UnsupportedOperation",
        )

    def common_outputs(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": resource.get("id", ""),
            "arm_name": resource.get("name", ""),
            "location": resource.get("location", ""),
            "tags": aztags.user_tags(resource.get("tags")),
        }


def canonical(value: Any) -> Any:
    """Equal when they mean the same: list order, numbers as text, case of ARM enums."""
    return diffing.canonical(value, _arm_scalar)


def _arm_scalar(value: Any) -> str:
    if isinstance(value, int | float):
        return f"{float(value):g}"
    text = str(value)
    try:
        return f"{float(text):g}"
    except ValueError:
        return text.lower()


def dns_label(text: str, max_length: int = 63) -> str:
    """Lowercase letters, digits and single hyphens, starting with a letter."""
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]+", "-", text.lower())).strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"w-{cleaned}"
    return cleaned[:max_length].rstrip("-")


def alphanumeric(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())
