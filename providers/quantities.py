"""Storage and memory quantities as stacks and hints write them: "10Gi", "512Mi", "1Ti",
"200G" or a bare "50".

Decimal suffixes count as binary ones ("10G" is what the clouds sell as 10 GiB) and a bare
number is GiB, so one stack sizes the same on every cloud. Each cloud rounds up to its own
unit; every factor is a power of two, so no unit loses precision on the way.
"""

from __future__ import annotations

import math
import re

from interfaces.errors import ConfigError

_QUANTITY = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")
_MIB_PER_UNIT = {
    "mi": 1, "m": 1, "gi": 1024, "g": 1024, "ti": 1024 * 1024, "t": 1024 * 1024, "": 1024,
}  # fmt: skip


def whole_units(quantity: str, unit_mib: int) -> int | None:
    """`quantity` in whole units of `unit_mib` MiB, rounded up and at least one; None when
    it is not a quantity (each caller words that error for its own field)."""
    match = _QUANTITY.fullmatch(quantity)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _MIB_PER_UNIT:
        return None
    return max(1, math.ceil(float(match.group(1)) * _MIB_PER_UNIT[unit] / unit_mib))


def storage_gb(quantity: str) -> int:
    """Whole GiB for a quantity like "10Gi", "1Ti", "200G" or "50" (GiB), rounded up."""
    gib = whole_units(quantity, 1024)
    if gib is None:
        raise ConfigError(f"storage {quantity!r} is not a size like 20Gi, 1Ti or 50")
    return gib
