"""Azure SKUs for wfctl's size tiers; hints override the tier's cpu, memory and storage."""

from __future__ import annotations

from interfaces import ProviderSizing, ResourceHints, Size
from providers.size_tiers import instance_sizing

COMPUTE = {
    Size.XS: "Standard_B1s",
    Size.S: "Standard_B2s",
    Size.M: "Standard_D2s_v5",
    Size.L: "Standard_D4s_v5",
    Size.XL: "Standard_D8s_v5",
}
# Provisioned General Purpose (GP_Gen5_n) starts at 2 vCores; below that Azure SQL sells
# serverless compute only (GP_S_Gen5_n: auto-pauses when idle, billed per second used), so the
# two small tiers are serverless and the larger ones provisioned.
DATABASE = {
    Size.XS: "GP_S_Gen5_1",
    Size.S: "GP_S_Gen5_2",
    Size.M: "GP_Gen5_2",
    Size.L: "GP_Gen5_4",
    Size.XL: "GP_Gen5_8",
}
CACHE = {Size.XS: "C0", Size.S: "C1", Size.M: "C2", Size.L: "C3", Size.XL: "C4"}


def resolve_sizing(resource_type: str, size: Size, hints: ResourceHints | None) -> ProviderSizing:
    return instance_sizing(
        resource_type, size, hints, compute=COMPUTE, database=DATABASE, cache=CACHE
    )
