"""What every DigitalOcean driver shares: the client, calls, waiting and actions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pydo

from interfaces import ResourceOutput, ResourceSpec, ResourceStatus
from interfaces.errors import NotFoundError, ProviderError
from providers.digitalocean import tags as dotags
from providers.digitalocean.errors import checked, do_errors
from providers.driver_base import DriverBase
from providers.waiting import wait_until

T = TypeVar("T")

PAGE_SIZE = 200


@dataclass(frozen=True)
class DoContext:
    """Everything a driver needs from the provider: one per initialized provider."""

    client: pydo.Client
    stack: str
    region: str = "nyc3"
    poll_interval: float = 5.0
    wait_timeout: float = 1800.0


class DoDriver(DriverBase[DoContext]):
    """Base of the DigitalOcean drivers: pydo calls, paging, tags, actions and waits.

    Subclasses implement create, read, update and delete (see DriverBase for the fields).
    Provider ids are DigitalOcean's UUIDs or numeric ids (domains and the registry have none:
    their name is their id).
    """

    CLOUD = "digitalocean"

    # -- plumbing -------------------------------------------------------------------------

    @property
    def do(self) -> pydo.Client:
        return self.context.client

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

    def output(
        self,
        name: str,
        provider_id: str,
        outputs: dict[str, Any],
        status: ResourceStatus = ResourceStatus.READY,
        sensitive: Iterable[str] = (),
    ) -> ResourceOutput:
        # Droplet ids come back from the API as numbers.
        return super().output(name, str(provider_id), outputs, status, sensitive)

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "region" in self.FORCE_NEW | self.UPDATABLE:
            fields["region"] = self.region(spec)
        if "tags" in fields:
            fields["tags"] = dotags.user_tags(dotags.tag_name(str(t)) for t in fields["tags"])
        return fields
