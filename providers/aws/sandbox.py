"""A moto server on loopback standing in for AWS: `make run`'s sandbox and the tests' cloud.

moto 5 leaves two holes in ElastiCache that a stack's destroy falls into, so the sandbox
fills them to behave like AWS (the drivers stay written for AWS):
- a deleted replication group stays in status "deleting" forever; AWS removes it after a
  few minutes, the sandbox on the next describe;
- DeleteCacheSubnetGroup is not implemented; the sandbox implements it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any


def start_sandbox(port: int = 0) -> tuple[str, Callable[[], None]]:
    """Start moto's threaded server on 127.0.0.1 (port 0: any free port).

    Returns the endpoint URL for provider config `endpoint_url` and a function that stops it.
    """
    # moto is a sandbox/test dependency only, so it is imported when a sandbox is wanted.
    from moto.server import ThreadedMotoServer

    _fill_moto_gaps()
    # One access-log line per API call drowns everything else the service prints.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound_port = server.get_host_and_port()
    return f"http://{host}:{bound_port}", server.stop


def _fill_moto_gaps() -> None:
    from moto.core.responses import EmptyResult
    from moto.elasticache.exceptions import CacheSubnetGroupNotFound
    from moto.elasticache.models import ElastiCacheBackend
    from moto.elasticache.responses import ElastiCacheResponse

    if getattr(ElastiCacheBackend, "_wfctl_filled", False):
        return
    describe = ElastiCacheBackend.describe_replication_groups

    def describe_replication_groups(self: Any, replication_group_id: str | None = None) -> Any:
        for group_id, group in list(self.replication_groups.items()):
            if group.status == "deleting":
                del self.replication_groups[group_id]
        return describe(self, replication_group_id)

    def delete_cache_subnet_group(self: Any, cache_subnet_group_name: str) -> None:
        if self.cache_subnet_groups.pop(cache_subnet_group_name, None) is None:
            raise CacheSubnetGroupNotFound(cache_subnet_group_name)

    def delete_cache_subnet_group_action(self: Any) -> EmptyResult:
        self.elasticache_backend.delete_cache_subnet_group(
            self._get_param("CacheSubnetGroupName")
        )
        return EmptyResult()

    ElastiCacheBackend.describe_replication_groups = describe_replication_groups
    ElastiCacheBackend.delete_cache_subnet_group = delete_cache_subnet_group
    ElastiCacheResponse.delete_cache_subnet_group = delete_cache_subnet_group_action
    ElastiCacheBackend._wfctl_filled = True


def main() -> None:
    """`python -m providers.aws.sandbox [port]`: run the sandbox until interrupted."""
    import sys
    import threading

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    url, stop = start_sandbox(port)
    print(f"AWS sandbox (moto) on {url}; Ctrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop()


if __name__ == "__main__":
    main()
