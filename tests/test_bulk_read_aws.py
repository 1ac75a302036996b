"""The AWS drivers' read_many against their read, on moto: same outputs, same ghosts, fewer
calls; a bulk call AWS refuses falls back to reading one resource at a time, and a throttled
one is retryable for each resource."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from activities.iac.live_reads import _read_chunk
from interfaces import ResourceOutput, ResourceRef, ResourceSpec, ResourceState
from interfaces.errors import NotFoundError, ProviderError
from providers.aws import AwsProvider

if TYPE_CHECKING:
    from tests.aws_fixtures import ThrottlingProxy

pytest_plugins = ["tests.aws_fixtures"]


def by_read(provider: AwsProvider, refs: list[ResourceRef]) -> dict[str, ResourceOutput | None]:
    found: dict[str, ResourceOutput | None] = {}
    for ref in refs:
        try:
            found[ref.name] = provider.resource_driver(ref.type).read(ref)
        except NotFoundError:
            found[ref.name] = None
    return found


def make(provider: AwsProvider, name: str, rtype: str, **config: object) -> ResourceRef:
    spec = ResourceSpec(name=name, type=rtype, config=config)
    made = provider.resource_driver(rtype).create(spec)
    return ResourceRef(name=name, type=rtype, provider_id=made.provider_id)


def test_read_many_reads_what_read_reads_in_a_few_calls_or_falls_back(
    aws_provider: Callable[..., AwsProvider],
    throttling_proxy: Callable[..., ThrottlingProxy],
) -> None:
    stack = f"bulk-{uuid.uuid4().hex[:6]}"
    counting = throttling_proxy(times=0)
    aws = aws_provider(stack=stack, endpoint_url=counting.url)
    net = make(aws, "net", "infra.vpc", cidr="10.7.0.0/16", subnets=["10.7.1.0/24",
               "10.7.2.0/24"], public=True, tags={"team": "a"})  # fmt: skip
    private = make(aws, "private", "infra.vpc", cidr="10.8.0.0/16", subnets=["10.8.1.0/24"])
    lost_net = make(aws, "lost-net", "infra.vpc", cidr="10.9.0.0/16")
    web = make(aws, "web", "infra.firewall", vpc_id=net.provider_id,
               ingress=[{"port": 443, "cidr": "0.0.0.0/0"}])  # fmt: skip
    lost_web = make(aws, "lost-web", "infra.firewall", vpc_id=private.provider_id)
    db = make(aws, "orders", "infra.database", engine="postgres", storage_gb=20)
    lost_db = make(aws, "lost-db", "infra.database", engine="postgres", storage_gb=20)
    # Deleted behind the stack's back: ghosts both ways.
    ec2 = aws.resource_driver("infra.vpc").client("ec2")
    ec2.delete_security_group(GroupId=lost_web.provider_id)
    ec2.delete_vpc(VpcId=lost_net.provider_id)
    rds = aws.resource_driver("infra.database").client("rds")
    rds.delete_db_instance(DBInstanceIdentifier=lost_db.provider_id, SkipFinalSnapshot=True)

    groups = {
        "infra.vpc": [net, private, lost_net],
        "infra.firewall": [web, lost_web],
        "infra.database": [db, lost_db],
    }
    calls = {"one": 0, "bulk": 0}
    for rtype, refs in groups.items():
        before = len(counting.forwarded)
        expected = by_read(aws, refs)
        calls["one"] += len(counting.forwarded) - before
        assert expected[refs[-1].name] is None  # the ghost
        assert all(expected[ref.name] is not None for ref in refs[:-1])
        before = len(counting.forwarded)
        assert aws.resource_driver(rtype).read_many(refs) == expected, rtype  # type: ignore[attr-defined]
        calls["bulk"] += len(counting.forwarded) - before
    assert expected["orders"] is not None and expected["orders"].outputs["password_secret_arn"]
    # One by one: 4 per VPC, 1 per group, 2 per DB (1 for a ghost). In bulk: 4 for the VPCs,
    # 1 for the groups and 2 for the DBs, plus the id-list call that AWS refuses for a ghost
    # among the VPCs and among the groups before the id filter answers.
    assert calls == {"one": 2 * 4 + 1 + 2 + 2 + 1, "bulk": 4 + 1 + 2 + 2}

    # A role allowed to describe one group at a time but not many (a policy condition):
    # the chunk is read one at a time, with the same answers.
    firewalls = groups["infra.firewall"]
    states = [
        ResourceState(
            id=r.name, name=r.name, type=r.type, provider="aws", provider_id=r.provider_id
        )
        for r in firewalls
    ]
    denied = throttling_proxy(
        times=100,
        match=lambda r: r.action == "DescribeSecurityGroups" and b"GroupId.2=" in r.body,
        code="UnauthorizedOperation",
    )
    driver = aws_provider(stack=stack, endpoint_url=denied.url).resource_driver("infra.firewall")
    assert _read_chunk(driver, states) == by_read(aws, firewalls)
    assert len(denied.throttled) == 1
    # Throttled: the error stands for every resource of the chunk (the activity retries).
    throttled = throttling_proxy(times=100, action="DescribeSecurityGroups")
    driver = aws_provider(stack=stack, endpoint_url=throttled.url).resource_driver(
        "infra.firewall"
    )
    answers = _read_chunk(driver, states)
    assert all(isinstance(a, ProviderError) and a.retryable for a in answers.values())
    assert len(throttled.throttled) == 1
