"""Lifecycle of the AWS drivers for container_service, load_balancer, registry, iam_role,
certificate and api_gateway, on a moto server over real HTTP.

Each type: create, a retried create adopting (one resource, not two), read, diff (none / in
place / force-new), update, health_check, delete twice, read after delete, import by natural
id through AwsProvider.import_resource (and an imported config diffs clean).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import moto.settings
import pytest
from temporalio.client import Client

from interfaces import ResourceRef, ResourceSpec, ResourceStatus
from interfaces.errors import NotFoundError, ProviderError, UnsupportedOperationError
from providers.aws import AwsProvider
from providers.aws.tags import NAME_TAG, STACK_TAG
from tests.iac_wf_support import iac_worker, start

if TYPE_CHECKING:
    from tests.aws_fixtures import ThrottlingProxy

pytest_plugins = ["tests.aws_fixtures"]

MakeProvider = Callable[..., AwsProvider]
Outputs = dict[str, Any]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def with_config(spec: ResourceSpec, changes: dict[str, Any]) -> ResourceSpec:
    return spec.model_copy(update={"config": {**spec.config, **changes}}, deep=True)


@dataclass
class Network:
    vpc_id: str
    subnets: list[str]
    security_groups: list[str]


def make_network(provider: AwsProvider) -> Network:
    """A VPC with two subnets in two zones and two security groups, made straight with EC2."""
    ec2 = provider.context.session.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.90.{i}.0/24", AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
        for i, zone in ((1, "us-east-1a"), (2, "us-east-1b"))
    ]
    groups = [
        ec2.create_security_group(GroupName=unique("sg"), Description="test", VpcId=vpc_id)[
            "GroupId"
        ]
        for _ in range(2)
    ]
    return Network(vpc_id, subnets, groups)


@dataclass
class Case:
    """One driver's lifecycle: the spec, an in-place change, a force-new change and checks."""

    spec: ResourceSpec
    update: dict[str, Any]
    force_new: dict[str, Any]
    count: Callable[[AwsProvider, str], int]
    check_created: Callable[[Outputs], None]
    check_updated: Callable[[Outputs], None]
    import_ids: Callable[[Outputs], list[str]]
    # Paths diff reports for `update`, when they are not its keys (service -> trust policy).
    update_paths: set[str] | None = None
    healthy_after_create: bool = True


def run_lifecycle(provider: AwsProvider, case: Case) -> None:
    spec = case.spec
    driver = provider.resource_driver(spec.type)
    created = driver.create(spec)
    assert created.provider_id and created.name == spec.name
    again = driver.create(spec)  # the worker died after the cloud call: the retry adopts
    assert again.provider_id == created.provider_id
    assert case.count(provider, created.provider_id) == 1
    ref = ResourceRef(name=spec.name, type=spec.type, provider_id=created.provider_id)

    current = driver.read(ref)
    case.check_created(current.outputs)
    assert driver.diff(spec, current).changes == []
    assert driver.health_check(ref).healthy is case.healthy_after_create

    updated_spec = with_config(spec, case.update)
    in_place = driver.diff(updated_spec, current)
    assert in_place.needs_update and not in_place.needs_replace
    assert {c.path for c in in_place.changes} == (case.update_paths or set(case.update))

    replace = driver.diff(with_config(spec, case.force_new), current)
    assert replace.needs_replace
    assert {c.path for c in replace.changes if c.force_new} == set(case.force_new)

    updated = driver.update(ref, updated_spec)
    assert updated.provider_id == created.provider_id
    case.check_updated(updated.outputs)
    assert driver.diff(updated_spec, driver.read(ref)).changes == []

    for given in case.import_ids(updated.outputs):
        state = provider.import_resource(given, spec.type)
        assert state.provider_id == created.provider_id and state.provider == "aws"
        imported = ResourceSpec(name=state.name, type=spec.type, config=state.applied_config)
        assert driver.diff(imported, driver.read(ref)).changes == []

    driver.delete(ref)
    driver.delete(ref)  # idempotent
    with pytest.raises(NotFoundError):
        driver.read(ref)
    assert case.count(provider, created.provider_id) == 0


