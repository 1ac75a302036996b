"""The ARM client of one initialized provider, its long-running-operation waits, and the
stack's resource group.

Everything goes through azure-mgmt-resource's generic operations: resources by id
(PUT/GET/DELETE with the resource type's own api-version) and resource_groups.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.polling import LROPoller
from azure.core.rest import HttpRequest
from azure.core.settings import settings as azure_settings
from azure.mgmt.core.tools import get_arm_endpoints
from azure.mgmt.resource.resources import ResourceManagementClient

from interfaces.errors import ConfigError, NotFoundError
from providers.azure.credentials import (
    LoopbackHttpAuthenticationPolicy,
    is_loopback,
    make_credential,
)
from providers.azure.errors import as_plain, azure_errors
from providers.azure.tags import STACK_TAG
from providers.azure_core_retry import CallRetryPolicy
from providers.waiting import wait_until

# Retries of one throttled or failed ARM call before the activity sees the error (0: none).
DEFAULT_RETRY_TOTAL = 9
# Keys that would put a secret in a stack document (and so in workflow inputs): refused.
CREDENTIAL_KEYS = frozenset(
    {"client_secret", "client_certificate", "password", "access_token", "token", "secret"}
)


@dataclass(frozen=True)
class ArmSettings:
    subscription_id: str
    resource_group: str
    location: str
    endpoint: str | None
    credential: str | None
    allow_http_loopback: bool
    retry_total: int
    poll_interval: float
    wait_timeout: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ArmSettings:
        secret = sorted(CREDENTIAL_KEYS & {str(k).lower() for k in config})
        if secret:
            raise ConfigError(
                f"azure provider: credentials never go in provider config ({', '.join(secret)});"
                " use azure-identity's chain (environment, managed identity, az login)"
            )
        missing = [k for k in ("subscription_id", "location") if not config.get(k)]
        if missing:
            raise ConfigError(f"azure provider: config needs {' and '.join(missing)}")
        stack = str(config.get("stack") or "")
        endpoint = str(config["endpoint"]).rstrip("/") if config.get("endpoint") else None
        allow_http = bool(config.get("allow_http_loopback", False))
        if allow_http and (endpoint is None or not is_loopback(endpoint)):
            raise ConfigError(
                "azure provider: allow_http_loopback is for a local fake: `endpoint` must be "
                "http://127.0.0.1:<port> or localhost"
            )
        return cls(
            subscription_id=str(config["subscription_id"]),
            resource_group=str(config.get("resource_group") or f"wfctl-{stack}"),
            location=str(config["location"]),
            endpoint=endpoint,
            credential=config.get("credential"),
            allow_http_loopback=allow_http,
            retry_total=int(config.get("retry_total", DEFAULT_RETRY_TOTAL)),
            poll_interval=float(config.get("poll_interval", 10.0)),
            wait_timeout=float(config.get("wait_timeout", 3600.0)),
        )


class ArmClient:
    """One ResourceManagementClient plus the waits and the resource group a stack uses."""

    def __init__(self, settings: ArmSettings, stack: str) -> None:
        self.settings = settings
        self.stack = stack
        credential = make_credential(settings.credential)
        options: dict[str, Any] = {
            # A throttled call retries itself (Retry-After honoured, heartbeating while it
            # waits) rather than failing the activity and restarting the whole create.
            "retry_policy": CallRetryPolicy(settings.retry_total),
            "polling_interval": settings.poll_interval,
        }
        if settings.allow_http_loopback:
            options["authentication_policy"] = LoopbackHttpAuthenticationPolicy(
                credential, *_arm_endpoints()["credential_scopes"]
            )
        self._sdk = ResourceManagementClient(
            credential,
            settings.subscription_id,
            base_url=settings.endpoint,
            **options,
        )
        # Creates hold it from "group exists" through their first PUT; removing an empty group
        # we made holds it from "group is empty" through ARM accepting the delete.
        self._group_lock = threading.Lock()

    @property
    def resources(self) -> Any:
        return self._sdk.resources

    # -- resources by id --------------------------------------------------------------------

    def get(self, resource_id: str, api_version: str) -> dict[str, Any]:
        found = self._sdk.resources.get_by_id(_path(resource_id), api_version=api_version)
        return as_plain(found)

    def find(self, resource_id: str, api_version: str) -> dict[str, Any] | None:
        try:
            with azure_errors(resource_id):
                return self.get(resource_id, api_version)
        except NotFoundError:
            return None

    def put(
        self, resource_id: str, api_version: str, body: Mapping[str, Any], what: str
    ) -> dict[str, Any]:
        """PUT the body (ARM's create-or-replace) and wait for the operation to finish."""
        with self._group_lock:
            self.ensure_group()
            poller = self._sdk.resources.begin_create_or_update_by_id(
                _path(resource_id), dict(body), api_version=api_version
            )
        return as_plain(self.wait(poller, what)) or {}

    def patch(
        self, resource_id: str, api_version: str, body: Mapping[str, Any], what: str
    ) -> dict[str, Any]:
        """PATCH the members given (ARM's in-place update) and wait for the operation."""
        poller = self._sdk.resources.begin_update_by_id(
            _path(resource_id), dict(body), api_version=api_version
        )
        return as_plain(self.wait(poller, what)) or {}

    def delete(self, resource_id: str, api_version: str, what: str) -> None:
        """DELETE and wait until it is gone; already gone is fine."""
        try:
            with azure_errors(what):
                poller = self._sdk.resources.begin_delete_by_id(
                    _path(resource_id), api_version=api_version
                )
                self.wait(poller, f"{what} to be deleted")
        except NotFoundError:
            pass

    def post(self, action_id: str, api_version: str) -> dict[str, Any]:
        """POST to a resource's action (a registry's listCredentials...) and return its JSON."""
        url = f"{self._base()}{action_id}?api-version={api_version}"
        response = self._sdk.send_request(HttpRequest("POST", url))
        response.raise_for_status()
        return response.json() if response.content else {}

    def list_children(self, collection_id: str, api_version: str) -> list[dict[str, Any]]:
        """GET a child collection (record sets of a zone...): ARM's {"value": [...]} pages."""
        url: str | None = f"{self._base()}{collection_id}?api-version={api_version}"
        found: list[dict[str, Any]] = []
        while url:
            response = self._sdk.send_request(HttpRequest("GET", url))
            response.raise_for_status()
            page = response.json()
            found.extend(page.get("value") or [])
            url = page.get("nextLink")
        return found

    def wait(self, poller: LROPoller[Any], what: str) -> Any:
        """Wait for the poller's thread, heartbeating, then its result (or its error)."""
        wait_until(
            lambda: True if poller.done() else None,
            timeout=self.settings.wait_timeout,
            interval=self.settings.poll_interval,
            describe=what,
        )
        return poller.result()

    def _base(self) -> str:
        return self.settings.endpoint or _arm_endpoints()["resource_manager"].rstrip("/")

    # -- the stack's resource group ----------------------------------------------------------

    def ensure_group(self) -> None:
        """Create the resource group if it is missing, tagged as made by this stack."""
        groups = self._sdk.resource_groups
        if groups.check_existence(self.settings.resource_group):
            return
        groups.create_or_update(
            self.settings.resource_group,
            {"location": self.settings.location, "tags": {STACK_TAG: self.stack}},
        )

    def release_group(self) -> None:
        """After a delete: remove the resource group when this stack made it and it is empty.

        A group the stack found (adopted) is never removed.
        """
        name = self.settings.resource_group
        what = f"azure resource group {name!r}"
        with azure_errors(what):
            with self._group_lock:
                groups = self._sdk.resource_groups
                if not groups.check_existence(name):
                    return
                group = as_plain(groups.get(name))
                if (group.get("tags") or {}).get(STACK_TAG) != self.stack:
                    return
                if any(True for _ in self._sdk.resources.list_by_resource_group(name, top=1)):
                    return
                poller = groups.begin_delete(name)
            # Waited outside the lock: a create meanwhile gets ARM's ResourceGroupBeingDeleted,
            # a retryable error, and makes the group again once this delete is through.
            self.wait(poller, f"{what} to be deleted")

    def close(self) -> None:
        self._sdk.close()


def _arm_endpoints() -> dict[str, Any]:
    return get_arm_endpoints(azure_settings.current.azure_cloud)


def _path(resource_id: str) -> str:
    # The SDK's URL template is "/{resourceId}": a leading slash would double.
    return resource_id.lstrip("/")
