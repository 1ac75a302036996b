"""What every DigitalOcean driver shares: the client, calls, waiting, actions and the diff."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import pydo

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
from providers.digitalocean import tags as dotags
from providers.digitalocean.errors import checked, do_errors
from providers.waiting import wait_until

T = TypeVar("T")

BASE_OPERATIONS = ("create", "read", "update", "delete", "diff", "health_check")
PAGE_SIZE = 200


@dataclass(frozen=True)
class DoContext:
    """Everything a driver needs from the provider: one per initialized provider."""

    client: pydo.Client
    stack: str
    region: str = "nyc3"
    poll_interval: float = 5.0
    wait_timeout: float = 1800.0


class DoDriver:
    """Base of the DigitalOcean drivers.

    Subclasses set `resource_type` and the config fields they manage (`FORCE_NEW` ones need a
    new resource when they change, `UPDATABLE` ones change in place) and implement create,
    read, update and delete. `read` reports those fields under the spec's config keys, so the
    generic `diff` compares like with like. Provider ids are DigitalOcean's UUIDs or numeric
    ids (domains and the registry have none: their name is their id).
    """

    resource_type: ClassVar[str] = ""
    FORCE_NEW: ClassVar[frozenset[str]] = frozenset()
    UPDATABLE: ClassVar[frozenset[str]] = frozenset()
    OPERATIONS: ClassVar[tuple[str, ...]] = BASE_OPERATIONS

    def __init__(self, context: DoContext) -> None:
        self.context = context

    # -- plumbing -------------------------------------------------------------------------

    @property
    def do(self) -> pydo.Client:
        return self.context.client

    @property
    def stack(self) -> str:
        return self.context.stack

    def describe(self, name: str) -> str:
        return f"digitalocean {self.resource_type} {name!r}"

    def call(
        self, resource: str, operation: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Any:
        """One pydo call for `resource`; error bodies and raised errors classified."""
        with do_errors(self.describe(resource)):
            return checked(operation(*args, **kwargs), self.describe(resource))

    def list_all(
        self, resource: str, operation: Callable[..., Any], key: str, /, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """Every item of a paged list call."""
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.call(resource, operation, per_page=PAGE_SIZE, page=page, **kwargs) or {}
            batch = body.get(key) or []
            items.extend(batch)
            if len(batch) < PAGE_SIZE or not (body.get("links") or {}).get("pages", {}).get(
                "next"
            ):
                return items
            page += 1

    def region(self, spec: ResourceSpec) -> str:
        return str(spec.config.get("region") or self.context.region)

    def do_name(self, spec: ResourceSpec, max_length: int = 63) -> str:
        """The DigitalOcean name of the resource: config `name`, else <stack>-<name>."""
        default = dotags.resource_name(self.stack, spec.name, max_length)
        return str(spec.config.get("name") or default)

    def tags_for(self, spec: ResourceSpec) -> list[str]:
        return dotags.resource_tags(self.stack, spec.config.get("tags"))

    def is_ours(self, item: Mapping[str, Any]) -> bool:
        return dotags.stack_tag(self.stack) in (item.get("tags") or [])

    def sync_tags(
        self,
        name: str,
        resource_type: str,
        resource_id: str,
        current: Iterable[str] | None,
        desired: Iterable[str],
    ) -> None:
        """Tag and untag a droplet, volume or database through the tags API."""
        current, desired = set(current or []), set(desired)
        resource = [{"resource_id": resource_id, "resource_type": resource_type}]
        for tag in sorted(desired - current):
            with do_errors(self.describe(name)):
                # Creating a tag that exists answers with it (or an error body when the name
                # is taken in another case); either way the assignment below decides.
                self.do.tags.create({"name": tag})
            self.call(name, self.do.tags.assign_resources, tag, {"resources": resource})
        for tag in sorted(current - desired):
            with self.ignoring_missing():
                self.call(name, self.do.tags.unassign_resources, tag, {"resources": resource})

    def wait(
        self, check: Callable[[], T | None], what: str, *, timeout: float | None = None
    ) -> T:
        return wait_until(
            check,
            timeout=self.context.wait_timeout if timeout is None else timeout,
            interval=self.context.poll_interval,
            describe=what,
        )

    def wait_action(self, name: str, action: Mapping[str, Any]) -> dict[str, Any]:
        """Wait for a droplet/volume action to complete; an errored action is final."""
        action_id = int(action["id"])

        def done() -> dict[str, Any] | None:
            current = self.call(name, self.do.actions.get, action_id)["action"]
            if current.get("status") == "errored":
                raise ProviderError(
                    f"{self.describe(name)}: {current.get('type')} action {action_id} errored",
                    code="ActionErrored",
                )
            return current if current.get("status") == "completed" else None

        return self.wait(done, f"{action.get('type', 'action')} action {action_id} of {name}")

    def wait_gone(self, name: str, get: Callable[[], Any]) -> None:
        def gone() -> bool | None:
            try:
                self.call(name, get)
            except NotFoundError:
                return True
            return None

        self.wait(gone, f"{self.describe(name)} to be deleted")

    @contextmanager
    def ignoring_missing(self) -> Iterator[None]:
        """For deletes: a resource that is already gone is what we wanted."""
        try:
            yield
        except NotFoundError:
            pass

    def invalid(self, name: str, problem: str) -> ProviderError:
        """A config problem the engine's validation could not see; retrying will not help."""
        return ProviderError(f"{self.describe(name)}: {problem}", code="InvalidConfig")

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
            provider_id=str(provider_id),
            outputs=outputs,
            status=status,
            sensitive=list(sensitive),
        )

    def config_from_outputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """The config a stack would declare for this live resource (used by import)."""
        return {k: outputs[k] for k in sorted(self.FORCE_NEW | self.UPDATABLE) if k in outputs}

    # -- the spec's driver operations with a shared meaning --------------------------------

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        """The managed fields the spec sets, as `read` would report them once applied."""
        fields = {k: v for k, v in spec.config.items() if k in self.FORCE_NEW | self.UPDATABLE}
        if "region" in self.FORCE_NEW | self.UPDATABLE:
            fields["region"] = self.region(spec)
        if "tags" in fields:
            fields["tags"] = dotags.user_tags(dotags.tag_name(str(t)) for t in fields["tags"])
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
                    FieldChange(path=key, old=have, new=want, force_new=key in self.FORCE_NEW)
                )
        return DiffResult(
            needs_update=bool(changes),
            needs_replace=any(change.force_new for change in changes),
            changes=changes,
        )

    def updatable_changes(self, ref: ResourceRef, spec: ResourceSpec) -> dict[str, Any]:
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


def _unresolved(value: Any) -> bool:
    return "${" in json.dumps(value, default=str)


def canonical(value: Any) -> Any:
    """Equal when they mean the same: order of lists and numbers-as-strings do not matter."""
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return None
    return str(value)
