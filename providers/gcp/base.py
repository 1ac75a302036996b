"""What every GCP resource driver shares: clients, names, labels, operations and errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from google.cloud import compute_v1

from interfaces import ResourceSpec
from interfaces.errors import NotFoundError, ProviderError
from providers import diffing
from providers.driver_base import DriverBase
from providers.gcp import labels as gcplabels
from providers.gcp.clients import GcpClients
from providers.gcp.errors import gcp_errors
from providers.gcp.operations import ComputeOperations, RedisOperations, SqlOperations

T = TypeVar("T")

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


class GcpDriver(DriverBase[GcpContext]):
    """Base of the GCP drivers: compute clients, names, labels, operations and errors.

    Subclasses implement create, read, update and delete (see DriverBase for the fields).
    """

    CLOUD = "gcp"

    # -- plumbing -------------------------------------------------------------------------

    @property
    def project(self) -> str:
        return self.context.project

    def compute(self, client_class: type[T]) -> T:
        return self.context.clients.compute(client_class)

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

    def natural_id(self, provider_id: str) -> str:
        """The id `read` takes, from what a user pastes: a name or a self link."""
        return provider_id.rstrip("/").rsplit("/", 1)[-1]

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "labels" in fields:
            fields["labels"] = gcplabels.user_labels(self.labels_for(spec))
        return fields

    def same(self, key: str, desired: Any, actual: Any) -> bool:
        return canonical(desired) == canonical(actual)


def last_segment(url: str) -> str:
    """`.../zones/us-central1-a` -> `us-central1-a`; a bare name stays as it is."""
    return str(url).rstrip("/").rsplit("/", 1)[-1]


def canonical(value: Any) -> Any:
    """Equal when they mean the same: list order, numbers-as-strings and self links vs names
    do not matter."""
    return diffing.canonical(value, _link_as_name)


def _link_as_name(value: Any) -> str:
    text = str(value)
    return last_segment(text) if text.startswith(("https://", "http://", "projects/")) else text
