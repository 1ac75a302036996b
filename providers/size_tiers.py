"""wfctl's size tiers (xs..xl) as a cloud's instance types, with the user's hints winning.

Every provider reads the tier the same way; the clouds that sell compute, databases and caches
as instance types with cpu, memory and storage beside them (AWS, Azure) also share the rule
for which hint overrides what. GCP and DigitalOcean name their sizes differently and keep
their own rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interfaces import SIZING_MAP, ProviderSizing, ResourceHints, Size
from interfaces.errors import ConfigError
from providers.quantities import storage_gb


def tier_of(resource_type: str, size: Size) -> Size:
    """`size` as a tier; a stack's value that is no tier is a config error naming the tiers."""
    try:
        return Size(size)
    except ValueError:
        raise ConfigError(
            f"{resource_type}: size {size!r} is not one of {', '.join(s.value for s in Size)}"
        ) from None


def instance_sizing(
    resource_type: str,
    size: Size,
    hints: ResourceHints | None,
    *,
    compute: Mapping[Size, str],
    database: Mapping[Size, str],
    cache: Mapping[Size, str],
) -> ProviderSizing:
    """The instance type of the tier, with cpu and memory specs (a cache's memory is the
    tier's cache memory) and, for databases or when hinted, whole GiB of storage."""
    tier = tier_of(resource_type, size)
    defaults = SIZING_MAP[tier]
    hints = hints or ResourceHints()
    specs: dict[str, Any] = {
        "cpu": hints.cpu or defaults.cpu,
        "memory": hints.memory or defaults.memory,
    }
    if resource_type == "infra.database":
        instance_type = database[tier]
        specs["storage_gb"] = storage_gb(hints.storage or defaults.db_storage)
    elif resource_type == "infra.cache":
        instance_type = cache[tier]
        specs["memory"] = hints.memory or defaults.cache_memory
    else:
        instance_type = compute[tier]
        if hints.storage:
            specs["storage_gb"] = storage_gb(hints.storage)
    return ProviderSizing(instance_type=instance_type, specs=specs)
