"""Lifecycle of the core AWS drivers (vpc, firewall, database, cache, storage, dns) on moto.

Real boto3 calls over HTTP to a moto server on loopback: create, adopt on a retried create,
read, diff (none / in place / force-new), update, health_check, delete twice, read after
delete, import by natural id, and throttling classified retryable.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from engine.iac.references import resolve_references
from engine.iac.sizing import apply_sizing
from engine.iac.stack import load_stack_file
from interfaces import ResourceRef, ResourceSpec
from interfaces.errors import NotFoundError, ProviderError, UnsupportedOperationError
from providers.aws import AwsProvider
from providers.aws.tags import NAME_TAG, STACK_TAG

if TYPE_CHECKING:
    from tests.aws_fixtures import ThrottlingProxy

pytest_plugins = ["tests.aws_fixtures"]

MakeProvider = Callable[..., AwsProvider]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@dataclass
class Case:
    """One driver's lifecycle: the spec, an in-place change and a force-new change."""

    spec: ResourceSpec
    update: dict[str, Any]
    force_new: dict[str, Any]
    check_created: Callable[[dict[str, Any]], None] = lambda outputs: None
    check_updated: Callable[[dict[str, Any]], None] = lambda outputs: None
    count: Callable[[AwsProvider, ResourceSpec], int] | None = None
    # Builds what the resource needs around it (a VPC...) and returns config to add.
    prepare: Callable[[AwsProvider], dict[str, Any]] = lambda provider: {}


def with_config(spec: ResourceSpec, changes: dict[str, Any]) -> ResourceSpec:
    return spec.model_copy(update={"config": {**spec.config, **changes}}, deep=True)


def run_lifecycle(provider: AwsProvider, case: Case) -> None:
    case.spec = with_config(case.spec, case.prepare(provider))
    driver = provider.resource_driver(case.spec.type)
    created = driver.create(case.spec)
    assert created.provider_id and created.name == case.spec.name
    # A retried create (the worker died after the cloud call) adopts instead of duplicating.
    again = driver.create(case.spec)
    assert again.provider_id == created.provider_id
    if case.count is not None:
        assert case.count(provider, case.spec) == 1
    ref = ResourceRef(name=case.spec.name, type=case.spec.type, provider_id=created.provider_id)

    current = driver.read(ref)
    case.check_created(current.outputs)
    assert driver.diff(case.spec, current).changes == []

    updated_spec = with_config(case.spec, case.update)
    in_place = driver.diff(updated_spec, current)
    assert in_place.needs_update and not in_place.needs_replace
    assert {c.path for c in in_place.changes} == set(case.update)

    replaced_spec = with_config(case.spec, case.force_new)
    replace = driver.diff(replaced_spec, current)
    assert replace.needs_replace
    assert {c.path for c in replace.changes if c.force_new} == set(case.force_new)

    updated = driver.update(ref, updated_spec)
    case.check_updated(updated.outputs)
    assert driver.diff(updated_spec, driver.read(ref)).changes == []
    health = driver.health_check(ref)
    assert health.healthy, health.message

    driver.delete(ref)
    driver.delete(ref)  # idempotent
    with pytest.raises(NotFoundError):
        driver.read(ref)


def network(provider: AwsProvider) -> dict[str, Any]:
    """A VPC with two subnets in two zones, made with boto3 directly."""
    ec2 = provider.context.session.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.50.{i}.0/24", AvailabilityZone=az)[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate(("us-east-1a", "us-east-1b"))
    ]
    return {"vpc_id": vpc_id, "subnet_ids": subnet_ids}


# -- infra.vpc -------------------------------------------------------------------------------


def vpc_count(provider: AwsProvider, spec: ResourceSpec) -> int:
    ec2 = provider.context.session.client("ec2")
    return len(
        ec2.describe_vpcs(
            Filters=[
                {"Name": f"tag:{STACK_TAG}", "Values": [provider.context.stack]},
                {"Name": f"tag:{NAME_TAG}", "Values": [spec.name]},
            ]
        )["Vpcs"]
    )


