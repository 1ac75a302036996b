"""Azure SKUs for wfctl's size tiers; hints override the tier's cpu, memory and storage."""

from __future__ import annotations

import math
import re
from typing import Any

from interfaces import SIZING_MAP, ProviderSizing, ResourceHints, Size
from interfaces.errors import ConfigError

COMPUTE = {
    Size.XS: "Standard_B1s",
    Size.S: "Standard_B2s",
    Size.M: "Standard_D2s_v5",
    Size.L: "Standard_D4s_v5",
    Size.XL: "Standard_D8s_v5",
}
DATABASE = {
    Size.XS: "GP_Gen5_1",
    Size.S: "GP_Gen5_1",
    Size.M: "GP_Gen5_2",
    Size.L: "GP_Gen5_4",
    Size.XL: "GP_Gen5_8",
}
CACHE = {Size.XS: "C0", Size.S: "C1", Size.M: "C2", Size.L: "C3", Size.XL: "C4"}

_GIB_PER_UNIT = {
    "mi": 1 / 1024, "m": 1 / 1024, "gi": 1, "g": 1, "ti": 1024, "t": 1024, "": 1,
}  # fmt: skip


def storage_gb(quantity: str) -> int:
    """Whole GiB for a quantity like "10Gi", "1Ti", "200G" or "50" (GiB), rounded up."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(quantity))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _GIB_PER_UNIT:
        raise ConfigError(f"storage {quantity!r} is not a size like 20Gi, 1Ti or 50")
    return max(1, math.ceil(float(match.group(1)) * _GIB_PER_UNIT[unit]))


def resolve_sizing(resource_type: str, size: Size, hints: ResourceHints | None) -> ProviderSizing:
    try:
        tier = Size(size)
    except ValueError:
        raise ConfigError(
            f"{resource_type}: size {size!r} is not one of {', '.join(s.value for s in Size)}"
        ) from None
    defaults = SIZING_MAP[tier]
    hints = hints or ResourceHints()
    specs: dict[str, Any] = {
        "cpu": hints.cpu or defaults.cpu,
        "memory": hints.memory or defaults.memory,
    }
    if resource_type == "infra.database":
        instance_type = DATABASE[tier]
        specs["storage_gb"] = storage_gb(hints.storage or defaults.db_storage)
    elif resource_type == "infra.cache":
        instance_type = CACHE[tier]
        specs["memory"] = hints.memory or defaults.cache_memory
    else:
        instance_type = COMPUTE[tier]
        if hints.storage:
            specs["storage_gb"] = storage_gb(hints.storage)
    return ProviderSizing(instance_type=instance_type, specs=specs)
