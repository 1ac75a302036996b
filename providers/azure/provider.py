"""The Azure provider: ten resource types on azure-mgmt-resource's generic ARM operations."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any

from interfaces import (
    CapabilityDeclaration,
    ProviderSizing,
    ResourceHints,
    ResourceRef,
    ResourceState,
    Size,
)
from interfaces.errors import ConfigError, UnsupportedOperationError
from providers.azure import sizing
from providers.azure.base import ArmDriver, AzureContext
from providers.azure.client import ArmClient, ArmSettings
from providers.azure.drivers import DRIVERS


class AzureProvider:
    """`initialize` takes the stack's provider block plus `"stack": <stack name>`.

    Recognised keys: subscription_id and location (required), resource_group (default
    wfctl-<stack>; created and tagged when missing, removed with the stack's last resource
    only if the stack created it), endpoint (ARM's URL, for a sovereign cloud or a fake),
    tags (added to every resource), poll_interval and wait_timeout (seconds, for
    long-running operations), retry_total (the SDK's own retries, default 0: Temporal
    retries, honouring Retry-After).

    Test-only keys, for a local ARM fake: credential (the name of a credential factory
    registered with providers.azure.credentials.register_credential_factory; production
    always uses azure-identity's DefaultAzureCredential) and allow_http_loopback (bearer
    tokens over plain http, to a loopback endpoint only).
    """

    name = "azure"
    version = "0.1.0"

    def __init__(self) -> None:
        self._context: AzureContext | None = None
        self._drivers: dict[str, ArmDriver] = {}
        self._lock = threading.Lock()

    def initialize(self, config: dict[str, Any]) -> None:
        stack = config.get("stack")
        if not isinstance(stack, str) or not stack:
            raise ConfigError("azure provider: config needs `stack` (the stack's name)")
        user_tags = config.get("tags") or {}
        if not isinstance(user_tags, Mapping):
            raise ConfigError("azure provider: `tags` must be a mapping of tag name to value")
        self._context = AzureContext(
            arm=ArmClient(ArmSettings.from_config(config), stack),
            stack=stack,
            tags={str(k): str(v) for k, v in user_tags.items()},
        )
        self._drivers.clear()

    @property
    def context(self) -> AzureContext:
        if self._context is None:
            raise RuntimeError("AzureProvider used before initialize()")
        return self._context

    def capabilities(self) -> list[CapabilityDeclaration]:
        return [
            CapabilityDeclaration(resource_type=t, tier=1, operations=list(cls.OPERATIONS))
            for t, cls in sorted(DRIVERS.items())
        ]

    def resource_driver(self, resource_type: str) -> ArmDriver:
        driver_class = DRIVERS.get(resource_type)
        if driver_class is None:
            raise UnsupportedOperationError(
                f"the azure provider has no resource type {resource_type!r}; "
                f"it supports {', '.join(sorted(DRIVERS))}",
                code="UnsupportedResourceType",
            )
        with self._lock:
            driver = self._drivers.get(resource_type)
            if driver is None:
                driver = self._drivers[resource_type] = driver_class(self.context)
            return driver

    def resolve_sizing(
        self, resource_type: str, size: Size, hints: ResourceHints | None
    ) -> ProviderSizing:
        return sizing.resolve_sizing(resource_type, size, hints)

    def import_resource(self, provider_id: str, resource_type: str) -> ResourceState:
        """Read a live resource by its ARM id; its name is the id's last segment until the
        caller names it."""
        driver = self.resource_driver(resource_type)
        resource_id = driver.natural_id(provider_id)
        name = resource_id.rstrip("/").rsplit("/", 1)[-1]
        live = driver.read(ResourceRef(name=name, type=resource_type, provider_id=resource_id))
        config = driver.config_from_outputs(live.outputs)
        return ResourceState(
            id=live.provider_id,
            name=name,
            type=resource_type,
            provider=self.name,
            provider_id=live.provider_id,
            config_hash=hashlib.sha256(
                json.dumps(config, sort_keys=True, separators=(",", ":"), default=str).encode()
            ).hexdigest(),
            applied_config=config,
            outputs=live.outputs,
            sensitive=live.sensitive,
        )

    def close(self) -> None:
        if self._context is not None:
            self._context.arm.close()
        self._drivers.clear()
