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
- DeleteCacheSubnetGroup is not implemented; the sandbox implements it;
- a CloudFront distribution is Deployed at once and stays so through updates, and moto
  takes any If-Match and deletes an enabled distribution; as on AWS, the sandbox keeps a
  new or updated distribution InProgress for CLOUDFRONT_DEPLOY_POLLS reads, answers a stale
  If-Match with PreconditionFailed and refuses to delete a distribution that is enabled or
  not yet Deployed (DistributionNotDisabled);
- an ElastiCache replication group lists member clusters that do not exist (and only one,
  whatever NumCacheClusters says); as on AWS, the sandbox makes one cache cluster per member,
  carrying the group's engine version, subnet group and security groups, applies
  ModifyReplicationGroup's EngineVersion and SecurityGroupIds to them (moto ignores both) and
  removes them with their group.

moto accepts any credentials, but boto3 signs nothing without some: on a machine that has
none, the sandbox puts dummy ones in its process environment, which the processes started
after it (`wfctl dev`'s worker) inherit. Real credentials, when found, are left alone.

A test can shorten the waits: ECS_TASKS_START_AFTER is read on each describe, and moto reads
moto.settings.ACM_VALIDATION_WAIT on each check.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Callable
from typing import Any

# Long enough that "just created, not healthy yet" is observable, short enough for a demo.
ECS_TASKS_START_AFTER = 3.0
ACM_VALIDATION_WAIT = 5
CLOUDFRONT_DEPLOY_POLLS = 3


def start_sandbox(port: int = 0) -> tuple[str, Callable[[], None]]:
    """Start moto's threaded server on 127.0.0.1 (port 0: any free port).

    Returns the endpoint URL for provider config `endpoint_url` and a function that stops it.
    """
    # moto is a sandbox/test dependency only, so it is imported when a sandbox is wanted.
    from moto.server import ThreadedMotoServer

    _let_time_pass()
    _fill_moto_gaps()
    _fill_cloudfront_gaps()
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
    create_group = ElastiCacheBackend.create_replication_group
    modify_group = ElastiCacheResponse.modify_replication_group

    def describe_replication_groups(self: Any, replication_group_id: str | None = None) -> Any:
        for group_id, group in list(self.replication_groups.items()):
            if group.status == "deleting":
                del self.replication_groups[group_id]
                for member in _member_clusters(self, group_id):
                    del self.cache_clusters[member.cache_cluster_id]
        return describe(self, replication_group_id)

    def create_replication_group(self: Any, **kwargs: Any) -> Any:
        group = create_group(self, **kwargs)
        if group.cluster_mode != "enabled":
            wanted = kwargs.get("num_cache_clusters") or len(group.member_clusters)
            group.member_clusters += [
                f"{group.replication_group_id}-{n:0>3}"
                for n in range(len(group.member_clusters) + 1, wanted + 1)
            ]
        _make_member_clusters(self, group)
        return group

    def modify_replication_group(self: Any) -> Any:
        backend = self.elasticache_backend
        group_id = self._get_param("ReplicationGroupId")
        version = self._get_param("EngineVersion")
        security_group_ids = self._get_param("SecurityGroupIds")
        result = modify_group(self)
        for member in _member_clusters(backend, group_id):
            if version is not None:
                member.engine_version = version
            if security_group_ids is not None:
                _set_security_groups(member, security_group_ids)
        return result

    def delete_cache_subnet_group(self: Any, cache_subnet_group_name: str) -> None:
        if self.cache_subnet_groups.pop(cache_subnet_group_name, None) is None:
            raise CacheSubnetGroupNotFound(cache_subnet_group_name)

    def delete_cache_subnet_group_action(self: Any) -> EmptyResult:
        self.elasticache_backend.delete_cache_subnet_group(
            self._get_param("CacheSubnetGroupName")
        )
        return EmptyResult()

    ElastiCacheBackend.describe_replication_groups = describe_replication_groups
    ElastiCacheBackend.create_replication_group = create_replication_group
    ElastiCacheResponse.modify_replication_group = modify_replication_group
    ElastiCacheBackend.delete_cache_subnet_group = delete_cache_subnet_group
    ElastiCacheResponse.delete_cache_subnet_group = delete_cache_subnet_group_action
    ElastiCacheBackend._wfctl_filled = True


# The version AWS picks when a replication group names none (its newest at the time).
DEFAULT_ENGINE_VERSIONS = {"redis": "7.1.0", "valkey": "8.0.1"}


def _make_member_clusters(backend: Any, group: Any) -> None:
    engine = group.engine or "redis"
    # create_cache_cluster takes every CreateCacheCluster parameter, none optional.
    params = dict.fromkeys(inspect.signature(backend.create_cache_cluster).parameters)
    for member_id in group.member_clusters:
        member = backend.create_cache_cluster(**{
            **params, "cache_cluster_id": member_id,
            "replication_group_id": group.replication_group_id,
            "cache_node_type": group.cache_node_type, "engine": engine,
            "engine_version": group.engine_version or DEFAULT_ENGINE_VERSIONS.get(engine, ""),
            "cache_subnet_group_name": group.cache_subnet_group_name, "port": group.port,
            "transit_encryption_enabled": group.transit_encryption_enabled,
            "snapshot_retention_limit": group.snapshot_retention_limit,
        })  # fmt: skip
        _set_security_groups(member, group.security_group_ids or [])


def _member_clusters(backend: Any, group_id: str) -> list[Any]:
    return [c for c in backend.cache_clusters.values() if c.replication_group_id == group_id]


def _set_security_groups(member: Any, security_group_ids: list[str]) -> None:
    # DescribeCacheClusters renders `security_groups`; moto keeps only the ids it was given.
    member.security_group_ids = list(security_group_ids)
    member.security_groups = [
        {"SecurityGroupId": sg, "Status": "active"} for sg in security_group_ids
    ]


def _fill_cloudfront_gaps() -> None:
    from moto.cloudfront.exceptions import CloudFrontException
    from moto.cloudfront.models import CloudFrontBackend, random_id
    from moto.moto_api import state_manager

    if getattr(CloudFrontBackend, "_wfctl_filled", False):
        return
    # Each read of a distribution counts; after this many it moves InProgress -> Deployed.
    state_manager.set_transition(
        "cloudfront::distribution", {"progression": "manual", "times": CLOUDFRONT_DEPLOY_POLLS}
    )
    update = CloudFrontBackend.update_distribution
    delete = CloudFrontBackend.delete_distribution

    def check_if_match(backend: Any, distribution_id: str, if_match: Any) -> Any:
        dist = backend.distributions.get(distribution_id)
        if dist is not None and if_match and if_match != dist.etag:
            raise CloudFrontException(
                "PreconditionFailed",
                "The precondition given in one or more of the request header fields "
                "evaluated to false.",
            )
        return dist

    def update_distribution(self: Any, dist_config: Any, _id: str, if_match: Any) -> Any:
        check_if_match(self, _id, if_match)
        dist, location, _ = update(self, dist_config, _id, if_match)
        dist.status = "InProgress"
        dist._tick = 0
        dist.etag = random_id()
        return dist, location, dist.etag

    def delete_distribution(self: Any, distribution_id: str, if_match: Any) -> None:
        dist = check_if_match(self, distribution_id, if_match)
        enabled = dist is not None and _enabled(getattr(dist.distribution_config, "Enabled", 0))
        if dist is not None and if_match and (enabled or dist.status != "Deployed"):
            raise CloudFrontException(
                "DistributionNotDisabled",
                "The distribution you are trying to delete has not been disabled.",
            )
        delete(self, distribution_id, if_match)

    CloudFrontBackend.update_distribution = update_distribution
    CloudFrontBackend.delete_distribution = delete_distribution
    CloudFrontBackend._wfctl_filled = True


def _enabled(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


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
