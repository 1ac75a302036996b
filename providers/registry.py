"""Provider type name -> factory of IaCProvider instances.

Built-in providers are imported only when first asked for, so a worker without one cloud's SDK
still serves the others. Plugins add types through the `wfctl.providers` entry point group (a
factory, or a module whose import registers its types), tests and extra modules through
`register_provider_type` or the WFCTL_PROVIDER_MODULES environment variable.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from importlib.metadata import entry_points

from interfaces.errors import ConfigError
from interfaces.iac_protocols import IaCProvider

ProviderFactory = Callable[[], IaCProvider]

ENTRY_POINT_GROUP = "wfctl.providers"
MODULES_ENV = "WFCTL_PROVIDER_MODULES"

# Built-ins as "module:attribute", resolved lazily.
_BUILTIN: dict[str, str] = {
    "aws": "providers.aws:AwsProvider",
    "azure": "providers.azure:AzureProvider",
    "digitalocean": "providers.digitalocean:DigitalOceanProvider",
    "gcp": "providers.gcp:GcpProvider",
}

_registered: dict[str, ProviderFactory] = {}
_loaded = False
_load_lock = threading.Lock()


def register_provider_type(name: str, factory: ProviderFactory) -> None:
    """Offer provider type `name`; a later registration of the same name replaces it."""
    _registered[name] = factory


def load_provider_modules(modules: str | None = None) -> None:
    """Import the modules named in WFCTL_PROVIDER_MODULES (comma-separated) and entry points."""
    global _loaded
    with _load_lock:
        names = os.environ.get(MODULES_ENV, "") if modules is None else modules
        for module in filter(None, (part.strip() for part in names.split(","))):
            importlib.import_module(module)
        if not _loaded:
            for entry in entry_points(group=ENTRY_POINT_GROUP):
                loaded = entry.load()
                if callable(loaded) and entry.name not in _registered:
                    register_provider_type(entry.name, loaded)
            _loaded = True


def provider_types() -> list[str]:
    load_provider_modules()
    return sorted({*_BUILTIN, *_registered})


def create_provider(type_name: str) -> IaCProvider:
    """A fresh, not yet initialized provider of `type_name`."""
    load_provider_modules()
    factory = _registered.get(type_name)
    if factory is None and type_name in _BUILTIN:
        module, _, attribute = _BUILTIN[type_name].partition(":")
        try:
            factory = getattr(importlib.import_module(module), attribute)
        except ImportError as error:
            raise ConfigError(
                f"provider type {type_name!r} is not available on this worker: {error}"
            ) from error
    if factory is None:
        known = ", ".join(provider_types())
        raise ConfigError(f"unknown provider type {type_name!r} (known: {known})")
    return factory()
