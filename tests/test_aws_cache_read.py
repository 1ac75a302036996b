"""infra.cache reads back identifier, subnets and VPC, so changing them plans a replacement,
and the version and security groups of its primary member cluster, which change in place.

Real boto3 over HTTP to moto's server; moto makes no member clusters, the sandbox makes them
as AWS does (providers/aws/sandbox.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from interfaces import ResourceRef, ResourceSpec
from providers.aws import AwsProvider

pytest_plugins = ["tests.aws_fixtures"]


def subnets(provider: AwsProvider, cidr: str) -> tuple[str, list[str]]:
    ec2 = provider.context.session.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock=f"{cidr}.0.0/16")["Vpc"]["VpcId"]
    ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"{cidr}.{i}.0/24", AvailabilityZone=az)[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate(("us-east-1a", "us-east-1b"))
    ]
    return vpc_id, ids


def test_cache_read_reports_identifier_subnets_and_vpc(
    aws_provider: Callable[..., AwsProvider],
) -> None:
    provider = aws_provider()
    driver = provider.resource_driver("infra.cache")
    vpc_id, subnet_ids = subnets(provider, "10.61")
    other_vpc, other_subnets = subnets(provider, "10.62")
    config: dict[str, Any] = {
        "engine": "redis",
        "identifier": f"{provider.context.stack}-kv",
        "subnet_ids": subnet_ids,
    }
    spec = ResourceSpec(name="kv", type="infra.cache", config=config)
    made = driver.create(spec)
    ref = ResourceRef(name="kv", type="infra.cache", provider_id=made.provider_id)
    try:
        current = driver.read(ref)
        outputs = current.outputs
        assert outputs["identifier"] == made.provider_id == f"{provider.context.stack}-kv"
        assert outputs["subnet_ids"] == sorted(subnet_ids)
        assert outputs["vpc_id"] == vpc_id
        assert driver.diff(spec, current).changes == []
        by_vpc = spec.model_copy(update={"config": {"engine": "redis", "vpc_id": vpc_id}})
        assert driver.diff(by_vpc, current).changes == []

        def verdict(**change: Any) -> list[tuple[str, Any, Any, bool]]:
            changed = spec.model_copy(update={"config": {**config, **change}})
            result = driver.diff(changed, current)
            assert result.needs_replace
            return [(c.path, c.old, c.new, c.force_new) for c in result.changes]

        assert verdict(subnet_ids=other_subnets) == [
            ("subnet_ids", sorted(subnet_ids), other_subnets, True)
        ]
        assert verdict(identifier="kv-two") == [
            ("identifier", made.provider_id, "kv-two", True)
        ]
        moved = by_vpc.model_copy(update={"config": {"engine": "redis", "vpc_id": other_vpc}})
        assert [(c.path, c.force_new) for c in driver.diff(moved, current).changes] == [
            ("vpc_id", True)
        ]
    finally:
        driver.delete(ref)


def test_cache_reads_version_and_security_groups_from_its_member_cluster(
    aws_provider: Callable[..., AwsProvider],
) -> None:
    provider = aws_provider()
    driver = provider.resource_driver("infra.cache")
    ec2 = provider.context.session.client("ec2")
    vpc_id, subnet_ids = subnets(provider, "10.63")
    groups = [
        ec2.create_security_group(GroupName=f"{provider.context.stack}-{n}", Description=n,
                                  VpcId=vpc_id)["GroupId"]
        for n in ("a", "b")
    ]  # fmt: skip
    config: dict[str, Any] = {
        "engine": "redis", "version": "7.1", "replicas": 1, "subnet_ids": subnet_ids,
        "security_group_ids": [groups[0]],
    }  # fmt: skip
    spec = ResourceSpec(name="kv", type="infra.cache", config=config)
    made = driver.create(spec)
    ref = ResourceRef(name="kv", type="infra.cache", provider_id=made.provider_id)
    try:
        outputs = made.outputs
        assert outputs["member_clusters"] == [f"{made.provider_id}-001", f"{made.provider_id}-002"]
        assert outputs["replicas"] == 1
        assert outputs["version"] == "7.1"
        assert outputs["security_group_ids"] == [groups[0]]
        assert outputs["subnet_group"] == made.provider_id
        assert driver.diff(spec, made).changes == []

        newer = {**config, "version": "7.2", "security_group_ids": sorted(groups)}
        changed = spec.model_copy(update={"config": newer})
        diff = driver.diff(changed, made)
        assert not diff.needs_replace
        assert [(c.path, c.old, c.new) for c in diff.changes] == [
            ("security_group_ids", [groups[0]], sorted(groups)),
            ("version", "7.1", "7.2"),
        ]
        updated = driver.update(ref, changed)
        assert updated.outputs["version"] == "7.2"
        assert updated.outputs["security_group_ids"] == sorted(groups)
        assert driver.diff(changed, updated).changes == []
    finally:
        driver.delete(ref)