def vpc_case() -> Case:
    spec = ResourceSpec(
        name="net",
        type="infra.vpc",
        config={
            "cidr": "10.20.0.0/16",
            "subnets": ["10.20.1.0/24", {"cidr": "10.20.2.0/24", "az": "us-east-1b"}],
            "public": True,
            "tags": {"team": "shop"},
        },
    )

    def created(outputs: dict[str, Any]) -> None:
        assert outputs["cidr"] == "10.20.0.0/16"
        assert outputs["subnets"] == ["10.20.1.0/24", "10.20.2.0/24"]
        assert len(set(outputs["availability_zones"])) == 2
        assert outputs["public"] and outputs["internet_gateway_id"].startswith("igw-")
        assert outputs["tags"] == {"team": "shop"}

    def updated(outputs: dict[str, Any]) -> None:
        assert outputs["subnets"] == ["10.20.1.0/24", "10.20.3.0/24"]
        assert not outputs["public"] and outputs["internet_gateway_id"] == ""

    return Case(
        spec=spec,
        update={"subnets": ["10.20.1.0/24", "10.20.3.0/24"], "public": False},
        force_new={"cidr": "10.30.0.0/16"},
        check_created=created,
        check_updated=updated,
        count=vpc_count,
    )


# -- infra.firewall --------------------------------------------------------------------------