# -- infra.registry ----------------------------------------------------------------------------

LIFECYCLE_POLICY = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "drop untagged after two weeks",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 14,
            },
            "action": {"type": "expire"},
        }
    ]
}


def registry_case(provider: AwsProvider) -> Case:
    ecr = provider.context.session.client("ecr")
    repository = unique("team/web")

    def count(provider: AwsProvider, provider_id: str) -> int:
        return sum(r["repositoryName"] == repository for r in ecr.describe_repositories()[
            "repositories"
        ])  # fmt: skip

    def created(outputs: Outputs) -> None:
        assert outputs["repository"] == repository
        assert outputs["repository_uri"].endswith(f".amazonaws.com/{repository}")
        assert outputs["scan_on_push"] is True and outputs["tag_mutability"] == "MUTABLE"
        assert outputs["lifecycle_policy"] is None and outputs["encryption"] == "AES256"
        assert outputs["tags"] == {"team": "shop"}

    def updated(outputs: Outputs) -> None:
        assert outputs["scan_on_push"] is False and outputs["tag_mutability"] == "IMMUTABLE"
        assert outputs["lifecycle_policy"] == LIFECYCLE_POLICY

    return Case(
        spec=ResourceSpec(
            name="images",
            type="infra.registry",
            config={"repository": repository, "tags": {"team": "shop"}},
        ),
        update={
            "scan_on_push": False,
            "tag_mutability": "immutable",
            "lifecycle_policy": json.dumps(LIFECYCLE_POLICY),
        },
        force_new={"repository": unique("team/api")},
        count=count,
        check_created=created,
        check_updated=updated,
        # The repository's name has a slash: an ARN import must keep all of it.
        import_ids=lambda outputs: [outputs["arn"], outputs["repository"]],
    )


# -- infra.iam_role ----------------------------------------------------------------------------


def iam_role_case(provider: AwsProvider) -> Case:
    iam = provider.context.session.client("iam")
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    policies = [
        iam.create_policy(
            PolicyName=unique("p"),
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )["Policy"]["Arn"]
        for _ in range(2)
    ]
    role_name = unique("wfctl-task")

    def count(provider: AwsProvider, provider_id: str) -> int:
        return sum(r["RoleName"] == role_name for r in iam.list_roles()["Roles"])

    def created(outputs: Outputs) -> None:
        assert outputs["role_name"] == role_name and outputs["arn"].endswith(f":role/{role_name}")
        principal = outputs["assume_role_policy"]["Statement"][0]["Principal"]
        assert principal == {"Service": ["ecs-tasks.amazonaws.com"]}
        assert outputs["policies"] == [policies[0]]
        assert outputs["max_session_duration"] == 3600

    def updated(outputs: Outputs) -> None:
        principal = outputs["assume_role_policy"]["Statement"][0]["Principal"]
        assert principal == {"Service": ["lambda.amazonaws.com"]}
        assert outputs["policies"] == [policies[1]]  # attached one, detached the other
        assert outputs["description"] == "runs the shop"
        assert outputs["max_session_duration"] == 7200

    return Case(
        spec=ResourceSpec(
            name="task-role",
            type="infra.iam_role",
            config={"role_name": role_name, "service": "ecs-tasks", "policies": [policies[0]]},
        ),
        update={
            "service": "lambda.amazonaws.com",
            "policies": [policies[1]],
            "description": "runs the shop",
            "max_session_duration": 7200,
        },
        update_paths={"assume_role_policy", "policies", "description", "max_session_duration"},
        force_new={"role_name": unique("other")},
        count=count,
        check_created=created,
        check_updated=updated,
        import_ids=lambda outputs: [outputs["arn"]],
    )


# -- infra.certificate -------------------------------------------------------------------------


