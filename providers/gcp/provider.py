"""The GCP provider: Compute Engine, Cloud SQL and Memorystore drivers, sizing and import."""

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
from providers.gcp import sizing
from providers.gcp.base import GcpContext, GcpDriver
from providers.gcp.clients import GcpClients, GcpSettings
from providers.gcp.drivers import DRIVERS


class GcpProvider:
    """`initialize` takes the stack's provider block plus `"stack": <stack name>`.

    Recognised keys: project, region, zone (default <region>-a), endpoint (one root URL for
    every Google API called, for emulators and fakes), credentials_file (path of a service
    account or ADC file; default: Application Default Credentials), labels (added to every
    resource that takes labels), poll_interval and wait_timeout (seconds, for operations and
    resources becoming ready), timeout (seconds per Cloud SQL Admin HTTP request).
    Test-only: anonymous_credentials (true: send no credentials, for a local fake).
    """

    name = "gcp"
    version = "0.1.0"

    def __init__(self) -> None:
        self._context: GcpContext | None = None
        self._drivers: dict[str, GcpDriver] = {}
        self._lock = threading.Lock()

    def initialize(self, config: dict[str, Any]) -> None:
        stack = config.get("stack")
        if not isinstance(stack, str) or not stack:
            raise ConfigError("gcp provider: config needs `stack` (the stack's name)")
        user_labels = config.get("labels") or {}
        if not isinstance(user_labels, Mapping):
            raise ConfigError("gcp provider: `labels` must be a mapping of label to value")
        self._context = GcpContext(
            clients=GcpClients(GcpSettings.from_config(config)),
            stack=stack,
            labels={str(k): str(v) for k, v in user_labels.items()},
            poll_interval=float(config.get("poll_interval", 2.0)),
            wait_timeout=float(config.get("wait_timeout", 1800.0)),
        )
        self._drivers.clear()

    @property
    def context(self) -> GcpContext:
        if self._context is None:
            raise RuntimeError("GcpProvider used before initialize()")
        return self._context

    def capabilities(self) -> list[CapabilityDeclaration]:
        return [
            CapabilityDeclaration(resource_type=t, tier=1, operations=list(cls.OPERATIONS))
            for t, cls in sorted(DRIVERS.items())
        ]

    def resource_driver(self, resource_type: str) -> GcpDriver:
        driver_class = DRIVERS.get(resource_type)
        if driver_class is None:
            raise UnsupportedOperationError(
                f"the gcp provider has no resource type {resource_type!r}; "
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
        """Read a live resource by its name or self link; its name is that id until the
        caller names it."""
        driver = self.resource_driver(resource_type)
        natural = driver.natural_id(provider_id)
        live = driver.read(ResourceRef(name=natural, type=resource_type, provider_id=natural))
        config = driver.config_from_outputs(live.outputs)
        return ResourceState(
            id=live.provider_id,
            name=natural,
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
            self._context.clients.close()
        self._drivers.clear()