def firewall_case() -> Case:
    spec = ResourceSpec(
        name="web-fw",
        type="infra.firewall",
        config={
            "description": "web tier",
            "ingress": [
                {"protocol": "tcp", "port": 443, "cidr": "0.0.0.0/0"},
                {"protocol": "tcp", "port": "8000-8100", "cidrs": ["10.0.0.0/16", "10.1.0.0/16"]},
            ],
            "egress": [{"protocol": "all", "cidr": "0.0.0.0/0"}],
        },
    )

    def created(outputs: dict[str, Any]) -> None:
        assert outputs["security_group_id"].startswith("sg-")
        assert {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": "0.0.0.0/0"} in (
            outputs["ingress"]
        )
        assert len(outputs["ingress"]) == 3
        assert outputs["description"] == "web tier"

    def updated(outputs: dict[str, Any]) -> None:
        assert outputs["ingress"] == [
            {"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"}
        ]
        assert outputs["egress"] == [
            {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr": "10.0.0.0/16"}
        ]

    def count(provider: AwsProvider, spec: ResourceSpec) -> int:
        ec2 = provider.context.session.client("ec2")
        return len(
            ec2.describe_security_groups(
                Filters=[{"Name": f"tag:{STACK_TAG}", "Values": [provider.context.stack]}]
            )["SecurityGroups"]
        )

    return Case(
        spec=spec,
        update={
            "ingress": [{"port": 80, "cidr": "0.0.0.0/0"}],
            "egress": [{"port": 5432, "cidr": "10.0.0.0/16"}],
        },
        force_new={"description": "another tier"},
        check_created=created,
        check_updated=updated,
        count=count,
    )


# -- infra.storage ---------------------------------------------------------------------------


def storage_case() -> Case:
    bucket = unique("wfctl-test-assets")
    spec = ResourceSpec(
        name="assets",
        type="infra.storage",
        config={"bucket": bucket, "tags": {"team": "shop"}},
    )

    def created(outputs: dict[str, Any]) -> None:
        assert outputs["bucket"] == bucket and outputs["arn"] == f"arn:aws:s3:::{bucket}"
        assert outputs["versioning"] is True and outputs["encryption"] == "AES256"
        assert outputs["block_public_access"] is True and outputs["tags"] == {"team": "shop"}

    def updated(outputs: dict[str, Any]) -> None:
        assert outputs["versioning"] is False and outputs["tags"] == {"team": "web"}

    def count(provider: AwsProvider, spec: ResourceSpec) -> int:
        buckets = provider.context.session.client("s3").list_buckets()["Buckets"]
        return sum(b["Name"] == bucket for b in buckets)

    return Case(
        spec=spec,
        update={"versioning": False, "tags": {"team": "web"}},
        force_new={"bucket": unique("wfctl-test-other")},
        check_created=created,
        check_updated=updated,
        count=count,
    )


# -- infra.dns -------------------------------------------------------------------------------


def dns_case() -> Case:
    zone = f"{unique('shop')}.example.com"
    spec = ResourceSpec(
        name="zone",
        type="infra.dns",
        config={
            "zone": zone,
            "comment": "shop zone",
            "records": [
                {"name": "www", "type": "A", "ttl": 60, "values": ["10.0.0.10", "10.0.0.11"]},
                {"name": "@", "type": "TXT", "value": "v=spf1 -all"},
            ],
        },
    )

    def created(outputs: dict[str, Any]) -> None:
        assert outputs["zone"] == zone and outputs["name_servers"]
        assert {
            "name": f"www.{zone}",
            "type": "A",
            "ttl": 60,
            "values": ["10.0.0.10", "10.0.0.11"],
        } in outputs["records"]
        assert len(outputs["records"]) == 2

    def updated(outputs: dict[str, Any]) -> None:
        assert outputs["comment"] == "new comment"
        assert outputs["records"] == [
            {"name": f"api.{zone}", "type": "CNAME", "ttl": 300, "values": ["lb.example.net"]}
        ]

    def count(provider: AwsProvider, spec: ResourceSpec) -> int:
        zones = provider.context.session.client("route53").list_hosted_zones()["HostedZones"]
        return sum(z["Name"] == f"{zone}." for z in zones)

    return Case(
        spec=spec,
        update={
            "comment": "new comment",
            "records": [{"name": "api", "type": "CNAME", "value": "lb.example.net"}],
        },
        force_new={"zone": "other.example.com"},
        check_created=created,
        check_updated=updated,
        count=count,
    )


# -- infra.database --------------------------------------------------------------------------


def database_case() -> Case:
    spec = ResourceSpec(
        name="orders-db",
        type="infra.database",
        config={
            "engine": "postgres",
            "version": "16",
            "instance_type": "db.t3.micro",
            "storage_gb": 20,
            "db_name": "orders",
            "tags": {"team": "shop"},
        },
    )

    def created(outputs: dict[str, Any]) -> None:
        assert outputs["engine"] == "postgres" and outputs["version"].startswith("16")
        assert outputs["instance_type"] == "db.t3.micro" and outputs["storage_gb"] == 20
        assert outputs["address"] and outputs["port"] == 5432
        assert outputs["password_secret_arn"].startswith("arn:aws:secretsmanager:")
        assert "password" not in outputs

    def updated(outputs: dict[str, Any]) -> None:
        assert outputs["instance_type"] == "db.t3.small" and outputs["storage_gb"] == 50

    def count(provider: AwsProvider, spec: ResourceSpec) -> int:
        rds = provider.context.session.client("rds")
        return sum(
            db["DBInstanceIdentifier"].startswith(provider.context.stack)
            for db in rds.describe_db_instances()["DBInstances"]
        )

    return Case(
        spec=spec,
        update={"instance_type": "db.t3.small", "storage_gb": 50},
        force_new={"engine": "mysql"},
        check_created=created,
        check_updated=updated,
        count=count,
        prepare=lambda provider: {"subnet_ids": network(provider)["subnet_ids"]},
    )


# -- infra.cache -----------------------------------------------------------------------------


def cache_case() -> Case:
    spec = ResourceSpec(
        name="sessions",
        type="infra.cache",
        config={
            "engine": "redis",
            "version": "7.1",
            "instance_type": "cache.t3.micro",
            "description": "session store",
            "tags": {"team": "shop"},
        },
    )

    def created(outputs: dict[str, Any]) -> None:
        assert outputs["engine"] == "redis" and outputs["instance_type"] == "cache.t3.micro"
        assert outputs["primary_endpoint"] and outputs["port"] == 6379
        assert outputs["description"] == "session store" and outputs["tags"] == {"team": "shop"}

    def updated(outputs: dict[str, Any]) -> None:
        assert outputs["instance_type"] == "cache.t3.small"
        assert outputs["description"] == "sessions, bigger"

    def count(provider: AwsProvider, spec: ResourceSpec) -> int:
        groups = provider.context.session.client("elasticache").describe_replication_groups()
        return sum(
            g["ReplicationGroupId"].startswith(provider.context.stack)
            for g in groups["ReplicationGroups"]
        )

    return Case(
        spec=spec,
        update={"instance_type": "cache.t3.small", "description": "sessions, bigger"},
        force_new={"engine": "valkey", "port": 6380},
        check_created=created,
        check_updated=updated,
        count=count,
        prepare=lambda provider: {"vpc_id": network(provider)["vpc_id"]},
    )


CASES: dict[str, Callable[[], Case]] = {
    "infra.cache": cache_case,
    "infra.database": database_case,
    "infra.vpc": vpc_case,
    "infra.firewall": firewall_case,
    "infra.storage": storage_case,
    "infra.dns": dns_case,
}


@pytest.mark.parametrize("resource_type", sorted(CASES))
def test_lifecycle(aws_provider: MakeProvider, resource_type: str) -> None:
    run_lifecycle(aws_provider(), CASES[resource_type]())


# -- import, scale, adoption safety, drift, throttling ---------------------------------------


def test_import_by_natural_id_and_arn(aws_provider: MakeProvider) -> None:
    provider = aws_provider()
    ec2 = provider.context.session.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    group_id = ec2.create_security_group(GroupName=unique("imp"), Description="d", VpcId=vpc_id)[
        "GroupId"
    ]
    bucket = unique("wfctl-import")
    provider.context.session.client("s3").create_bucket(Bucket=bucket)
    zone_id = provider.context.session.client("route53").create_hosted_zone(
        Name=f"{unique('imp')}.example.org", CallerReference=unique("ref")
    )["HostedZone"]["Id"]  # "/hostedzone/Z..."
    db_id = unique("imported-db")
    provider.context.session.client("rds").create_db_instance(
        DBInstanceIdentifier=db_id,
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="not-ours-123",
    )
    group = unique("imported-rg")
    provider.context.session.client("elasticache").create_replication_group(
        ReplicationGroupId=group, ReplicationGroupDescription="d", Engine="redis"
    )

    cases = [
        ("infra.vpc", vpc_id, vpc_id),
        ("infra.vpc", f"arn:aws:ec2:us-east-1:123456789012:vpc/{vpc_id}", vpc_id),
        ("infra.firewall", group_id, group_id),
        ("infra.storage", bucket, bucket),
        ("infra.storage", f"arn:aws:s3:::{bucket}", bucket),
        ("infra.dns", zone_id, zone_id.rsplit("/", 1)[-1]),
        ("infra.database", db_id, db_id),
        ("infra.database", f"arn:aws:rds:us-east-1:123456789012:db:{db_id}", db_id),
        ("infra.cache", group, group),
        (
            "infra.cache",
            f"arn:aws:elasticache:us-east-1:123456789012:replicationgroup:{group}",
            group,
        ),
    ]
    for resource_type, given, natural in cases:
        state = provider.import_resource(given, resource_type)
        assert (state.type, state.provider, state.provider_id) == (resource_type, "aws", natural)
        assert state.config_hash and state.outputs
    vpc_state = provider.import_resource(vpc_id, "infra.vpc")
    assert vpc_state.applied_config["cidr"] == "10.60.0.0/16"
    db_state = provider.import_resource(db_id, "infra.database")
    assert db_state.applied_config["engine"] == "postgres"
    assert db_state.outputs["password_secret_arn"] == ""  # we never knew its password
    with pytest.raises(NotFoundError):
        provider.import_resource("vpc-0000000000000000", "infra.vpc")
    with pytest.raises(NotFoundError):
        provider.import_resource(unique("no-such-bucket"), "infra.storage")


def test_database_password_lives_only_in_secrets_manager(aws_provider: MakeProvider) -> None:
    provider = aws_provider()
    driver = provider.resource_driver("infra.database")
    spec = ResourceSpec(name="pw-db", type="infra.database", config={"engine": "postgres"})
    created = driver.create(spec)
    assert created.sensitive == ["password_secret_arn"]
    secrets = provider.context.session.client("secretsmanager")
    value = secrets.get_secret_value(SecretId=created.outputs["password_secret_arn"])
    password = json.loads(value["SecretString"])["password"]
    assert len(password) >= 16 and password not in json.dumps(created.model_dump())
    # A retried create reuses the stored password rather than generating a second one.
    driver.create(spec)
    listed = secrets.list_secrets(
        Filters=[{"Key": "name", "Values": [f"wfctl/{provider.context.stack}/"]}]
    )["SecretList"]
    assert len(listed) == 1
    ref = ResourceRef(name="pw-db", type="infra.database", provider_id=created.provider_id)
    driver.delete(ref)
    with pytest.raises(secrets.exceptions.ResourceNotFoundException):
        secrets.describe_secret(SecretId=created.outputs["password_secret_arn"])


def test_database_scale_sets_read_replicas_and_delete_removes_them(
    aws_provider: MakeProvider,
) -> None:
    provider = aws_provider()
    driver = provider.resource_driver("infra.database")
    spec = ResourceSpec(name="scaled", type="infra.database", config={"engine": "postgres"})
    db_id = driver.create(spec).provider_id
    ref = ResourceRef(name="scaled", type="infra.database", provider_id=db_id)
    assert len(driver.scale(ref, 2).outputs["read_replicas"]) == 2
    assert driver.scale(ref, 1).outputs["read_replicas"] == [f"{ref.provider_id}-replica-1"]
    driver.delete(ref)
    rds = provider.context.session.client("rds")
    remaining = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
    assert not [d for d in remaining if d.startswith(ref.provider_id)]


@pytest.mark.parametrize("resource_type", ["infra.vpc", "infra.firewall", "infra.storage"])
def test_scale_is_unsupported_elsewhere(aws_provider: MakeProvider, resource_type: str) -> None:
    driver = aws_provider().resource_driver(resource_type)
    with pytest.raises(UnsupportedOperationError, match=f"not supported for {resource_type}"):
        driver.scale(ResourceRef(name="x", type=resource_type, provider_id="x"), 2)


def test_create_refuses_to_adopt_another_stacks_resource(aws_provider: MakeProvider) -> None:
    first, second = aws_provider(), aws_provider()
    bucket = unique("wfctl-shared")
    spec = ResourceSpec(name="assets", type="infra.storage", config={"bucket": bucket})
    first.resource_driver("infra.storage").create(spec)
    with pytest.raises(ProviderError, match="belongs to") as caught:
        second.resource_driver("infra.storage").create(spec)
    assert not caught.value.retryable
    db = ResourceSpec(name="db", type="infra.database", config={"identifier": unique("shared")})
    first.resource_driver("infra.database").create(db)
    with pytest.raises(ProviderError, match="not this stack's"):
        second.resource_driver("infra.database").create(db)


def test_diff_names_fields_changed_behind_our_back(aws_provider: MakeProvider) -> None:
    provider = aws_provider()
    session = provider.context.session
    storage = provider.resource_driver("infra.storage")
    spec = ResourceSpec(name="logs", type="infra.storage", config={"bucket": unique("wfctl-logs")})
    bucket = storage.create(spec).provider_id
    session.client("s3").put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}
    )
    live = storage.read(ResourceRef(name="logs", type="infra.storage", provider_id=bucket))
    drift = storage.diff(with_config(spec, {"versioning": True}), live)
    assert [(c.path, c.old, c.new, c.force_new) for c in drift.changes] == [
        ("versioning", False, True, False)
    ]

    firewall = provider.resource_driver("infra.firewall")
    fw_spec = ResourceSpec(
        name="fw", type="infra.firewall", config={"ingress": [{"port": 22, "cidr": "10.0.0.0/8"}]}
    )
    group_id = firewall.create(fw_spec).provider_id
    session.client("ec2").authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "1.2.3.4/32"}],
            }
        ],
    )
    live = firewall.read(ResourceRef(name="fw", type="infra.firewall", provider_id=group_id))
    assert [c.path for c in firewall.diff(fw_spec, live).changes] == ["ingress"]