def certificate_case(provider: AwsProvider) -> Case:
    acm = provider.context.session.client("acm")
    domain = f"{unique('shop')}.example.com"

    def count(provider: AwsProvider, provider_id: str) -> int:
        listed = acm.list_certificates()["CertificateSummaryList"]
        return sum(c["DomainName"] == domain for c in listed)

    def created(outputs: Outputs) -> None:
        assert outputs["domain_name"] == domain
        assert outputs["subject_alternative_names"] == [f"www.{domain}"]
        # moto keeps a requested certificate pending for MOTO_ACM_VALIDATION_WAIT (60 s).
        assert outputs["status"] == "PENDING_VALIDATION"
        records = outputs["validation_records"]
        assert [r["domain"] for r in records] == [domain, f"www.{domain}"]
        assert all(r["type"] == "CNAME" and r["name"].endswith(f"{r['domain']}.") for r in records)
        assert all(r["value"] for r in records)

    return Case(
        spec=ResourceSpec(
            name="cert",
            type="infra.certificate",
            config={"domain_name": domain, "subject_alternative_names": [f"www.{domain}", domain]},
        ),
        update={"tags": {"team": "edge"}},
        force_new={"domain_name": f"api.{domain}", "subject_alternative_names": []},
        count=count,
        check_created=created,
        check_updated=lambda outputs: None,
        import_ids=lambda outputs: [outputs["arn"]],
        healthy_after_create=False,
    )


# -- infra.api_gateway -------------------------------------------------------------------------


def api_gateway_case(provider: AwsProvider) -> Case:
    apigw = provider.context.session.client("apigatewayv2")

    def count(provider: AwsProvider, provider_id: str) -> int:
        stack = provider.context.stack
        return sum(
            (api.get("Tags") or {}).get(STACK_TAG) == stack
            and (api.get("Tags") or {}).get(NAME_TAG) == "api"
            for api in apigw.get_apis()["Items"]
        )

    def created(outputs: Outputs) -> None:
        assert outputs["protocol"] == "HTTP" and outputs["stage"] == "$default"
        assert outputs["auto_deploy"] is True
        assert outputs["invoke_url"] == outputs["endpoint"].rstrip("/")
        assert outputs["cors"] == {"allow_origins": ["https://shop.example.com"]}

    def updated(outputs: Outputs) -> None:
        assert outputs["description"] == "v2" and outputs["api_name"] == "shop-api-v2"
        # The stage was renamed: the old one is gone, the API is served under /prod.
        assert outputs["stage"] == "prod" and outputs["stages"] == ["prod"]
        assert outputs["invoke_url"] == f"{outputs['endpoint']}/prod"
        assert outputs["cors"]["allow_methods"] == ["GET", "POST"]

    return Case(
        spec=ResourceSpec(
            name="api",
            type="infra.api_gateway",
            config={"api_name": "shop-api", "cors": {"allow_origins": "https://shop.example.com"}},
        ),
        update={
            "api_name": "shop-api-v2",
            "description": "v2",
            "stage": "prod",
            "cors": {
                "allow_origins": ["https://shop.example.com"],
                "allow_methods": ["GET", "POST"],
            },
        },
        force_new={"protocol": "websocket"},
        count=count,
        check_created=created,
        check_updated=updated,
        import_ids=lambda outputs: [outputs["api_id"], outputs["arn"]],
    )


# -- infra.load_balancer -----------------------------------------------------------------------


def load_balancer_case(provider: AwsProvider) -> Case:
    elb = provider.context.session.client("elbv2")
    network = make_network(provider)
    lb_name = unique("shop-lb")

    def count(provider: AwsProvider, provider_id: str) -> int:
        balancers = [
            lb for lb in elb.describe_load_balancers()["LoadBalancers"]
            if lb["LoadBalancerName"] == lb_name
        ]  # fmt: skip
        groups = [
            tg for tg in elb.describe_target_groups()["TargetGroups"]
            if tg["TargetGroupName"] == lb_name
        ]  # fmt: skip
        assert len(groups) == len(balancers)
        for lb in balancers:
            listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])
            assert len(listeners["Listeners"]) == 1
        return len(balancers)

    def created(outputs: Outputs) -> None:
        assert outputs["lb_name"] == lb_name and outputs["state"] == "active"
        assert outputs["scheme"] == "internet-facing" and outputs["type"] == "application"
        assert outputs["subnets"] == sorted(network.subnets)
        assert outputs["security_groups"] == [network.security_groups[0]]
        assert outputs["vpc_id"] == network.vpc_id and outputs["dns_name"]
        assert (outputs["port"], outputs["protocol"]) == (80, "HTTP")
        assert outputs["target_group_arn"] and outputs["target_type"] == "ip"
        assert outputs["health_check_path"] == "/"

    def updated(outputs: Outputs) -> None:
        assert outputs["security_groups"] == sorted(network.security_groups)
        assert outputs["port"] == 8080 and outputs["health_check_path"] == "/healthz"

    return Case(
        spec=ResourceSpec(
            name="web-lb",
            type="infra.load_balancer",
            config={
                "lb_name": lb_name,
                "subnets": network.subnets,
                "security_groups": [network.security_groups[0]],
            },
        ),
        update={
            "security_groups": network.security_groups,
            "port": 8080,
            "health_check_path": "/healthz",
        },
        force_new={"scheme": "internal", "target_port": 8080},
        count=count,
        check_created=created,
        check_updated=updated,
        import_ids=lambda outputs: [outputs["arn"], outputs["lb_name"]],
    )


