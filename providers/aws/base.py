"""What every AWS resource driver shares: clients, tags, waiting, errors and the generic diff."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

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
from providers.aws import tags as awstags
from providers.aws.errors import aws_errors
from providers.aws.session import AwsSession
from providers.waiting import wait_until

T = TypeVar("T")

BASE_OPERATIONS = ("create", "read", "update", "delete", "diff", "health_check")


@dataclass(frozen=True)
class AwsContext:
    """Everything a driver needs from the provider: one per initialized provider."""

    session: AwsSession
    stack: str
    tags: Mapping[str, str] = field(default_factory=dict)
    poll_interval: float = 5.0
    wait_timeout: float = 1800.0
    # How long a delete keeps trying while AWS still reports a dependency (ENIs of a just
    # deleted database release slowly) before the DependencyViolation is final.
    dependency_timeout: float = 300.0


class AwsDriver:
    """Base of the AWS drivers.

    Subclasses set `resource_type`, the config fields they manage (`FORCE_NEW` ones need a
    new resource when they change, `UPDATABLE` ones change in place) and implement create,
    read, update and delete. `read` reports those managed fields under the same keys as the
    spec's config, so the generic `diff` compares like with like.
    """

    resource_type: ClassVar[str] = ""
    FORCE_NEW: ClassVar[frozenset[str]] = frozenset()
    UPDATABLE: ClassVar[frozenset[str]] = frozenset()
    OPERATIONS: ClassVar[tuple[str, ...]] = BASE_OPERATIONS

    def __init__(self, context: AwsContext) -> None:
        self.context = context

    # -- plumbing -------------------------------------------------------------------------

    @property
    def stack(self) -> str:
        return self.context.stack

    def client(self, service: str) -> Any:
        return self.context.session.client(service)

    def describe(self, name: str) -> str:
        return f"aws {self.resource_type} {name!r}"

    def errors(self, name: str) -> AbstractContextManager[None]:
        """Classify botocore failures of calls made for resource `name`."""
        return aws_errors(self.describe(name))

    def tags_for(self, spec: ResourceSpec) -> dict[str, str]:
        return awstags.resource_tags(
            self.stack, spec.name, self.context.tags, spec.config.get("tags")
        )

    def wait(
        self, check: Callable[[], T | None], what: str, *, timeout: float | None = None
    ) -> T:
        return wait_until(
            check,
            timeout=self.context.wait_timeout if timeout is None else timeout,
            interval=self.context.poll_interval,
            describe=what,
        )

    def retry_while(
        self, codes: Iterable[str], action: Callable[[], Any], name: str, what: str
    ) -> None:
        """Run `action` (AWS calls for resource `name`), repeating it while it fails with one
        of `codes`, for at most dependency_timeout; then that error is raised as it is."""
        codes = frozenset(codes)
        last: ProviderError | None = None

        def attempt() -> bool | None:
            nonlocal last
            try:
                with self.errors(name):
                    action()
            except ProviderError as error:
                if error.code not in codes:
                    raise
                last = error
                return None
            return True

        try:
            self.wait(attempt, what, timeout=self.context.dependency_timeout)
        except ProviderError as error:
            if error.code == "WaitTimeout" and last is not None:
                raise last from error
            raise

    @contextmanager
    def ignoring_missing(self, name: str) -> Iterator[None]:
        """For deletes: a resource that is already gone is what we wanted."""
        try:
            with self.errors(name):
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
            provider_id=provider_id,
            outputs=outputs,
            status=status,
            sensitive=list(sensitive),
        )

    def natural_id(self, provider_id: str) -> str:
        """The id `read` takes, from what a user pastes: the id itself or an ARN."""
        if provider_id.startswith("arn:"):
            resource = provider_id.split(":", 5)[-1]
            return resource.replace(":", "/").rsplit("/", 1)[-1]
        return provider_id

    def config_from_outputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """The config a stack would declare for this live resource (used by import)."""
        return {k: outputs[k] for k in sorted(self.FORCE_NEW | self.UPDATABLE) if k in outputs}

    # -- the spec's driver operations with a shared meaning --------------------------------

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        """The managed fields the spec sets, as `read` would report them once applied."""
        fields = {k: v for k, v in spec.config.items() if k in self.FORCE_NEW | self.UPDATABLE}
        if "tags" in fields:
            fields["tags"] = awstags.user_tags(self.tags_for(spec))
        return fields

    def same(self, key: str, desired: Any, actual: Any) -> bool:
        return _canonical(desired) == _canonical(actual)

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
        healthy = current.status == ResourceStatus.READY
        return HealthResult(
            healthy=healthy,
            message=f"{self.describe(ref.name)} is {current.status.value}",
        )

    def scale(self, ref: ResourceRef, replicas: int) -> ResourceOutput:
        raise UnsupportedOperationError(
            f"scale is not supported for {self.resource_type}", code="UnsupportedOperation"
        )


def _unresolved(value: Any) -> bool:
    return "${" in json.dumps(value, default=str)


def _canonical(value: Any) -> Any:
    """Equal when they mean the same: order of lists and numbers-as-strings do not matter."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return None
    return str(value)


def identifier(text: str, max_length: int) -> str:
    """An RDS/ElastiCache style identifier: lowercase letters, digits and single hyphens,
    starting with a letter, not ending with a hyphen."""
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]+", "-", text.lower())).strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"w-{cleaned}"
    return cleaned[:max_length].rstrip("-")