def test_diff_ignores_references_not_resolved_yet(aws_provider: MakeProvider) -> None:
    driver = aws_provider().resource_driver("infra.firewall")
    spec = ResourceSpec(
        name="fw", type="infra.firewall", config={"vpc_id": "${net.outputs.vpc_id}"}
    )
    live = driver.create(ResourceSpec(name="fw", type="infra.firewall"))
    assert driver.diff(spec, live).changes == []


def test_throttled_create_is_retryable_and_the_retry_adopts(
    aws_provider: MakeProvider, throttling_proxy: Callable[..., ThrottlingProxy]
) -> None:
    # The VPC is made, then creating its second subnet is throttled: the retried create
    # must finish that VPC, not make another one.
    proxy = throttling_proxy(
        times=1, match=lambda r: r.action == "CreateSubnet" and b"10.70.2." in r.body
    )
    provider = aws_provider(endpoint_url=proxy.url)
    driver = provider.resource_driver("infra.vpc")
    spec = ResourceSpec(
        name="net",
        type="infra.vpc",
        config={"cidr": "10.70.0.0/16", "subnets": ["10.70.1.0/24", "10.70.2.0/24"]},
    )
    with pytest.raises(ProviderError) as caught:
        driver.create(spec)
    assert caught.value.retryable and caught.value.code == "Throttling"
    assert "infra.vpc 'net'" in str(caught.value)
    created = driver.create(spec)
    assert created.outputs["subnets"] == ["10.70.1.0/24", "10.70.2.0/24"]
    assert vpc_count(provider, spec) == 1
    assert len(proxy.throttled) == 1


