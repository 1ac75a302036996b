"""What every GCP resource driver shares: clients, names, labels, operations, the generic diff."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from google.cloud import compute_v1

from interfaces import (
    DiffResult,
    FieldChange,
    HealthResult,
    ResourceOutput,
    ResourceRef,
    ResourceSpec,
    ResourceStatus,
)
from interfaces.errors import NotFoundError, ProviderError, UnsupportedOperationError
from providers.gcp import labels as gcplabels
from providers.gcp.clients import GcpClients
from providers.gcp.errors import gcp_errors
from providers.gcp.operations import ComputeOperations, RedisOperations, SqlOperations

T = TypeVar("T")

BASE_OPERATIONS = ("create", "read", "update", "delete", "diff", "health_check")
CONFLICT_CODES = frozenset({"alreadyExists", "409", "RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"})


@dataclass(frozen=True)
class GcpContext:
    """Everything a driver needs from the provider: one per initialized provider."""

    clients: GcpClients
    stack: str
    labels: Mapping[str, str] = field(default_factory=dict)
    poll_interval: float = 2.0
    wait_timeout: float = 1800.0

    @property
    def project(self) -> str:
        return self.clients.settings.project

    @property
    def region(self) -> str:
        return self.clients.settings.region

    @property
    def zone(self) -> str:
        return self.clients.settings.zone

    @property
    def compute_operations(self) -> ComputeOperations:
        return ComputeOperations(self.clients, self.poll_interval, self.wait_timeout)

    @property
    def sql_operations(self) -> SqlOperations:
        return SqlOperations(self.clients, self.poll_interval, self.wait_timeout)

    @property
    def redis_operations(self) -> RedisOperations:
        return RedisOperations(self.clients, self.poll_interval, self.wait_timeout)


class GcpDriver:
    """Base of the GCP drivers.

    Subclasses set `resource_type`, the config fields they manage (`FORCE_NEW` ones need a
    new resource when they change, `UPDATABLE` ones change in place) and implement create,
    read, update and delete. `read` reports those fields under the spec's config keys, so the
    generic `diff` compares like with like.
    """

    resource_type: ClassVar[str] = ""
    FORCE_NEW: ClassVar[frozenset[str]] = frozenset()
    UPDATABLE: ClassVar[frozenset[str]] = frozenset()
    OPERATIONS: ClassVar[tuple[str, ...]] = BASE_OPERATIONS

    def __init__(self, context: GcpContext) -> None:
        self.context = context

    # -- plumbing -------------------------------------------------------------------------

    @property
    def stack(self) -> str:
        return self.context.stack

    @property
    def project(self) -> str:
        return self.context.project

    def compute(self, client_class: type[T]) -> T:
        return self.context.clients.compute(client_class)

    def describe(self, name: str) -> str:
        return f"gcp {self.resource_type} {name!r}"

    def errors(self, name: str) -> AbstractContextManager[None]:
        return gcp_errors(self.describe(name))

    def gce_name(self, spec: ResourceSpec, *suffix: str) -> str:
        return gcplabels.resource_name(self.stack, spec.name, *suffix)

    def labels_for(self, spec: ResourceSpec) -> dict[str, str]:
        return gcplabels.labels(
            self.stack, spec.name, self.context.labels, spec.config.get("labels")
        )

    def description(self, name: str) -> str:
        return gcplabels.description(self.stack, name)

    def invalid(self, name: str, problem: str) -> ProviderError:
        """A config problem the engine's validation could not see; retrying will not help."""
        return ProviderError(f"{self.describe(name)}: {problem}", code="InvalidConfig")

    def find(self, name: str, fetch: Callable[[], T]) -> T | None:
        """`fetch()`, or None when the resource does not exist."""
        try:
            with self.errors(name):
                return fetch()
        except NotFoundError:
            return None

    def mutate(
        self, name: str, send: Callable[[str], compute_v1.Operation], *parts: str
    ) -> compute_v1.Operation:
        """Send a compute mutation (given the requestId) and wait for its operation."""
        return self.context.compute_operations.call(
            send, self.describe(name), self.stack, name, *parts
        )

    def ensure(
        self,
        name: str,
        part: str,
        fetch: Callable[[], T],
        insert: Callable[[str], compute_v1.Operation],
        owned: Callable[[T], bool],
    ) -> T:
        """The compute resource `fetch` finds, inserted first when missing; refuses one that
        exists under our name but is not ours."""
        found = self.find(name, fetch)
        if found is None:
            try:
                self.mutate(name, insert, part, "insert")
            except ProviderError as error:
                # Made meanwhile (by an attempt whose operation we no longer hold): adopt.
                if error.code not in CONFLICT_CODES:
                    raise
            with self.errors(name):
                found = fetch()
        if not owned(found):
            raise ProviderError(
                f"{self.describe(name)}: {part} already exists and is not this resource's "
                "(import it to manage it)",
                code="AlreadyExists",
            )
        return found

    def owned_by_description(self, name: str) -> Callable[[Any], bool]:
        return lambda found: gcplabels.is_ours(self.stack, name, text=found.description)

    def remove(self, name: str, part: str, send: Callable[[str], compute_v1.Operation]) -> None:
        """Delete one compute resource; one already gone is what we wanted."""
        try:
            self.mutate(name, send, part, "delete")
        except NotFoundError:
            pass

    @contextmanager
    def ignoring_missing(self, name: str) -> Iterator[None]:
        try:
            with self.errors(name):
                yield
        except NotFoundError:
            pass

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
        """The id `read` takes, from what a user pastes: a name or a self link."""
        return provider_id.rstrip("/").rsplit("/", 1)[-1]

    def config_from_outputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """The config a stack would declare for this live resource (used by import)."""
        return {k: outputs[k] for k in sorted(self.FORCE_NEW | self.UPDATABLE) if k in outputs}

    # -- the spec's driver operations with a shared meaning --------------------------------

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        """The managed fields the spec sets, as `read` would report them once applied."""
        fields = {k: v for k, v in spec.config.items() if k in self.FORCE_NEW | self.UPDATABLE}
        if "labels" in fields:
            fields["labels"] = gcplabels.user_labels(self.labels_for(spec))
        return fields

    def same(self, key: str, desired: Any, actual: Any) -> bool:
        return canonical(desired) == canonical(actual)

    def diff(self, desired: ResourceSpec, current: ResourceOutput) -> DiffResult:
        changes: list[FieldChange] = []
        for key, want in sorted(self.desired_fields(desired).items()):
            # A reference not resolved yet (plan time) or a field read cannot see: no opinion.
            if key not in current.outputs or _unresolved(want):
                continue
            have = current.outputs[key]
            if not self.same(key, want, have):
                changes.append(
                    FieldChange(
                        path=key, old=have, new=want, force_new=self.forces_new(key, want, have)
                    )
                )
        return DiffResult(
            needs_update=bool(changes),
            needs_replace=any(change.force_new for change in changes),
            changes=changes,
        )

    def forces_new(self, key: str, desired: Any, actual: Any) -> bool:
        return key in self.FORCE_NEW

    def changed(self, ref: ResourceRef, spec: ResourceSpec) -> dict[str, Any]:
        """Fields of `spec` that differ from the live resource and can change in place."""
        result = self.diff(spec, self.read(ref))
        return {c.path: c.new for c in result.changes if c.path in self.UPDATABLE}

    def read(self, ref: ResourceRef) -> ResourceOutput:
        raise NotImplementedError

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


def last_segment(url: str) -> str:
    """`.../zones/us-central1-a` -> `us-central1-a`; a bare name stays as it is."""
    return str(url).rstrip("/").rsplit("/", 1)[-1]


def _unresolved(value: Any) -> bool:
    return "${" in json.dumps(value, default=str)


def canonical(value: Any) -> Any:
    """Equal when they mean the same: list order, numbers-as-strings and self links vs names
    do not matter."""
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return None
    text = str(value)
    return last_segment(text) if text.startswith(("https://", "http://", "projects/")) else text
