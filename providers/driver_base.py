"""What a resource driver means to the engine, the same on every cloud.

Each provider's own base (AwsDriver, GcpDriver, ArmDriver, DoDriver) adds its SDK plumbing on
top; this holds only the contract the engine relies on whatever the cloud: which config fields
a driver manages, how they are diffed, how a live resource is reported and imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from interfaces import (
    DiffResult,
    HealthResult,
    ResourceOutput,
    ResourceRef,
    ResourceSpec,
    ResourceStatus,
)
from interfaces.errors import NotFoundError, ProviderError, UnsupportedOperationError
from providers.creation_journal import record_created
from providers.diffing import canonical, field_diff

BASE_OPERATIONS = ("create", "read", "update", "delete", "diff", "health_check")


class StackContext(Protocol):
    """The one thing every provider's driver context carries."""

    @property
    def stack(self) -> str: ...


ContextT = TypeVar("ContextT", bound=StackContext)


class DriverBase(Generic[ContextT]):
    """Base of every cloud's drivers.

    Subclasses set `CLOUD` (once, in the provider's base), `resource_type` and the config
    fields they manage (`FORCE_NEW` ones need a new resource when they change, `UPDATABLE`
    ones change in place). `read` reports those fields under the spec's config keys, so the
    generic `diff` compares like with like. `OUTPUTS`, when set, is every top-level key `read`
    can report: planning then refuses a `${name.outputs.key}` of any other key.
    """

    CLOUD: ClassVar[str] = ""
    resource_type: ClassVar[str] = ""
    FORCE_NEW: ClassVar[frozenset[str]] = frozenset()
    UPDATABLE: ClassVar[frozenset[str]] = frozenset()
    OUTPUTS: ClassVar[frozenset[str] | None] = None  # None: not declared, not checked
    OPERATIONS: ClassVar[tuple[str, ...]] = BASE_OPERATIONS

    def __init__(self, context: ContextT) -> None:
        self.context = context

    @property
    def stack(self) -> str:
        return self.context.stack

    def describe(self, name: str) -> str:
        return f"{self.CLOUD} {self.resource_type} {name!r}"

    def invalid(self, name: str, problem: str) -> ProviderError:
        """A config problem the engine's validation could not see; retrying will not help."""
        return ProviderError(f"{self.describe(name)}: {problem}", code="InvalidConfig")

    def made(self, provider_id: str) -> str:
        """Call in create as soon as the cloud id is known (made or adopted): the pending
        state entry records it before the next call can fail. Returns the id."""
        record_created(provider_id)
        return provider_id

    def locate(self, spec: ResourceSpec) -> str:
        """The cloud id of the resource `spec` describes, found by its name or tags; "" when
        there is none (or the driver cannot tell). Destroy uses it for a pending entry whose
        create died before the cloud returned an id."""
        return ""

    def output(
        self,
        name: str,
        provider_id: str,
        outputs: dict[str, Any],
        status: ResourceStatus = ResourceStatus.READY,
        sensitive: Iterable[str] = (),
    ) -> ResourceOutput:
        return ResourceOutput(
            name=name,
            type=self.resource_type,
            provider_id=provider_id,
            outputs=outputs,
            status=status,
            sensitive=list(sensitive),
        )

    def natural_id(self, provider_id: str) -> str:
        """The id `read` takes, from what a user pastes to import a resource."""
        return provider_id

    def config_from_outputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """The config a stack would declare for this live resource (used by import)."""
        return {k: outputs[k] for k in sorted(self.FORCE_NEW | self.UPDATABLE) if k in outputs}

    # -- the spec's driver operations with a shared meaning --------------------------------

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        """The managed fields the spec sets, as `read` would report them once applied."""
        return {k: v for k, v in spec.config.items() if k in self.FORCE_NEW | self.UPDATABLE}

    def same(self, key: str, desired: Any, actual: Any) -> bool:
        return canonical(desired) == canonical(actual)

    def forces_new(self, key: str, desired: Any, actual: Any) -> bool:
        return key in self.FORCE_NEW

    def diff(self, desired: ResourceSpec, current: ResourceOutput) -> DiffResult:
        return field_diff(
            self.desired_fields(desired), current.outputs, self.same, self.forces_new
        )

    def updatable_changes(self, ref: ResourceRef, spec: ResourceSpec) -> dict[str, Any]:
        """Fields of `spec` that differ from the live resource and can change in place."""
        result = self.diff(spec, self.read(ref))
        return {c.path: c.new for c in result.changes if c.path in self.UPDATABLE}

    def read(self, ref: ResourceRef) -> ResourceOutput:
        raise NotImplementedError

    def read_each(self, refs: Iterable[ResourceRef]) -> dict[str, ResourceOutput | None]:
        """`read` of each ref, None for a gone one: what a driver's read_many does for the
        refs its bulk call cannot answer (no cloud id recorded, or missing from a listing
        by tag, which is not proof that it is gone)."""
        found: dict[str, ResourceOutput | None] = {}
        for ref in refs:
            try:
                found[ref.name] = self.read(ref)
            except NotFoundError:
                found[ref.name] = None
        return found

    def health_check(self, ref: ResourceRef) -> HealthResult:
        current = self.read(ref)
        return HealthResult(
            healthy=current.status == ResourceStatus.READY,
            message=f"{self.describe(ref.name)} is {current.status.value}",
        )

    def scale(self, ref: ResourceRef, replicas: int) -> ResourceOutput:
        raise UnsupportedOperationError(
            f"scale is not supported for {self.resource_type}", code="UnsupportedOperation"
        )
