"""The AWS provider: boto3 drivers for twelve resource types, sizing and import."""

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
from providers.aws import sizing
from providers.aws.base import AwsContext, AwsDriver
from providers.aws.drivers import DRIVERS
from providers.aws.session import AwsSession


class AwsProvider:
    """`initialize` takes the stack's provider block plus `"stack": <stack name>`.

    Recognised keys: region, profile, endpoint_url, tags (added to every resource),
    poll_interval and wait_timeout (seconds, for resources becoming ready or gone),
    dependency_timeout (seconds a delete retries a DependencyViolation),
    max_attempts, connect_timeout, read_timeout (the SDK's own retry and timeouts).
    """

    name = "aws"
    version = "0.1.0"

    def __init__(self) -> None:
        self._context: AwsContext | None = None
        self._drivers: dict[str, AwsDriver] = {}
        self._lock = threading.Lock()

    def initialize(self, config: dict[str, Any]) -> None:
        stack = config.get("stack")
        if not isinstance(stack, str) or not stack:
            raise ConfigError("aws provider: config needs `stack` (the stack's name)")
        user_tags = config.get("tags") or {}
        if not isinstance(user_tags, Mapping):
            raise ConfigError("aws provider: `tags` must be a mapping of tag name to value")
        self._context = AwsContext(
            session=AwsSession.from_config(config),
            stack=stack,
            tags={str(k): str(v) for k, v in user_tags.items()},
            poll_interval=float(config.get("poll_interval", 5.0)),
            wait_timeout=float(config.get("wait_timeout", 1800.0)),
            dependency_timeout=float(config.get("dependency_timeout", 300.0)),
        )
        self._drivers.clear()

    @property
    def context(self) -> AwsContext:
        if self._context is None:
            raise RuntimeError("AwsProvider used before initialize()")
        return self._context

    def capabilities(self) -> list[CapabilityDeclaration]:
        return [
            CapabilityDeclaration(resource_type=t, tier=1, operations=list(cls.OPERATIONS))
            for t, cls in sorted(DRIVERS.items())
        ]

    def resource_driver(self, resource_type: str) -> AwsDriver:
        driver_class = DRIVERS.get(resource_type)
        if driver_class is None:
            raise UnsupportedOperationError(
                f"the aws provider has no resource type {resource_type!r}; "
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
        """Read a live resource by its natural id (vpc-..., sg-..., db identifier, replication
        group id, bucket name, hosted zone id) or ARN; its name is that id until the caller
        names it."""
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
            self._context.session.close()
        self._drivers.clear()
