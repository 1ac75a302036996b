"""The DigitalOcean provider: pydo drivers for eleven resource types, sizing and import."""

from __future__ import annotations

import hashlib
import json
import threading
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
from providers.digitalocean import sizing
from providers.digitalocean.base import DoContext, DoDriver
from providers.digitalocean.client import build_client
from providers.digitalocean.drivers import DRIVERS


class DigitalOceanProvider:
    """`initialize` takes the stack's provider block plus `"stack": <stack name>`.

    Recognised keys: region (default for resources, nyc3), endpoint (the API's base URL),
    credentials_env (the environment variable holding the API token; DIGITALOCEAN_TOKEN),
    poll_interval and wait_timeout (seconds, for resources and actions to finish),
    max_retries, connect_timeout, read_timeout (the SDK's own connection retries and
    timeouts). Test-only: insecure_http (bearer auth over plain http to a loopback fake).
    """

    name = "digitalocean"
    version = "0.1.0"

    def __init__(self) -> None:
        self._context: DoContext | None = None
        self._drivers: dict[str, DoDriver] = {}
        self._lock = threading.Lock()

    def initialize(self, config: dict[str, Any]) -> None:
        stack = config.get("stack")
        if not isinstance(stack, str) or not stack:
            raise ConfigError("digitalocean provider: config needs `stack` (the stack's name)")
        self._context = DoContext(
            client=build_client(config),
            stack=stack,
            region=str(config.get("region") or "nyc3"),
            poll_interval=float(config.get("poll_interval", 5.0)),
            wait_timeout=float(config.get("wait_timeout", 1800.0)),
        )
        self._drivers.clear()

    @property
    def context(self) -> DoContext:
        if self._context is None:
            raise RuntimeError("DigitalOceanProvider used before initialize()")
        return self._context

    def capabilities(self) -> list[CapabilityDeclaration]:
        return [
            CapabilityDeclaration(resource_type=t, tier=1, operations=list(cls.OPERATIONS))
            for t, cls in sorted(DRIVERS.items())
        ]

    def resource_driver(self, resource_type: str) -> DoDriver:
        driver_class = DRIVERS.get(resource_type)
        if driver_class is None:
            raise UnsupportedOperationError(
                f"the digitalocean provider has no resource type {resource_type!r}; "
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
        """Read a live resource by its DigitalOcean id (UUID, numeric droplet id, or the name
        of a domain or registry); its name is that id until the caller names it."""
        driver = self.resource_driver(resource_type)
        ref = ResourceRef(name=provider_id, type=resource_type, provider_id=provider_id)
        live = driver.read(ref)
        config = driver.config_from_outputs(live.outputs)
        return ResourceState(
            id=live.provider_id,
            name=provider_id,
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
            self._context.client.close()
        self._drivers.clear()
