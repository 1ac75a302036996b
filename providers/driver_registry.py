"""A provider as a table of driver classes sharing one context: the scaffolding every cloud's
provider class has in common.

Subclasses set `name`, `version` and `DRIVERS`, build their context in `initialize` and hand it
to `use_context`. Drivers are built once per context and reused, because activities of one
worker share a provider instance across threads.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from interfaces import CapabilityDeclaration, ResourceRef, ResourceState
from interfaces.errors import ConfigError, UnsupportedOperationError
from providers.driver_base import DriverBase

ContextT = TypeVar("ContextT")
DriverT = TypeVar("DriverT", bound=DriverBase[Any])


class DriverRegistryProvider(Generic[ContextT, DriverT]):
    name: str = ""
    version: str = ""
    DRIVERS: ClassVar[Mapping[str, type[DriverBase[Any]]]] = {}

    def __init__(self) -> None:
        self._context: ContextT | None = None
        self._drivers: dict[str, DriverT] = {}
        self._lock = threading.Lock()

    def stack_of(self, config: Mapping[str, Any]) -> str:
        """The stack's name, which the engine adds to every provider block."""
        stack = config.get("stack")
        if not isinstance(stack, str) or not stack:
            raise ConfigError(f"{self.name} provider: config needs `stack` (the stack's name)")
        return stack

    def tags_of(self, config: Mapping[str, Any]) -> dict[str, str]:
        """The user's `tags` for every resource of the stack, beside wfctl's own."""
        user_tags = config.get("tags") or {}
        if not isinstance(user_tags, Mapping):
            raise ConfigError(
                f"{self.name} provider: `tags` must be a mapping of tag name to value"
            )
        return {str(k): str(v) for k, v in user_tags.items()}

    def use_context(self, context: ContextT) -> None:
        """Start over on `context`: drivers built on the previous one are dropped."""
        self._context = context
        self._drivers.clear()

    @property
    def context(self) -> ContextT:
        if self._context is None:
            raise RuntimeError(f"{type(self).__name__} used before initialize()")
        return self._context

    def capabilities(self) -> list[CapabilityDeclaration]:
        return [
            CapabilityDeclaration(resource_type=t, tier=1, operations=list(cls.OPERATIONS))
            for t, cls in sorted(self.DRIVERS.items())
        ]

    def resource_driver(self, resource_type: str) -> DriverT:
        driver_class = self.DRIVERS.get(resource_type)
        if driver_class is None:
            raise UnsupportedOperationError(
                f"the {self.name} provider has no resource type {resource_type!r}; "
                f"it supports {', '.join(sorted(self.DRIVERS))}",
                code="UnsupportedResourceType",
            )
        with self._lock:
            driver = self._drivers.get(resource_type)
            if driver is None:
                driver = self._drivers[resource_type] = driver_class(self.context)
            return driver

    def close(self) -> None:
        if self._context is not None:
            self.close_context(self._context)
        self._drivers.clear()

    def close_context(self, context: ContextT) -> None:
        """Release the SDK clients `initialize` opened."""

    def import_ref(self, driver: DriverT, provider_id: str, resource_type: str) -> ResourceRef:
        """What `read` gets for an import: named by its natural id until the caller names it."""
        natural = driver.natural_id(provider_id)
        return ResourceRef(name=natural, type=resource_type, provider_id=natural)

    def import_resource(self, provider_id: str, resource_type: str) -> ResourceState:
        """Read a live resource by the id a user pastes (see each driver's `natural_id`)."""
        driver = self.resource_driver(resource_type)
        ref = self.import_ref(driver, provider_id, resource_type)
        live = driver.read(ref)
        config = driver.config_from_outputs(live.outputs)
        return ResourceState(
            id=live.provider_id,
            name=ref.name,
            type=resource_type,
            provider=self.name,
            provider_id=live.provider_id,
            # The same hash as engine.iac.plan.config_hash, which providers do not import.
            config_hash=hashlib.sha256(
                json.dumps(config, sort_keys=True, separators=(",", ":"), default=str).encode()
            ).hexdigest(),
            applied_config=config,
            outputs=live.outputs,
            sensitive=live.sensitive,
        )