@pytest.mark.parametrize(
    ("resource_type", "action", "config"),
    [
        ("infra.database", "CreateDBInstance", {"engine": "postgres"}),
        ("infra.cache", "CreateReplicationGroup", {"engine": "redis"}),
        ("infra.storage", "PUT /", {}),
        ("infra.dns", "POST /2013-04-01/hostedzone", {"zone": "throttle.example.com"}),
    ],
)
def test_throttling_on_other_services_is_retryable(
    aws_provider: MakeProvider,
    throttling_proxy: Callable[..., ThrottlingProxy],
    resource_type: str,
    action: str,
    config: dict[str, Any],
) -> None:
    proxy = throttling_proxy(
        times=1, match=lambda r: r.action.startswith(action), status=503, code="SlowDown"
    )
    driver = aws_provider(endpoint_url=proxy.url).resource_driver(resource_type)
    spec = ResourceSpec(name=unique("t"), type=resource_type, config=config)
    with pytest.raises(ProviderError) as caught:
        driver.create(spec)
    assert caught.value.retryable
    assert driver.create(spec).provider_id
    assert len(proxy.throttled) == 1


def test_example_stack_applies_and_destroys_through_the_drivers(
    aws_provider: MakeProvider,
) -> None:
    """examples/aws-stack.yaml in dependency order with the engine's pure sizing and
    reference resolution; the workflows that do this for real are tested elsewhere."""
    document = load_stack_file(Path(__file__).parent.parent / "examples" / "aws-stack.yaml")
    settings = document.providers["aws"].model_dump()
    settings.pop("endpoint_url")
    provider = aws_provider(**settings, stack=unique(document.stack))
    outputs: dict[str, dict[str, Any]] = {}
    applied: list[tuple[ResourceSpec, str]] = []
    for resource in document.resources:
        spec = resource.spec()
        if spec.size is not None:
            spec = apply_sizing(spec, provider.resolve_sizing(spec.type, spec.size, spec.hints))
        spec = spec.model_copy(update={"config": resolve_references(spec.config, outputs)})
        created = provider.resource_driver(spec.type).create(spec)
        outputs[spec.name] = created.outputs
        applied.append((spec, created.provider_id))

    assert outputs["orders-db"]["instance_type"] == "db.t3.small"
    assert outputs["orders-db"]["storage_gb"] == 100
    assert outputs["sessions"]["instance_type"] == "cache.t3.micro"
    assert outputs["orders-db"]["subnet_ids"] == sorted(outputs["net"]["subnet_ids"])
    for spec, provider_id in applied:
        driver = provider.resource_driver(spec.type)
        live = driver.read(ResourceRef(name=spec.name, type=spec.type, provider_id=provider_id))
        assert driver.diff(spec, live).changes == [], spec.name

    for spec, provider_id in reversed(applied):
        ref = ResourceRef(name=spec.name, type=spec.type, provider_id=provider_id)
        provider.resource_driver(spec.type).delete(ref)
        with pytest.raises(NotFoundError):
            provider.resource_driver(spec.type).read(ref)