# -- infra.container_service -------------------------------------------------------------------


def container_service_case(provider: AwsProvider) -> Case:
    ecs = provider.context.session.client("ecs")
    network = make_network(provider)
    cluster = f"{provider.context.stack}-web"

    def count(provider: AwsProvider, provider_id: str) -> int:
        services = ecs.describe_services(cluster=cluster, services=[provider_id])["services"]
        families = ecs.list_task_definitions(familyPrefix=cluster, status="ACTIVE")
        live = [s for s in services if s["status"] == "ACTIVE"]
        # A retried create registers no second revision; delete deregisters them all.
        assert len(families["taskDefinitionArns"]) == (len(live) and 1)
        return len(live)

    def created(outputs: Outputs) -> None:
        assert outputs["cluster"] == cluster and outputs["service_name"] == cluster
        assert outputs["image"] == "nginx:1.27" and outputs["container_port"] == 80
        assert outputs["environment"] == {"MODE": "blue"}
        assert (outputs["cpu"], outputs["memory"]) == ("256", "512")
        assert outputs["desired_count"] == 1 and outputs["launch_type"] == "FARGATE"
        assert outputs["subnets"] == sorted(network.subnets)
        assert outputs["task_definition_arn"].endswith(":1")

    def updated(outputs: Outputs) -> None:
        assert outputs["image"] == "nginx:1.28" and outputs["environment"] == {"MODE": "green"}
        assert (outputs["cpu"], outputs["memory"]) == ("1024", "2048")
        assert outputs["desired_count"] == 2
        assert outputs["task_definition_arn"].endswith(":2")

    return Case(
        spec=ResourceSpec(
            name="web",
            type="infra.container_service",
            config={
                "image": "nginx:1.27",
                "container_port": 80,
                "environment": {"MODE": "blue"},
                # What the engine merges in from size xs.
                "cpu": "0.25",
                "memory": "512Mi",
                "instance_type": "t3.micro",
                "subnets": network.subnets,
                "security_groups": [network.security_groups[0]],
            },
        ),
        update={
            "image": "nginx:1.28",
            "environment": {"MODE": "green"},
            "cpu": "1",
            "memory": "2Gi",
            "desired_count": 2,
        },
        force_new={"service_name": "other", "launch_type": "EC2"},
        count=count,
        check_created=created,
        check_updated=updated,
        import_ids=lambda outputs: [outputs["arn"], f"{cluster}/{outputs['service_name']}"],
        # moto starts a service with no running tasks (MOTO_ECS_SERVICE_RUNNING=0).
        healthy_after_create=False,
    )


CASES: dict[str, Callable[[AwsProvider], Case]] = {
    "infra.registry": registry_case,
    "infra.iam_role": iam_role_case,
    "infra.certificate": certificate_case,
    "infra.api_gateway": api_gateway_case,
    "infra.load_balancer": load_balancer_case,
    "infra.container_service": container_service_case,
}


@pytest.mark.parametrize("resource_type", sorted(CASES))
def test_lifecycle(aws_provider: MakeProvider, resource_type: str) -> None:
    provider = aws_provider()
    run_lifecycle(provider, CASES[resource_type](provider))


# -- scale, health, adoption safety, wiring, throttling ----------------------------------------


