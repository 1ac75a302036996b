"""AWS instance types for wfctl's size tiers; hints override the tier's cpu, memory, storage."""

from __future__ import annotations

from interfaces import ProviderSizing, ResourceHints, Size
from providers.size_tiers import instance_sizing

COMPUTE = {
    Size.XS: "t3.micro",
    Size.S: "t3.small",
    Size.M: "m5.large",
    Size.L: "m5.2xlarge",
    Size.XL: "m5.4xlarge",
}
DATABASE = {
    Size.XS: "db.t3.micro",
    Size.S: "db.t3.small",
    Size.M: "db.r6g.large",
    Size.L: "db.r6g.2xlarge",
    Size.XL: "db.r6g.4xlarge",
}
CACHE = {
    Size.XS: "cache.t3.micro",
    Size.S: "cache.t3.small",
    Size.M: "cache.m5.large",
    Size.L: "cache.r6g.2xlarge",
    Size.XL: "cache.r6g.4xlarge",
}

def resolve_sizing(resource_type: str, size: Size, hints: ResourceHints | None) -> ProviderSizing:
    return instance_sizing(
        resource_type, size, hints, compute=COMPUTE, database=DATABASE, cache=CACHE
    )
