"""The GCP provider: Compute Engine, Cloud SQL and Memorystore drivers, sizing and import."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interfaces.errors import ConfigError
from providers.driver_registry import DriverRegistryProvider
from providers.gcp import sizing
from providers.gcp.base import GcpContext, GcpDriver
from providers.gcp.clients import GcpClients, GcpSettings
from providers.gcp.drivers import DRIVERS


class GcpProvider(DriverRegistryProvider[GcpContext, GcpDriver]):
    """`initialize` takes the stack's provider block plus `"stack": <stack name>`.

    Recognised keys: project, region, zone (default <region>-a), endpoint (one root URL for
    every Google API called, for emulators and fakes), credentials_file (path of a service
    account or ADC file; default: Application Default Credentials), labels (added to every
    resource that takes labels), poll_interval and wait_timeout (seconds, for operations and
    resources becoming ready), timeout (seconds per Cloud SQL Admin HTTP request).
    Test-only: anonymous_credentials (true: send no credentials, for a local fake).

    `import_resource` reads a live resource by its name or self link.
    """

    name = "gcp"
    version = "0.1.0"
    DRIVERS = DRIVERS
    resolve_sizing = staticmethod(sizing.resolve_sizing)

    def initialize(self, config: dict[str, Any]) -> None:
        stack = self.stack_of(config)
        user_labels = config.get("labels") or {}
        if not isinstance(user_labels, Mapping):
            raise ConfigError("gcp provider: `labels` must be a mapping of label to value")
        self.use_context(
            GcpContext(
                clients=GcpClients(GcpSettings.from_config(config)),
                stack=stack,
                labels={str(k): str(v) for k, v in user_labels.items()},
                poll_interval=float(config.get("poll_interval", 2.0)),
                wait_timeout=float(config.get("wait_timeout", 1800.0)),
            )
        )

    def close_context(self, context: GcpContext) -> None:
        context.clients.close()