def test_container_service_scales_and_health_counts_running_tasks(
    aws_provider: MakeProvider,
) -> None:
    provider = aws_provider()
    network = make_network(provider)
    driver = provider.resource_driver("infra.container_service")
    capability = {c.resource_type: c for c in provider.capabilities()}["infra.container_service"]
    assert "scale" in capability.operations
    spec = ResourceSpec(
        name="worker",
        type="infra.container_service",
        config={"image": "busybox:1", "subnets": network.subnets[:1],
                "security_groups": network.security_groups[:1]},
    )  # fmt: skip
    ref = ResourceRef(name="worker", type=spec.type, provider_id=driver.create(spec).provider_id)
    health = driver.health_check(ref)
    assert not health.healthy and "0/1 tasks running" in health.message

    scaled = driver.scale(ref, 3)
    assert scaled.outputs["desired_count"] == 3
    health = driver.health_check(ref)
    # moto reports a scaled service's tasks as running straight away.
    assert health.healthy and "3/3 tasks running" in health.message
    assert driver.scale(ref, 0).outputs["desired_count"] == 0
    with pytest.raises(ProviderError, match="cannot scale to -1") as caught:
        driver.scale(ref, -1)
    assert not caught.value.retryable
    driver.delete(ref)


@pytest.mark.parametrize("resource_type", sorted(set(CASES) - {"infra.container_service"}))
def test_scale_is_unsupported_for_the_others(
    aws_provider: MakeProvider, resource_type: str
) -> None:
    provider = aws_provider()
    capability = {c.resource_type: c for c in provider.capabilities()}[resource_type]
    assert "scale" not in capability.operations
    driver = provider.resource_driver(resource_type)
    with pytest.raises(UnsupportedOperationError, match=f"not supported for {resource_type}"):
        driver.scale(ResourceRef(name="x", type=resource_type, provider_id="x"), 2)


