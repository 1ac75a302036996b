"""GCP machine types, Cloud SQL tiers and Memorystore tiers for wfctl's size tiers.

The sizing's specs become config keys of the resource (values the stack sets win), so they
are named as the drivers' config: `instance_type` everywhere, `storage_gb` for Cloud SQL,
`tier` and `memory_size_gb` for Memorystore.
"""

from __future__ import annotations

from typing import Any

from interfaces import SIZING_MAP, ProviderSizing, ResourceHints, Size
from interfaces.errors import ConfigError
from providers.quantities import whole_units
from providers.size_tiers import tier_of

COMPUTE = {
    Size.XS: "e2-micro",
    Size.S: "e2-small",
    Size.M: "n2-standard-2",
    Size.L: "n2-standard-4",
    Size.XL: "n2-standard-8",
}
DATABASE = {
    Size.XS: ("db-f1-micro", 10),
    Size.S: ("db-g1-small", 50),
    Size.M: ("db-custom-2-8192", 100),
    # PostgreSQL takes only shared-core and custom tiers (the same vCPUs and memory as
    # n1-standard-4/-8); all of these run on the Enterprise edition.
    Size.L: ("db-custom-4-15360", 500),
    Size.XL: ("db-custom-8-30720", 1000),
}
CACHE = {
    Size.XS: ("BASIC", 1),
    Size.S: ("BASIC", 5),
    Size.M: ("STANDARD_HA", 10),
    Size.L: ("STANDARD_HA", 30),
    Size.XL: ("STANDARD_HA", 100),
}


def gigabytes(quantity: str) -> int:
    """Whole GiB for a quantity like "10Gi", "1Ti", "200G" or "50" (GiB), rounded up."""
    gib = whole_units(quantity, 1024)
    if gib is None:
        raise ConfigError(f"size {quantity!r} is not a quantity like 20Gi, 1Ti or 50")
    return gib


def resolve_sizing(resource_type: str, size: Size, hints: ResourceHints | None) -> ProviderSizing:
    tier = tier_of(resource_type, size)
    hints = hints or ResourceHints()
    specs: dict[str, Any] = {}
    if resource_type == "infra.database":
        instance_type, storage = DATABASE[tier]
        specs["storage_gb"] = gigabytes(hints.storage) if hints.storage else storage
    elif resource_type == "infra.cache":
        cache_tier, memory = CACHE[tier]
        instance_type = cache_tier
        specs["tier"] = cache_tier
        specs["memory_size_gb"] = gigabytes(hints.memory) if hints.memory else memory
    else:
        instance_type = COMPUTE[tier]
        defaults = SIZING_MAP[tier]
        specs["cpu"] = hints.cpu or defaults.cpu
        specs["memory"] = hints.memory or defaults.memory
        if hints.storage:
            specs["disk_gb"] = gigabytes(hints.storage)
    return ProviderSizing(instance_type=instance_type, specs=specs)
