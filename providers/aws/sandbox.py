"""A moto server on loopback standing in for AWS: `make run`'s sandbox and the tests' cloud.

moto answers at once where AWS takes a while, and a few of those answers never change on
their own, which a stack's apply would wait on forever. The sandbox lets time pass as AWS
does, briefly, so a stack applies against it as against AWS (the drivers stay written for AWS):
- a new ECS service has no running tasks (moto: MOTO_ECS_SERVICE_RUNNING, default 0); the
  sandbox starts its desired tasks ECS_TASKS_START_AFTER seconds after the service is made;
- a requested ACM certificate stays PENDING_VALIDATION for MOTO_ACM_VALIDATION_WAIT seconds
  (moto's default 60); the sandbox issues it after ACM_VALIDATION_WAIT seconds unless that
  variable is set;
- a deleted ElastiCache replication group stays in status "deleting" forever; AWS removes
  it after a few minutes, the sandbox on the next describe;
- DeleteCacheSubnetGroup is not implemented; the sandbox implements it.

moto accepts any credentials, but boto3 signs nothing without some: on a machine that has
none, the sandbox puts dummy ones in its process environment, which the processes started
after it (`wfctl dev`'s worker) inherit. Real credentials, when found, are left alone.

A test can shorten the waits: ECS_TASKS_START_AFTER is read on each describe, and moto reads
moto.settings.ACM_VALIDATION_WAIT on each check.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

# Long enough that "just created, not healthy yet" is observable, short enough for a demo.
ECS_TASKS_START_AFTER = 3.0
ACM_VALIDATION_WAIT = 5


def start_sandbox(port: int = 0) -> tuple[str, Callable[[], None]]:
    """Start moto's threaded server on 127.0.0.1 (port 0: any free port).

    Returns the endpoint URL for provider config `endpoint_url` and a function that stops it.
    """
    # moto is a sandbox/test dependency only, so it is imported when a sandbox is wanted.
    from moto.server import ThreadedMotoServer

    _let_time_pass()
    _fill_moto_gaps()
    _dummy_credentials_if_none()
    # One access-log line per API call drowns everything else the service prints.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound_port = server.get_host_and_port()
    return f"http://{host}:{bound_port}", server.stop


def _dummy_credentials_if_none() -> None:
    import botocore.session

    if botocore.session.get_session().get_credentials() is None:
        os.environ["AWS_ACCESS_KEY_ID"] = "sandbox"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "sandbox"


def _let_time_pass() -> None:
    import moto.settings
    from moto.ecs.models import EC2ContainerServiceBackend, Service

    if getattr(Service, "_wfctl_filled", False):
        return
    if "MOTO_ACM_VALIDATION_WAIT" not in os.environ:
        moto.settings.ACM_VALIDATION_WAIT = ACM_VALIDATION_WAIT
    init = Service.__init__

    def service_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._wfctl_made_at = time.monotonic()

    describe = EC2ContainerServiceBackend.describe_services

    def describe_services(self: Any, cluster_str: str, names: list[str]) -> Any:
        services, failures = describe(self, cluster_str, names)
        for service in services:
            _start_tasks(self, service)
        return services, failures

    Service.__init__ = service_init
    EC2ContainerServiceBackend.describe_services = describe_services
    Service._wfctl_filled = True


def _start_tasks(backend: Any, service: Any) -> None:
    """Tasks of a service made long enough ago are running, as many as it wants."""
    made_at = getattr(service, "_wfctl_made_at", None)
    missing = service.desired_count - service.running_count
    if (
        made_at is None
        or service.status != "ACTIVE"
        or missing <= 0
        or time.monotonic() - made_at < ECS_TASKS_START_AFTER
    ):
        return
    cluster = backend.clusters.get(service.cluster_name)
    if cluster is not None:
        backend.update_cluster_resources(cluster, missing, task_state="RUNNING")
        backend.update_cluster_resources(cluster, -service.pending_count, task_state="PENDING")
    service.running_count = service.desired_count
    service.pending_count = 0
    for deployment in service.deployments[:1]:
        deployment.update(
            runningCount=service.desired_count,
            pendingCount=0,
            rolloutState="COMPLETED",
        )


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