def test_certificate_is_healthy_once_acm_issues_it(
    aws_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = aws_provider().resource_driver("infra.certificate")
    domain = f"{unique('issue')}.example.com"
    spec = ResourceSpec(name="cert", type="infra.certificate", config={"domain_name": domain})
    created = driver.create(spec)
    assert created.status == ResourceStatus.PENDING
    ref = ResourceRef(name="cert", type=spec.type, provider_id=created.provider_id)
    health = driver.health_check(ref)
    assert not health.healthy
    assert "PENDING_VALIDATION" in health.message
    assert created.outputs["validation_records"][0]["name"] in health.message
    # moto's stand-in for "the validation records were published": its validation delay.
    monkeypatch.setattr(moto.settings, "ACM_VALIDATION_WAIT", 0)
    issued = driver.read(ref)
    assert issued.outputs["status"] == "ISSUED" and issued.status == ResourceStatus.READY
    assert driver.health_check(ref).healthy
    driver.delete(ref)


def test_create_refuses_to_adopt_what_is_not_its_own(aws_provider: MakeProvider) -> None:
    provider, other = aws_provider(), aws_provider()
    session = provider.context.session
    repository = unique("someone/else")
    session.client("ecr").create_repository(repositoryName=repository)
    role_name = unique("hand-made")
    session.client("iam").create_role(
        RoleName=role_name, AssumeRolePolicyDocument=json.dumps({"Statement": []})
    )
    network = make_network(provider)
    lb_spec = ResourceSpec(
        name="lb",
        type="infra.load_balancer",
        config={"lb_name": unique("taken"), "subnets": network.subnets,
                "security_groups": network.security_groups[:1]},
    )  # fmt: skip
    other.resource_driver("infra.load_balancer").create(lb_spec)
    refused = [
        ("infra.registry", {"repository": repository}),
        ("infra.iam_role", {"role_name": role_name, "service": "ecs-tasks"}),
        ("infra.load_balancer", lb_spec.config),
    ]
    for resource_type, config in refused:
        driver = provider.resource_driver(resource_type)
        with pytest.raises(ProviderError, match="not this resource's") as caught:
            driver.create(ResourceSpec(name="lb", type=resource_type, config=config))
        assert not caught.value.retryable


def test_container_service_behind_a_load_balancer_and_in_a_shared_cluster(
    aws_provider: MakeProvider,
) -> None:
    provider = aws_provider()
    ecs = provider.context.session.client("ecs")
    network = make_network(provider)
    shared = unique("shared")
    ecs.create_cluster(clusterName=shared)
    lb = provider.resource_driver("infra.load_balancer").create(
        ResourceSpec(
            name="lb",
            type="infra.load_balancer",
            config={"subnets": network.subnets, "security_groups": network.security_groups,
                    "target_port": 8080},
        )  # fmt: skip
    )
    driver = provider.resource_driver("infra.container_service")
    spec = ResourceSpec(
        name="api",
        type="infra.container_service",
        config={
            "image": "shop/api:7",
            "container_port": 8080,
            "target_group_arn": lb.outputs["target_group_arn"],
            "cluster": shared,
            "subnets": network.subnets,
            "security_groups": network.security_groups[1:],
            "assign_public_ip": True,
        },
    )
    created = driver.create(spec)
    assert created.outputs["target_group_arn"] == lb.outputs["target_group_arn"]
    assert created.outputs["cluster"] == shared and created.outputs["assign_public_ip"] is True
    assert driver.diff(spec, created).changes == []
    ref = ResourceRef(name="api", type=spec.type, provider_id=created.provider_id)
    driver.delete(ref)
    # The cluster was there before the service: it stays when the service goes.
    assert ecs.describe_clusters(clusters=[shared])["clusters"][0]["status"] == "ACTIVE"

    own = driver.create(with_config(spec, {"cluster": None, "target_group_arn": None}))
    own_cluster = own.outputs["cluster"]
    driver.delete(ResourceRef(name="api", type=spec.type, provider_id=own.provider_id))
    assert ecs.describe_clusters(clusters=[own_cluster])["clusters"][0]["status"] == "INACTIVE"


@pytest.mark.parametrize(
    ("resource_type", "action", "config"),
    [
        ("infra.registry", "CreateRepository", {}),
        ("infra.iam_role", "CreateRole", {"service": "ecs-tasks"}),
        ("infra.certificate", "RequestCertificate", {"domain_name": "throttle.example.com"}),
        ("infra.api_gateway", "POST /v2/apis", {}),
        ("infra.load_balancer", "CreateListener", {}),
        ("infra.container_service", "CreateService", {"image": "nginx:1"}),
    ],
)
def test_throttled_create_is_retryable_and_the_retry_makes_one(
    aws_provider: MakeProvider,
    throttling_proxy: Callable[..., ThrottlingProxy],
    resource_type: str,
    action: str,
    config: dict[str, Any],
) -> None:
    proxy = throttling_proxy(times=1, action=action)
    provider = aws_provider(endpoint_url=proxy.url)
    if resource_type in ("infra.load_balancer", "infra.container_service"):
        network = make_network(provider)
        config = {**config, "subnets": network.subnets,
                  "security_groups": network.security_groups[:1]}  # fmt: skip
    driver = provider.resource_driver(resource_type)
    spec = ResourceSpec(name=unique("t"), type=resource_type, config=config)
    with pytest.raises(ProviderError) as caught:
        driver.create(spec)
    assert caught.value.retryable and caught.value.code == "Throttling"
    assert f"{resource_type} '{spec.name}'" in str(caught.value)
    created = driver.create(spec)
    assert len(proxy.throttled) == 1
    if resource_type == "infra.container_service":
        # The first attempt registered the task definition: the retry reuses it.
        assert created.outputs["task_definition_arn"].endswith(":1")
    driver.delete(ResourceRef(name=spec.name, type=resource_type, provider_id=created.provider_id))


@pytest.mark.parametrize(
    ("resource_type", "config", "problem"),
    [
        ("infra.container_service", {}, "needs `image`"),
        ("infra.container_service", {"image": "x"}, "needs `subnets`"),
        ("infra.container_service", {"image": "x", "subnets": "s", "memory": "lots"}, "'lots'"),
        ("infra.load_balancer", {}, "needs `subnets`"),
        ("infra.load_balancer", {"subnets": ["s"], "scheme": "public"}, "scheme 'public'"),
        ("infra.registry", {"tag_mutability": "sometimes"}, "tag_mutability"),
        ("infra.iam_role", {}, "needs `service`"),
        ("infra.certificate", {}, "needs `domain_name`"),
        ("infra.api_gateway", {"protocol": "REST"}, "protocol 'REST'"),
        ("infra.api_gateway", {"protocol": "websocket"}, "needs `stage`"),
    ],
)
def test_invalid_config_is_a_final_error(
    aws_provider: MakeProvider, resource_type: str, config: dict[str, Any], problem: str
) -> None:
    driver = aws_provider().resource_driver(resource_type)
    with pytest.raises(ProviderError, match=problem) as caught:
        driver.create(ResourceSpec(name="bad", type=resource_type, config=config))
    assert not caught.value.retryable and caught.value.code == "InvalidConfig"


def test_update_of_an_imported_service_keeps_what_wfctl_does_not_manage(
    aws_provider: MakeProvider,
) -> None:
    provider = aws_provider()
    ecs = provider.context.session.client("ecs")
    network = make_network(provider)
    cluster, family = unique("legacy"), unique("legacy-api")
    ecs.create_cluster(clusterName=cluster)
    task = ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "api", "image": "shop/api:1", "command": ["serve"],
                               "portMappings": [{"containerPort": 9000}]}],
        cpu="512", memory="1024", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
    )["taskDefinition"]  # fmt: skip
    service = ecs.create_service(
        cluster=cluster, serviceName="api", taskDefinition=task["taskDefinitionArn"],
        desiredCount=1, launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {
            "subnets": network.subnets, "securityGroups": network.security_groups[:1]}},
    )["service"]  # fmt: skip

    state = provider.import_resource(service["serviceArn"], "infra.container_service")
    assert state.applied_config["image"] == "shop/api:1"
    assert (state.applied_config["cpu"], state.applied_config["memory"]) == ("512", "1024")
    driver = provider.resource_driver("infra.container_service")
    ref = ResourceRef(name="api", type="infra.container_service", provider_id=state.provider_id)
    spec = ResourceSpec(name="api", type="infra.container_service", config=state.applied_config)
    updated = driver.update(ref, with_config(spec, {"image": "shop/api:2"}))
    assert updated.outputs["image"] == "shop/api:2"
    assert updated.outputs["family"] == family and updated.outputs["container_name"] == "api"
    revision = ecs.describe_task_definition(taskDefinition=updated.outputs["task_definition_arn"])
    container = revision["taskDefinition"]["containerDefinitions"][0]
    assert container["command"] == ["serve"] and revision["taskDefinition"]["cpu"] == "512"
    driver.delete(ref)
    # Not made by wfctl: the cluster stays.
    assert ecs.describe_clusters(clusters=[cluster])["clusters"][0]["status"] == "ACTIVE"


