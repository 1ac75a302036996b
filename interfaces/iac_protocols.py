"""IaC-side contracts of the spec, as structural Protocols.

Drivers and state stores are synchronous: the cloud SDKs and database drivers they wrap
are, and Temporal runs synchronous activities on a thread pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from interfaces.iac import (
    CapabilityDeclaration,
    DiffResult,
    HealthResult,
    Plan,
    ProviderSizing,
    ResourceHints,
    ResourceOutput,
    ResourceRef,
    ResourceSpec,
    ResourceState,
    Size,
)


@runtime_checkable
class ResourceDriver(Protocol):
    """CRUD and inspection of one resource type on one provider."""

    resource_type: str

    def create(self, spec: ResourceSpec) -> ResourceOutput: ...

    def read(self, ref: ResourceRef) -> ResourceOutput: ...

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput: ...

    def delete(self, ref: ResourceRef) -> None: ...

    def diff(self, desired: ResourceSpec, current: ResourceOutput) -> DiffResult: ...

    def health_check(self, ref: ResourceRef) -> HealthResult: ...

    def scale(self, ref: ResourceRef, replicas: int) -> ResourceOutput: ...


@runtime_checkable
class BulkReader(Protocol):
    """Optional on a ResourceDriver: read many live resources of its type in a few calls.

    Returns an entry for every ref, keyed by the ref's name: what `read` would report, or None
    where `read` would raise NotFoundError (deleted behind our back). Failures are raised as
    ProviderErrors: a retryable one fails the activity for Temporal to retry; on any other the
    engine reads that chunk one resource at a time, so each resource gets `read`'s own error
    and a list permission that `read` does not need is never required. A driver without
    `read_many` is read one resource at a time.
    """

    def read_many(self, refs: Sequence[ResourceRef]) -> dict[str, ResourceOutput | None]: ...


@runtime_checkable
class IaCProvider(Protocol):
    """A cloud: its capabilities, sizing table and one driver per resource type."""

    name: str
    version: str

    def initialize(self, config: dict[str, Any]) -> None: ...

    def capabilities(self) -> list[CapabilityDeclaration]: ...

    def resource_driver(self, resource_type: str) -> ResourceDriver: ...

    def resolve_sizing(
        self, resource_type: str, size: Size, hints: ResourceHints | None
    ) -> ProviderSizing: ...

    def import_resource(self, provider_id: str, resource_type: str) -> ResourceState: ...

    def close(self) -> None: ...


@runtime_checkable
class IaCStateStore(Protocol):
    """Recorded state of one stack, its saved plans and its lock."""

    def save_resource(self, state: ResourceState) -> None: ...

    def get_resource(self, name: str) -> ResourceState | None: ...

    def list_resources(self) -> list[ResourceState]: ...

    def delete_resource(self, name: str) -> None: ...

    def save_plan(self, plan: Plan) -> None: ...

    def get_plan(self, plan_id: str) -> Plan | None: ...

    def save_document(self, digest: str, body: str) -> None:
        """Keep a stack document (canonical JSON) under its sha256 digest; runs carry the
        digest instead of the document."""
        ...

    def get_document(self, digest: str) -> str | None: ...

    def serial(self) -> int:
        """A counter that moves on every change of recorded resources (stale-plan check)."""
        ...

    def lock(self, owner: str, ttl_seconds: float) -> str:
        """Take the stack's lock or raise StateLockedError naming the holder; its expiry
        (UTC ISO)."""
        ...

    def unlock(self, owner: str) -> bool:
        """Release the lock if `owner` holds it; whether it did."""
        ...

    def close(self) -> None: ...
