"""The DigitalOcean provider: pydo drivers for eleven resource types, sizing and import."""

from __future__ import annotations

from typing import Any

from providers.digitalocean import sizing
from providers.digitalocean.base import DoContext, DoDriver
from providers.digitalocean.client import build_client
from providers.digitalocean.drivers import DRIVERS
from providers.driver_registry import DriverRegistryProvider


class DigitalOceanProvider(DriverRegistryProvider[DoContext, DoDriver]):
    """`initialize` takes the stack's provider block plus `"stack": <stack name>`.

    Recognised keys: region (default for resources, nyc3), endpoint (the API's base URL),
    credentials_env (the environment variable holding the API token; DIGITALOCEAN_TOKEN),
    poll_interval and wait_timeout (seconds, for resources and actions to finish),
    max_retries, connect_timeout, read_timeout (the SDK's own connection retries and
    timeouts). Test-only: insecure_http (bearer auth over plain http to a loopback fake).

    `import_resource` reads a live resource by its DigitalOcean id (UUID, numeric droplet id,
    or the name of a domain or registry).
    """

    name = "digitalocean"
    version = "0.1.0"
    DRIVERS = DRIVERS
    resolve_sizing = staticmethod(sizing.resolve_sizing)

    def initialize(self, config: dict[str, Any]) -> None:
        stack = self.stack_of(config)
        self.use_context(
            DoContext(
                client=build_client(config),
                stack=stack,
                region=str(config.get("region") or "nyc3"),
                poll_interval=float(config.get("poll_interval", 5.0)),
                wait_timeout=float(config.get("wait_timeout", 1800.0)),
            )
        )

    def close_context(self, context: DoContext) -> None:
        context.client.close()