def test_load_balancer_moves_to_https_with_an_issued_certificate(
    aws_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(moto.settings, "ACM_VALIDATION_WAIT", 0)
    provider = aws_provider()
    network = make_network(provider)
    certificate = provider.resource_driver("infra.certificate").create(
        ResourceSpec(name="cert", type="infra.certificate", config={"domain_name": "shop.example"})
    )
    assert certificate.outputs["status"] == "ISSUED"
    driver = provider.resource_driver("infra.load_balancer")
    spec = ResourceSpec(
        name="edge",
        type="infra.load_balancer",
        config={"subnets": network.subnets, "security_groups": network.security_groups[:1]},
    )
    created = driver.create(spec)
    assert (created.outputs["port"], created.outputs["protocol"]) == (80, "HTTP")
    https = with_config(spec, {"certificate_arn": certificate.provider_id, "port": 443})
    assert {c.path for c in driver.diff(https, created).changes} == {"certificate_arn", "port"}
    ref = ResourceRef(name="edge", type=spec.type, provider_id=created.provider_id)
    updated = driver.update(ref, https)
    assert (updated.outputs["port"], updated.outputs["protocol"]) == (443, "HTTPS")
    assert updated.outputs["certificate_arn"] == certificate.provider_id
    assert updated.outputs["listener_arn"] == created.outputs["listener_arn"]
    driver.delete(ref)


async def test_a_web_tier_applies_drifts_updates_and_destroys_through_the_workflows(
    client: Client,
    aws_provider: MakeProvider,
    moto_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # moto's stand-ins for time passing: tasks start at once, ACM issues at once.
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "1")
    monkeypatch.setattr(moto.settings, "ACM_VALIDATION_WAIT", 0)
    stack = unique("web")
    domain = f"{stack}.example.com"
    resources: list[dict[str, Any]] = [
        {"name": "net", "type": "infra.vpc",
         "config": {"cidr": "10.80.0.0/16", "subnets": ["10.80.1.0/24", "10.80.2.0/24"]}},
        {"name": "web-fw", "type": "infra.firewall",
         "config": {"vpc_id": "${net.outputs.vpc_id}",
                    "ingress": [{"port": 80, "cidr": "0.0.0.0/0"}]}},
        {"name": "task-role", "type": "infra.iam_role", "config": {"service": "ecs-tasks"}},
        {"name": "images", "type": "infra.registry", "config": {"scan_on_push": True}},
        {"name": "cert", "type": "infra.certificate", "config": {"domain_name": domain}},
        {"name": "lb", "type": "infra.load_balancer",
         "config": {"subnets": "${net.outputs.subnet_ids}",
                    "security_groups": ["${web-fw.outputs.security_group_id}"],
                    "target_port": 8080}},
        {"name": "web", "type": "infra.container_service", "size": "xs",
         "config": {"image": "${images.outputs.repository_uri}:1", "container_port": 8080,
                    "task_role_arn": "${task-role.outputs.arn}",
                    "target_group_arn": "${lb.outputs.target_group_arn}",
                    "subnets": "${net.outputs.subnet_ids}",
                    "security_groups": ["${web-fw.outputs.security_group_id}"]}},
        {"name": "api", "type": "infra.api_gateway", "config": {"description": "shop api"}},
    ]  # fmt: skip

    def document(**options: Any) -> dict[str, Any]:
        return {
            "stack": stack,
            "state": {"backend": "sqlite", "path": str(tmp_path / "state.db")},
            "providers": {"aws": {"type": "aws", "region": "us-east-1",
                                  "endpoint_url": moto_endpoint, "max_attempts": 1,
                                  "poll_interval": 0.05, "wait_timeout": 20}},
            "resources": resources,
            **options,
        }  # fmt: skip

    async with iac_worker(client) as queue:

        async def run(workflow: str, **options: Any) -> Any:
            return await (await start(client, workflow, queue, document(**options))).result()

        applied = await run("ApplyWorkflow", auto_approve=True)
        assert applied.status == "applied", applied.errors
        assert applied.counts == {"create": len(resources)}
        outputs = {r.name: r.outputs for r in applied.resources}
        web = outputs["web"]
        assert (web["cpu"], web["memory"]) == ("256", "512")  # size xs on Fargate
        assert web["image"] == f"{outputs['images']['repository_uri']}:1"
        assert web["target_group_arn"] == outputs["lb"]["target_group_arn"]
        assert web["task_role_arn"] == outputs["task-role"]["arn"]
        assert outputs["cert"]["status"] == "ISSUED"

        drift = await run("DriftWorkflow")
        assert not drift.drifted, drift.results

        resources[6]["config"]["image"] = "${images.outputs.repository_uri}:2"
        updated = await run("ApplyWorkflow", auto_approve=True)
        assert updated.status == "applied", updated.errors
        assert updated.counts == {"update": 1}
        web = next(r for r in updated.resources if r.name == "web").outputs
        assert web["image"].endswith(":2") and web["task_definition_arn"].endswith(":2")

        destroyed = await run("DestroyWorkflow", auto_approve=True)
    assert destroyed.status == "applied", destroyed.errors
    assert sorted(destroyed.destroyed) == sorted(r["name"] for r in resources)
    provider = aws_provider(stack=stack)
    for live in applied.resources:
        ref = ResourceRef(name=live.name, type=live.type, provider_id=live.provider_id)
        with pytest.raises(NotFoundError):
            provider.resource_driver(live.type).read(ref)
