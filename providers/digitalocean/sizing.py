"""DigitalOcean size slugs for wfctl's size tiers; hints override cpu, memory and storage."""

from __future__ import annotations

import math
from typing import Any

from interfaces import SIZING_MAP, ProviderSizing, ResourceHints, Size
from interfaces.errors import ConfigError
from providers.quantities import whole_units
from providers.size_tiers import tier_of

DROPLET = {
    Size.XS: "s-1vcpu-512mb-10gb",
    Size.S: "s-1vcpu-2gb",
    Size.M: "s-2vcpu-4gb",
    Size.L: "s-4vcpu-8gb",
    Size.XL: "s-8vcpu-16gb",
}
DATABASE = {
    Size.XS: "db-s-1vcpu-1gb",
    Size.S: "db-s-1vcpu-2gb",
    Size.M: "db-s-2vcpu-4gb",
    Size.L: "db-s-4vcpu-8gb",
    Size.XL: "db-s-8vcpu-16gb",
}
APP = {
    Size.XS: "apps-s-1vcpu-0.5gb",
    Size.S: "apps-s-1vcpu-1gb",
    Size.M: "apps-d-2vcpu-4gb",
    Size.L: "apps-d-4vcpu-8gb",
    Size.XL: "apps-d-8vcpu-16gb",
}
LOAD_BALANCER_UNITS = {Size.XS: 1, Size.S: 1, Size.M: 2, Size.L: 4, Size.XL: 8}


def mebibytes(quantity: str) -> int:
    """MiB in a quantity like "512Mi", "4Gi", "1Ti" (a bare number is GiB)."""
    mib = whole_units(quantity, 1)
    if mib is None:
        raise ConfigError(f"size {quantity!r} is not a quantity like 512Mi, 4Gi or 1Ti")
    return mib


def _memory_text(quantity: str) -> str:
    mib = mebibytes(quantity)
    return f"{mib}mb" if mib < 1024 else f"{mib / 1024:g}gb"


def _cpus(quantity: str) -> str:
    try:
        return f"{max(1, math.ceil(float(quantity)))}"
    except ValueError:
        raise ConfigError(f"cpu {quantity!r} is not a number of vCPUs") from None


def resolve_sizing(resource_type: str, size: Size, hints: ResourceHints | None) -> ProviderSizing:
    tier = tier_of(resource_type, size)
    hints = hints or ResourceHints()
    defaults = SIZING_MAP[tier]
    specs: dict[str, Any] = {}
    custom = bool(hints.cpu or hints.memory)
    cpu, memory = _cpus(hints.cpu or defaults.cpu), _memory_text(hints.memory or defaults.memory)
    if resource_type == "infra.droplet":
        slug = f"s-{cpu}vcpu-{memory}" if custom else DROPLET[tier]
    elif resource_type in ("infra.database", "infra.cache"):
        slug = f"db-s-{cpu}vcpu-{memory}" if custom else DATABASE[tier]
        if hints.storage:
            specs["storage_gb"] = math.ceil(mebibytes(hints.storage) / 1024)
    elif resource_type == "infra.container_service":
        family = "d" if int(cpu) >= 2 else "s"
        slug = f"apps-{family}-{cpu}vcpu-{memory}" if custom else APP[tier]
    elif resource_type == "infra.load_balancer":
        units = LOAD_BALANCER_UNITS[tier]
        return ProviderSizing(instance_type=f"lb-size-unit-{units}", specs={"size_unit": units})
    elif resource_type == "infra.volume":
        gb = math.ceil(mebibytes(hints.storage or defaults.db_storage) / 1024)
        return ProviderSizing(instance_type=f"volume-{gb}gb", specs={"size_gb": gb})
    else:
        raise ConfigError(f"{resource_type}: the digitalocean provider has no sizes for it")
    return ProviderSizing(instance_type=slug, specs=specs)
