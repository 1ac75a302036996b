"""infra.cache: a DigitalOcean managed Valkey (or Redis) cluster."""

from __future__ import annotations

from providers.digitalocean.drivers.database import DatabaseDriver


class CacheDriver(DatabaseDriver):
    """Config as infra.database without db_names and users; engine valkey (or redis)."""

    resource_type = "infra.cache"
    DEFAULT_ENGINE = "valkey"
    UPDATABLE = frozenset({"instance_type", "num_nodes", "tags"})
    CHILDREN = False
