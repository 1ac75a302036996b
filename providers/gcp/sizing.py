"""GCP machine types, Cloud SQL tiers and Memorystore tiers for wfctl's size tiers.

The sizing's specs become config keys of the resource (values the stack sets win), so they
are named as the drivers' config: `instance_type` everywhere, `storage_gb` for Cloud SQL,
`tier` and `memory_size_gb` for Memorystore.
"""

from __future__ import annotations

import math
import re
from typing import Any

from interfaces import SIZING_MAP, ProviderSizing, ResourceHints, Size
from interfaces.errors import ConfigError

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
    Size.L: ("db-n1-standard-4", 500),
    Size.XL: ("db-n1-standard-8", 1000),
}
CACHE = {
    Size.XS: ("BASIC", 1),
    Size.S: ("BASIC", 5),
    Size.M: ("STANDARD_HA", 10),
    Size.L: ("STANDARD_HA", 30),
    Size.XL: ("STANDARD_HA", 100),
}

_GIB_PER_UNIT = {
    "mi": 1 / 1024, "m": 1 / 1024, "gi": 1, "g": 1, "ti": 1024, "t": 1024, "": 1,
}  # fmt: skip


def gigabytes(quantity: str) -> int:
    """Whole GiB for a quantity like "10Gi", "1Ti", "200G" or "50" (GiB), rounded up."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", quantity)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _GIB_PER_UNIT:
        raise ConfigError(f"size {quantity!r} is not a quantity like 20Gi, 1Ti or 50")
    return max(1, math.ceil(float(match.group(1)) * _GIB_PER_UNIT[unit]))


def resolve_sizing(resource_type: str, size: Size, hints: ResourceHints | None) -> ProviderSizing:
    try:
        tier = Size(size)
    except ValueError:
        raise ConfigError(
            f"{resource_type}: size {size!r} is not one of {', '.join(s.value for s in Size)}"
        ) from None
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
