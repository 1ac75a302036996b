"""infra.container_service: an ECS cluster, a task definition and the service running it."""

from __future__ import annotations

import math
import re
from typing import Any

from interfaces import HealthResult, ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from interfaces.errors import NotFoundError, ProviderError
from providers.aws import tags as awstags
from providers.aws.base import AwsDriver
from providers.driver_base import BASE_OPERATIONS

# Fields that live in the task definition: changing one registers a new revision.
TASK_FIELDS = ("image", "container_port", "environment", "cpu", "memory",
               "execution_role_arn", "task_role_arn")  # fmt: skip
# What DescribeTaskDefinition returns that RegisterTaskDefinition takes back.
_REGISTERABLE = ("taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions",
                 "volumes", "placementConstraints", "requiresCompatibilities", "cpu", "memory",
                 "runtimePlatform", "ephemeralStorage", "pidMode", "ipcMode",
                 "proxyConfiguration")  # fmt: skip
_MIB_PER_UNIT = {"ki": 1 / 1024, "k": 1 / 1024, "mi": 1, "m": 1, "gi": 1024, "g": 1024, "": 1}
_DEFAULT_CONTAINER = "app"


class ContainerServiceDriver(AwsDriver):
    """Config: image (required), container_port, environment (name -> value), cpu and memory
    (from the size tier, or set: cpu in vCPUs like 0.5 or ECS units like 512, memory like
    1Gi or MiB like 1024; 0.25 vCPU and 512Mi without either), desired_count (default 1),
    subnets (required) and security_groups (ids; the tasks use awsvpc networking),
    assign_public_ip (default false), launch_type (FARGATE default, or EC2),
    execution_role_arn, task_role_arn, target_group_arn (a load balancer's target group to
    register the container_port with), cluster (default <stack>-<name>; made when missing,
    deleted with the service only when it made it and nothing else runs there), service_name
    (default <stack>-<name>, also the task definition family), tags. scale(n) sets the
    desired count; health is every desired task running. On update, task definition
    settings the stack does not mention (a command, logging set elsewhere) are kept."""

    resource_type = "infra.container_service"
    FORCE_NEW = frozenset({"service_name", "cluster", "launch_type"})
    UPDATABLE = frozenset(
        {
            *TASK_FIELDS,
            "desired_count",
            "subnets",
            "security_groups",
            "assign_public_ip",
            "target_group_arn",
            "tags",
        }
    )
    OUTPUTS = frozenset({
        "arn", "assign_public_ip", "cluster", "cluster_arn", "container_name", "container_port",
        "cpu", "desired_count", "environment", "execution_role_arn", "family", "image",
        "launch_type", "memory", "pending_count", "running_count", "security_groups",
        "service_name", "subnets", "tags", "target_group_arn", "task_definition_arn",
        "task_role_arn"
    })
    OPERATIONS = (*BASE_OPERATIONS, "scale")

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        if not spec.config.get("image"):
            raise self.invalid(spec.name, "config needs `image`, for example nginx:1.27")
        if not spec.config.get("subnets"):
            raise self.invalid(spec.name, "config needs `subnets` (the tasks' subnet ids)")
        # Every value checked before the first call, so a bad one leaves nothing behind.
        for check in (self._cpu, self._memory, self._launch_type, self._desired_count):
            check(spec)
        self._wanted_task(spec, None)
        cluster, service_name = self.cluster_name(spec), self.service_name(spec)
        with self.errors(spec.name):
            service = self._service(cluster, service_name)
            if service is not None and service["status"] != "INACTIVE":
                if not awstags.is_ours(_tags(service), self.stack, spec.name):
                    raise ProviderError(
                        f"{self.describe(spec.name)}: service {service_name!r} already runs in "
                        f"cluster {cluster!r} and is not this resource's (import it to manage "
                        "it)",
                        code="ServiceAlreadyExists",
                    )
            # Recorded before the cluster and task definition are made: deleting
            # cluster/service removes them even when the service itself never came.
            self.made(f"{cluster}/{service_name}")
            self._ensure_cluster(cluster, spec)
            if service is None or service["status"] == "INACTIVE":
                task_definition = self._task_definition(spec, current=None)
                service = self.ecs.create_service(**self._create_params(spec, task_definition))[
                    "service"
                ]
                self.made(service["serviceArn"])
        ref = ResourceRef(name=spec.name, type=spec.type, provider_id=service["serviceArn"])
        return self.read(ref)

    def read(self, ref: ResourceRef) -> ResourceOutput:
        cluster, service_name = _split(ref.provider_id)
        with self.errors(ref.name):
            service = self._service(cluster, service_name)
            if service is None or service["status"] == "INACTIVE":
                raise NotFoundError(f"{self.describe(ref.name)}: no service {ref.provider_id!r}")
            task = self.ecs.describe_task_definition(taskDefinition=service["taskDefinition"])[
                "taskDefinition"
            ]
        container = task["containerDefinitions"][0]
        ports = container.get("portMappings") or [{}]
        network = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
        balancers = service.get("loadBalancers") or [{}]
        outputs = {
            "arn": service["serviceArn"],
            "service_name": service["serviceName"],
            "cluster": service["clusterArn"].rsplit("/", 1)[-1],
            "cluster_arn": service["clusterArn"],
            "task_definition_arn": task["taskDefinitionArn"],
            "family": task["family"],
            "container_name": container["name"],
            "image": container["image"],
            "container_port": ports[0].get("containerPort"),
            "environment": {e["name"]: e["value"] for e in container.get("environment", [])},
            "cpu": str(task.get("cpu", "")),
            "memory": str(task.get("memory", "")),
            "execution_role_arn": task.get("executionRoleArn", ""),
            "task_role_arn": task.get("taskRoleArn", ""),
            "desired_count": service["desiredCount"],
            "running_count": service.get("runningCount", 0),
            "pending_count": service.get("pendingCount", 0),
            "launch_type": service.get("launchType", ""),
            "subnets": sorted(network.get("subnets", [])),
            "security_groups": sorted(network.get("securityGroups", [])),
            "assign_public_ip": network.get("assignPublicIp") == "ENABLED",
            "target_group_arn": balancers[0].get("targetGroupArn", ""),
            "tags": awstags.user_tags(_tags(service)),
        }
        status = ResourceStatus.READY if service["status"] == "ACTIVE" else ResourceStatus.DELETING
        return self.output(ref.name, service["serviceArn"], outputs, status)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        cluster, service_name = _split(ref.provider_id)
        with self.errors(spec.name):
            service = self._service(cluster, service_name)
            if service is None or service["status"] == "INACTIVE":
                raise NotFoundError(f"{self.describe(ref.name)}: no service {ref.provider_id!r}")
            current = self.ecs.describe_task_definition(
                taskDefinition=service["taskDefinition"]
            )["taskDefinition"]
            changes: dict[str, Any] = {}
            task_definition = self._task_definition(spec, current=current)
            if task_definition != current["taskDefinitionArn"]:
                changes["taskDefinition"] = task_definition
            if "desired_count" in spec.config and (
                self._desired_count(spec) != service["desiredCount"]
            ):
                changes["desiredCount"] = self._desired_count(spec)
            network = self._network(spec, service)
            if network and network != _comparable_network(service):
                changes["networkConfiguration"] = network
            balancers = self._load_balancers(spec, current)
            if "target_group_arn" in spec.config and balancers != _comparable_balancers(service):
                changes["loadBalancers"] = balancers
            if changes:
                self.ecs.update_service(cluster=cluster, service=service_name, **changes)
            self._sync_tags(service["serviceArn"], _tags(service), spec)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        cluster, service_name = _split(ref.provider_id)
        with self.ignoring_missing(ref.name):
            service = self._service(cluster, service_name)
            if service is not None and service["status"] != "INACTIVE":
                # force: no need to scale to zero first; ECS stops the tasks.
                self.ecs.delete_service(cluster=cluster, service=service_name, force=True)
            if service is not None:
                self._deregister_family(_family(service["taskDefinition"]))
            else:
                # A create that died before its service: the revision it registered is left.
                self._deregister_family(service_name, self.stack, ref.name)
            self._delete_cluster_if_ours(cluster, service_name, ref)

    def scale(self, ref: ResourceRef, replicas: int) -> ResourceOutput:
        if replicas < 0:
            raise self.invalid(ref.name, f"cannot scale to {replicas} replicas")
        cluster, service_name = _split(ref.provider_id)
        with self.errors(ref.name):
            self.ecs.update_service(cluster=cluster, service=service_name, desiredCount=replicas)
        return self.read(ref)

    def health_check(self, ref: ResourceRef) -> HealthResult:
        current = self.read(ref)
        outputs = current.outputs
        running, desired = outputs["running_count"], outputs["desired_count"]
        message = f"{self.describe(ref.name)}: {running}/{desired} tasks running"
        if current.status != ResourceStatus.READY:
            return HealthResult(healthy=False, message=f"{message}, service is being deleted")
        return HealthResult(healthy=running >= desired, message=message)

    def natural_id(self, provider_id: str) -> str:
        return provider_id  # the service ARN, or "cluster/service"

    # -- parts ----------------------------------------------------------------------------

    @property
    def ecs(self) -> Any:
        return self.client("ecs")

    def cluster_name(self, spec: ResourceSpec) -> str:
        return _ecs_name(str(spec.config.get("cluster") or f"{self.stack}-{spec.name}"))

    def service_name(self, spec: ResourceSpec) -> str:
        return _ecs_name(str(spec.config.get("service_name") or f"{self.stack}-{spec.name}"))

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "cluster" in fields:
            fields["cluster"] = self.cluster_name(spec)
        if "service_name" in fields:
            fields["service_name"] = self.service_name(spec)
        if "launch_type" in fields:
            fields["launch_type"] = self._launch_type(spec)
        if "cpu" in fields:
            fields["cpu"] = self._cpu(spec)
        if "memory" in fields:
            fields["memory"] = self._memory(spec)
        if "environment" in fields:
            fields["environment"] = self._environment(spec)
        if "assign_public_ip" in fields:
            fields["assign_public_ip"] = bool(fields["assign_public_ip"])
        return fields

    def _service(self, cluster: str, service_name: str) -> dict[str, Any] | None:
        try:
            found = self.ecs.describe_services(
                cluster=cluster, services=[service_name], include=["TAGS"]
            )
        except self.ecs.exceptions.ClusterNotFoundException:
            return None
        return found["services"][0] if found["services"] else None

    def _ensure_cluster(self, cluster: str, spec: ResourceSpec) -> None:
        found = self.ecs.describe_clusters(clusters=[cluster])["clusters"]
        if found and found[0]["status"] == "ACTIVE":
            return
        # CreateCluster is idempotent by name: a retry gets the same cluster back.
        self.ecs.create_cluster(
            clusterName=cluster, tags=awstags.tag_list(self.tags_for(spec), "key", "value")
        )

    def _delete_cluster_if_ours(self, cluster: str, service_name: str, ref: ResourceRef) -> None:
        found = self.ecs.describe_clusters(clusters=[cluster], include=["TAGS"])["clusters"]
        if not found or found[0]["status"] != "ACTIVE":
            return
        if not awstags.is_ours(_tags(found[0]), self.stack, ref.name):
            return  # a shared cluster someone else made: not ours to remove
        if self._other_services(cluster, service_name):
            return
        # ECS refuses to delete a cluster while the service drains (its tasks stop and leave
        # the load balancer first), which can take longer than a dependency retry allows.
        self.wait(
            lambda: self._gone(cluster, service_name),
            f"{self.describe(ref.name)} service {service_name!r} to drain",
        )
        self.retry_while(
            {"ClusterContainsServicesException", "ClusterContainsTasksException"},
            lambda: self.ecs.delete_cluster(cluster=cluster),
            ref.name,
            f"{self.describe(ref.name)} cluster {cluster!r} to empty",
        )

    def _gone(self, cluster: str, service_name: str) -> bool | None:
        service = self._service(cluster, service_name)
        return True if service is None or service["status"] == "INACTIVE" else None

    def _other_services(self, cluster: str, service_name: str) -> list[str]:
        """Services other than ours still active or draining in `cluster`."""
        arns = [
            arn
            for page in self.ecs.get_paginator("list_services").paginate(cluster=cluster)
            for arn in page["serviceArns"]
            if arn.rsplit("/", 1)[-1] != service_name
        ]
        live = []
        for start in range(0, len(arns), 10):  # describe_services takes 10 at a time
            found = self.ecs.describe_services(cluster=cluster, services=arns[start : start + 10])
            live += [s["serviceArn"] for s in found["services"] if s["status"] != "INACTIVE"]
        return live

    def _deregister_family(self, family: str, stack: str = "", name: str = "") -> None:
        """Deregister the family's active revisions (with `stack`, only those tagged as
        resource `name` of it)."""
        pages = self.ecs.get_paginator("list_task_definitions").paginate(
            familyPrefix=family, status="ACTIVE"
        )
        for page in pages:
            for arn in page["taskDefinitionArns"]:
                # familyPrefix is a prefix: "web" also lists "web-admin".
                if _family(arn) != family:
                    continue
                if stack:
                    found = self.ecs.list_tags_for_resource(resourceArn=arn).get("tags")
                    if not awstags.is_ours(awstags.tags_from_list(found, "key", "value"),
                                           stack, name):  # fmt: skip
                        continue
                self.ecs.deregister_task_definition(taskDefinition=arn)

    def _launch_type(self, spec: ResourceSpec) -> str:
        launch_type = str(spec.config.get("launch_type") or "FARGATE").upper()
        if launch_type not in ("FARGATE", "EC2"):
            raise self.invalid(spec.name, f"launch_type {launch_type!r} is not FARGATE or EC2")
        return launch_type

    def _cpu(self, spec: ResourceSpec) -> str:
        raw = spec.config.get("cpu") or "0.25"
        try:
            value = float(str(raw).strip())
        except ValueError:
            raise self.invalid(spec.name, f"cpu {raw!r} is not a number of vCPUs") from None
        # Up to 16 it is vCPUs (the size tiers' unit); above, ECS's 1024-per-vCPU units.
        return str(round(value * 1024) if value <= 16 else round(value))

    def _memory(self, spec: ResourceSpec) -> str:
        raw = str(spec.config.get("memory") or "512Mi")
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", raw)
        unit = match.group(2).lower().removesuffix("b") if match else ""
        if not match or unit not in _MIB_PER_UNIT:
            raise self.invalid(spec.name, f"memory {raw!r} is not a size like 512Mi or 2Gi")
        return str(math.ceil(float(match.group(1)) * _MIB_PER_UNIT[unit]))

    def _environment(self, spec: ResourceSpec) -> dict[str, str]:
        environment = spec.config.get("environment") or {}
        if not isinstance(environment, dict):
            raise self.invalid(spec.name, "environment must be a mapping of name to value")
        return {str(k): str(v) for k, v in environment.items()}

    def _desired_count(self, spec: ResourceSpec) -> int:
        count = int(spec.config.get("desired_count", 1))
        if count < 0:
            raise self.invalid(spec.name, f"desired_count {count} is negative")
        return count

    def _list(self, spec: ResourceSpec, key: str) -> list[str]:
        value = spec.config.get(key) or []
        return sorted([value] if isinstance(value, str) else [str(v) for v in value])

    def _network(
        self, spec: ResourceSpec, service: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """The awsvpc configuration the spec asks for; what it leaves out stays as it is."""
        current = (_comparable_network(service or {}) or {}).get("awsvpcConfiguration", {})
        subnets = self._list(spec, "subnets") or current.get("subnets", [])
        if not subnets:
            return None
        groups = self._list(spec, "security_groups")
        if "security_groups" not in spec.config:
            groups = current.get("securityGroups", [])
        public = bool(spec.config.get("assign_public_ip"))
        if "assign_public_ip" not in spec.config and current:
            public = current.get("assignPublicIp") == "ENABLED"
        return {
            "awsvpcConfiguration": {
                "subnets": subnets,
                "securityGroups": groups,
                "assignPublicIp": "ENABLED" if public else "DISABLED",
            }
        }

    def _load_balancers(
        self, spec: ResourceSpec, task: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        target_group = spec.config.get("target_group_arn")
        if not target_group:
            return []
        if not spec.config.get("container_port"):
            raise self.invalid(spec.name, "target_group_arn needs container_port")
        return [
            {
                "targetGroupArn": str(target_group),
                "containerName": _container_name(task),
                "containerPort": int(spec.config["container_port"]),
            }
        ]

    def _wanted_task(self, spec: ResourceSpec, current: dict[str, Any] | None) -> dict[str, Any]:
        """The task definition to register: the current one (settings made outside wfctl
        stay) with the fields the spec sets; on create, the spec with defaults."""
        config = current or {}
        task = {k: config[k] for k in _REGISTERABLE if config.get(k) not in (None, "", [], {})}
        task["family"] = config.get("family") or self.service_name(spec)
        task.setdefault("networkMode", "awsvpc")
        containers = [dict(c) for c in config.get("containerDefinitions") or [{}]]
        container = containers[0]
        container.setdefault("name", _DEFAULT_CONTAINER)
        container.setdefault("essential", True)
        container["image"] = str(spec.config["image"])
        if current is None or "environment" in spec.config:
            container["environment"] = [
                {"name": k, "value": v} for k, v in sorted(self._environment(spec).items())
            ]
        if current is None or "container_port" in spec.config:
            port = spec.config.get("container_port")
            container["portMappings"] = (
                [{"containerPort": int(port), "protocol": "tcp"}] if port else []
            )
        task["containerDefinitions"] = containers
        if current is None or "cpu" in spec.config:
            task["cpu"] = self._cpu(spec)
        if current is None or "memory" in spec.config:
            task["memory"] = self._memory(spec)
        if current is None or "launch_type" in spec.config:
            task["requiresCompatibilities"] = [self._launch_type(spec)]
        for key, field in (("executionRoleArn", "execution_role_arn"),
                           ("taskRoleArn", "task_role_arn")):  # fmt: skip
            if field in spec.config:
                task.pop(key, None)
                if spec.config[field]:
                    task[key] = str(spec.config[field])
        return task

    def _task_definition(self, spec: ResourceSpec, current: dict[str, Any] | None) -> str:
        """The ARN of a task definition revision matching the spec: the service's current one
        or the family's latest when they match (a retried create, an update touching only
        the service), else a newly registered revision."""
        wanted = self._wanted_task(spec, current)
        candidates = [current] if current is not None else []
        try:
            latest = self.ecs.describe_task_definition(taskDefinition=wanted["family"])[
                "taskDefinition"
            ]
        except self.ecs.exceptions.ClientException:
            latest = None  # the family has no active revision yet
        if latest is not None and latest.get("status") == "ACTIVE":
            candidates.append(latest)
        for candidate in candidates:
            if _task_view(candidate) == _task_view(wanted):
                return str(candidate["taskDefinitionArn"])
        registered = self.ecs.register_task_definition(
            **wanted, tags=awstags.tag_list(self.tags_for(spec), "key", "value")
        )
        return str(registered["taskDefinition"]["taskDefinitionArn"])

    def _create_params(self, spec: ResourceSpec, task_definition: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "cluster": self.cluster_name(spec),
            "serviceName": self.service_name(spec),
            "taskDefinition": task_definition,
            "desiredCount": self._desired_count(spec),
            "launchType": self._launch_type(spec),
            "tags": awstags.tag_list(self.tags_for(spec), "key", "value"),
            "propagateTags": "SERVICE",
        }
        network = self._network(spec, None)
        if network:
            params["networkConfiguration"] = network
        balancers = self._load_balancers(spec, None)
        if balancers:
            params["loadBalancers"] = balancers
        return params

    def _sync_tags(self, arn: str, current: dict[str, str], spec: ResourceSpec) -> None:
        to_set, to_remove = awstags.tag_changes(current, self.tags_for(spec))
        if to_set:
            self.ecs.tag_resource(
                resourceArn=arn, tags=awstags.tag_list(to_set, "key", "value")
            )
        if to_remove:
            self.ecs.untag_resource(resourceArn=arn, tagKeys=to_remove)


def _split(provider_id: str) -> tuple[str, str]:
    """(cluster, service) from a service ARN or "cluster/service"."""
    path = provider_id.split(":", 5)[-1] if provider_id.startswith("arn:") else provider_id
    parts = path.removeprefix("service/").split("/")
    if len(parts) != 2 or not all(parts):
        raise ProviderError(
            f"aws infra.container_service: {provider_id!r} is not a service ARN "
            "(arn:aws:ecs:<region>:<account>:service/<cluster>/<service>) or cluster/service",
            code="InvalidConfig",
        )
    return parts[0], parts[1]


def _family(task_definition_arn: str) -> str:
    return task_definition_arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def _ecs_name(wanted: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", wanted).strip("-")[:255]


def _tags(item: dict[str, Any]) -> dict[str, str]:
    return awstags.tags_from_list(item.get("tags"), "key", "value")


def _container_name(task: dict[str, Any] | None) -> str:
    # Keep an existing container's name: a load balancer registration refers to it.
    if task and task.get("containerDefinitions"):
        return str(task["containerDefinitions"][0]["name"])
    return _DEFAULT_CONTAINER


def _task_view(task: dict[str, Any]) -> dict[str, Any]:
    """What this driver manages of a task definition, to tell whether two revisions match."""
    container = (task.get("containerDefinitions") or [{}])[0]
    return {
        "container": container.get("name"),
        "image": container.get("image"),
        "ports": [p.get("containerPort") for p in container.get("portMappings") or []],
        "environment": {e["name"]: e["value"] for e in container.get("environment") or []},
        "cpu": str(task.get("cpu", "")),
        "memory": str(task.get("memory", "")),
        "execution_role": task.get("executionRoleArn", ""),
        "task_role": task.get("taskRoleArn", ""),
        "compatibilities": sorted(task.get("requiresCompatibilities") or []),
        "network_mode": task.get("networkMode", ""),
    }


def _comparable_network(service: dict[str, Any]) -> dict[str, Any] | None:
    network = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration")
    if not network:
        return None
    return {
        "awsvpcConfiguration": {
            "subnets": sorted(network.get("subnets", [])),
            "securityGroups": sorted(network.get("securityGroups", [])),
            "assignPublicIp": network.get("assignPublicIp", "DISABLED"),
        }
    }


def _comparable_balancers(service: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "targetGroupArn": b.get("targetGroupArn"),
            "containerName": b.get("containerName"),
            "containerPort": b.get("containerPort"),
        }
        for b in service.get("loadBalancers") or []
    ]
