"""Bulk and per-resource refresh agree: the same stacks planned, drift-checked and
status-read with `bulk_read` on and off give the same plans, diffs, ghosts, drift and statuses
(the test provider, and AWS on moto with types that read in bulk and one that does not)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from temporalio.client import Client

from activities.iac.live_reads import read_chunk, ref_of
from engine.iac.stack import parse_stack
from interfaces.errors import ConfigError, ProviderError
from interfaces.iac import ResourceState
from tests.fakes.azure import ArmFake, serving
from tests.fakes.azure import provider_config as azure_provider
from tests.fakes.digitalocean import DigitalOceanFake
from tests.iac_wf_support import Stack, iac_worker, start, state_block

if TYPE_CHECKING:
    from tests.aws_fixtures import AwsRequest, ThrottlingProxy

pytest_plugins = ["tests.aws_fixtures"]


async def refresh(client: Client, queue: str, doc: dict[str, Any]) -> dict[str, Any]:
    """What a user sees of a plan, a drift check and a status of `doc`."""
    handles = [
        await start(client, workflow, queue, doc)
        for workflow in ("PlanWorkflow", "DriftWorkflow", "StatusWorkflow")
    ]
    planned, drift, status = await asyncio.gather(*(handle.result() for handle in handles))
    assert planned.plan is not None
    return {
        "counts": planned.counts,
        "actions": [
            (a.action, a.resource.name, [c.model_dump() for c in a.changes])
            for a in planned.plan.actions
        ],
        "notes": planned.plan.notes,
        "drift": drift.model_dump(),
        "status": status.model_dump(),
    }


def with_bulk(doc: dict[str, Any], bulk: bool) -> dict[str, Any]:
    providers = {key: {**block, "bulk_read": bulk} for key, block in doc["providers"].items()}
    return {**doc, "providers": providers}


async def test_test_provider_refresh_is_the_same_in_bulk(client: Client, tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    for i in range(3):
        stack.add(f"net{i}", "test.network", config={"cidr": f"10.{i}.0.0/16"})
        stack.add(f"db{i}", "test.database", config={"size": 1})
        stack.add(f"thing{i}", config={"size": 1})
    async with iac_worker(client) as queue:
        applied = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await applied.result()).status == "applied"
        stack.cloud.set_config("db1", "size", 2)  # drift, an update
        stack.cloud.set_config("net2", "cidr", "10.99.0.0/16")  # drift, a replace
        stack.cloud.remove("thing0")  # a ghost
        stack.cloud.remove("db2")
        stack.resources[-1]["config"] = {"size": 5}  # a change in the document
        single = await refresh(client, queue, with_bulk(stack.document(), False))
        assert stack.cloud.counter("read_many") == 0
        bulk = await refresh(client, queue, with_bulk(stack.document(), True))
        # One call per type for each of plan, drift and status.
        assert stack.cloud.counter("read_many") == 3 * 3
    assert bulk == single
    assert sorted(single["drift"]["ghosts"]) == ["db2", "thing0"]
    actions = {name: action for action, name, _ in single["actions"]}
    assert actions == {"thing0": "create", "db2": "create", "db1": "update",
                       "net2": "replace", "thing2": "update"}  # fmt: skip
    statuses = {s["name"]: s["status"] for s in single["status"]["resources"]}
    assert statuses["thing0"] == statuses["db2"] == "deleted" and statuses["net0"] == "ready"


async def test_aws_refresh_is_the_same_in_bulk(
    client: Client,
    tmp_path: Path,
    moto_endpoint: str,
    throttling_proxy: Any,
    aws_provider: Any,
) -> None:
    name = f"bulk-{uuid.uuid4().hex[:8]}"
    counting: ThrottlingProxy = throttling_proxy(times=0)
    doc: dict[str, Any] = {
        "stack": name,
        "state": state_block("sqlite", tmp_path),
        "providers": {
            "aws": {"type": "aws", "region": "us-east-1", "endpoint_url": counting.url,
                    "max_attempts": 1, "poll_interval": 0.05},
        },  # fmt: skip
        "resources": [
            {"name": "net", "type": "infra.vpc",
             "config": {"cidr": "10.42.0.0/16", "subnets": ["10.42.1.0/24"], "public": True,
                        "tags": {"team": "net"}}},
            {"name": "lost-net", "type": "infra.vpc", "config": {"cidr": "10.43.0.0/16"}},
            {"name": "inner", "type": "infra.vpc", "config": {"cidr": "10.44.0.0/16"}},
            {"name": "web", "type": "infra.firewall",
             "config": {"vpc_id": "${net.outputs.vpc_id}",
                        "ingress": [{"port": 443, "cidr": "0.0.0.0/0"}]}},
            {"name": "admin", "type": "infra.firewall",
             "config": {"vpc_id": "${net.outputs.vpc_id}", "tags": {"team": "ops"}}},
            {"name": "orders", "type": "infra.database",
             "config": {"engine": "postgres", "storage_gb": 20, "tags": {"team": "shop"}}},
            {"name": "lost-db", "type": "infra.database",
             "config": {"engine": "postgres", "storage_gb": 20}},
            {"name": "files", "type": "infra.storage", "config": {"versioning": True}},
        ],  # fmt: skip
    }
    async with iac_worker(client) as queue:
        applied = await (
            await start(client, "ApplyWorkflow", queue, {**doc, "auto_approve": True})
        ).result()
        assert applied.status == "applied", applied.errors
        ids = {r.name: r.provider_id for r in applied.resources}
        arns = {r.name: r.outputs.get("arn") for r in applied.resources}
        ec2, rds = _boto(moto_endpoint, "ec2"), _boto(moto_endpoint, "rds")
        # Ghosts of each bulk type, and drift.
        ec2.delete_security_group(GroupId=ids["admin"])
        ec2.delete_vpc(VpcId=ids["lost-net"])
        rds.delete_db_instance(DBInstanceIdentifier=ids["lost-db"], SkipFinalSnapshot=True)
        ec2.authorize_security_group_ingress(
            GroupId=ids["web"], IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22,
            "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
        )  # fmt: skip
        ec2.create_tags(Resources=[ids["net"]], Tags=[{"Key": "team", "Value": "x"}])
        rds.add_tags_to_resource(ResourceName=arns["orders"], Tags=[{"Key": "team", "Value": "y"}])
        counting.forwarded.clear()
        single = await refresh(client, queue, with_bulk(doc, False))
        single_calls = _reads(counting.forwarded)
        counting.forwarded.clear()
        bulk = await refresh(client, queue, with_bulk(doc, True))
        bulk_calls = _reads(counting.forwarded)
    assert bulk == single
    assert sorted(single["drift"]["ghosts"]) == ["admin", "lost-db", "lost-net"]
    assert {r["name"]: r["fields"] for r in single["drift"]["results"]} == {
        "admin": ["(deleted)"], "lost-net": ["(deleted)"], "lost-db": ["(deleted)"],
        "web": ["config.ingress"], "net": ["config.tags"], "orders": ["config.tags"],
    }  # fmt: skip
    actions = {name: action for action, name, _ in single["actions"]}
    assert actions == {"admin": "create", "lost-net": "create", "lost-db": "create",
                       "web": "update", "net": "update", "orders": "update"}  # fmt: skip
    # Per refresh, one by one: 4 per public VPC, 3 per private one (no route table to look
    # for without a gateway), 1 per group, 2 per DB (1 for a ghost). In bulk: 4 for the VPCs,
    # 1 for the groups, 2 for the DBs, plus the id-list call that AWS refuses for the ghost
    # among the VPCs and among the groups before the id filter answers. The bucket has no
    # bulk read: the same S3 calls both ways.
    assert single_calls["other"] == 3 * (4 + 1 + 3 + 1 + 1 + 2 + 1)
    assert bulk_calls["other"] == 3 * (4 + 1 + 2 + 1 + 1)
    assert single_calls["s3"] == bulk_calls["s3"] > 0
    outputs = {r.name: r.outputs for r in applied.resources}
    assert outputs["inner"]["route_table_id"] == "" and outputs["net"]["route_table_id"]

    # A role allowed to describe one group at a time but not many (a policy condition):
    # the chunk is read one at a time, with the same answers as read.
    firewalls = [
        ResourceState(id=n, name=n, type="infra.firewall", provider="aws", provider_id=ids[n])
        for n in ("web", "admin")
    ]
    denied = throttling_proxy(
        times=100,
        match=lambda r: r.action == "DescribeSecurityGroups" and b"GroupId.2=" in r.body,
        code="UnauthorizedOperation",
    )
    driver = aws_provider(stack=name, endpoint_url=denied.url).resource_driver("infra.firewall")
    answers = read_chunk(driver, firewalls)
    assert len(denied.throttled) == 1
    assert answers["admin"] is None
    assert answers["web"] == driver.read(ref_of(firewalls[0]))
    # Throttled: the error stands for every resource of the chunk (the activity retries).
    throttled = throttling_proxy(times=100, action="DescribeSecurityGroups")
    driver = aws_provider(stack=name, endpoint_url=throttled.url).resource_driver(
        "infra.firewall"
    )
    answers = read_chunk(driver, firewalls)
    assert all(isinstance(a, ProviderError) and a.retryable for a in answers.values())
    assert len(throttled.throttled) == 1


def _boto(endpoint: str, service: str) -> Any:
    import boto3

    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint)


def _reads(requests: list[AwsRequest]) -> dict[str, int]:
    """Read calls by S3 (REST paths) and the rest (Query/JSON actions)."""
    s3 = sum(1 for r in requests if " " in r.action)
    return {"s3": s3, "other": len(requests) - s3}


async def test_digitalocean_refresh_is_the_same_in_bulk(client: Client, tmp_path: Path) -> None:
    fake = DigitalOceanFake(token="bulk-token").start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("WFCTL_TEST_DO_BULK_TOKEN", "bulk-token")
            await _digitalocean_refresh(client, tmp_path, fake)
    finally:
        fake.stop()


async def _digitalocean_refresh(client: Client, tmp_path: Path, fake: DigitalOceanFake) -> None:
    doc: dict[str, Any] = {
        "stack": f"do-{uuid.uuid4().hex[:8]}",
        "state": state_block("sqlite", tmp_path),
        "providers": {"do": fake.provider_config("WFCTL_TEST_DO_BULK_TOKEN")},
        "resources": [
            *({"name": f"web{i}", "type": "infra.droplet", "config": {"tags": ["web"],
               "instance_type": "s-1vcpu-1gb"}} for i in range(3)),
            {"name": "db", "type": "infra.database", "size": "xs",
             "config": {"db_names": ["shop"], "users": ["shop"]}},
            {"name": "cache", "type": "infra.cache", "size": "xs"},
        ],  # fmt: skip
    }
    async with iac_worker(client) as queue:
        applied = await (
            await start(client, "ApplyWorkflow", queue, {**doc, "auto_approve": True})
        ).result()
        assert applied.status == "applied", applied.errors
        ids = {r.name: r.provider_id for r in applied.resources}
        fake.remove("droplets", ids["web0"])  # a ghost
        fake.change("droplets", ids["web1"], size_slug="s-2vcpu-2gb")  # drift
        fake.remove("databases", ids["cache"])  # a ghost of another bulk type
        fake.change("databases", ids["db"], db_names=["defaultdb"])  # drift: shop dropped
        tags = fake.objects["droplets"][ids["web2"]]["tags"]
        fake.change("droplets", ids["web2"], tags=[t for t in tags if t != "web"])  # drift
        before = len(fake.requests)
        single = await refresh(client, queue, with_bulk(doc, False))
        single_gets = _do_reads(fake.requests[before:])
        before = len(fake.requests)
        bulk = await refresh(client, queue, with_bulk(doc, True))
        bulk_gets = _do_reads(fake.requests[before:])
    assert bulk == single
    assert sorted(single["drift"]["ghosts"]) == ["cache", "web0"]
    assert {r["name"]: r["fields"] for r in single["drift"]["results"]} == {
        "web0": ["(deleted)"], "web1": ["config.instance_type"], "web2": ["config.tags"],
        "cache": ["(deleted)"], "db": ["config.db_names"],
    }  # fmt: skip
    # One by one: a GET of each droplet and cluster; in bulk: a listing by the stack's tag
    # per type (droplets; databases and caches are both clusters) and a GET only of the
    # ghost the listing lacks (it 404s), for each of plan, drift and status.
    assert single_gets == {"droplets": (3 * 3, 0), "databases": (2 * 3, 0)}
    assert bulk_gets == {"droplets": (1 * 3, 1 * 3), "databases": (1 * 3, 2 * 3)}


def _do_reads(requests: list[Any]) -> dict[str, tuple[int, int]]:
    """Per collection: (GETs of one object, GETs of the listing)."""
    found = {}
    for kind in ("droplets", "databases"):
        gets = [r for r in requests if r.method == "GET" and r.path.startswith(f"/v2/{kind}")]
        listing = sum(1 for r in gets if r.path == f"/v2/{kind}")
        found[kind] = (len(gets) - listing, listing)
    return found


def test_bulk_read_is_a_switch() -> None:
    doc = {"stack": "s", "providers": {"main": {"type": "test", "bulk_read": "no"}},
           "resources": []}  # fmt: skip
    with pytest.raises(ConfigError, match="bulk_read must be true or false, not 'no'"):
        parse_stack(doc, "stack")
    assert parse_stack({**doc, "providers": {"main": {"type": "test", "bulk_read": False}}},
                       "stack").stack == "s"  # fmt: skip


async def test_azure_refresh_is_the_same_in_bulk(client: Client, tmp_path: Path) -> None:
    for arm in serving(polls=1):
        arm.list_page_size = 1  # so that a listing takes more than one page
        await _azure_refresh(client, tmp_path, arm)


async def _azure_refresh(client: Client, tmp_path: Path, arm: ArmFake) -> None:
    doc: dict[str, Any] = {
        "stack": f"az-{uuid.uuid4().hex[:8]}",
        "state": state_block("sqlite", tmp_path),
        "providers": {"azure": azure_provider(arm)},
        "resources": [
            *({"name": f"id{i}", "type": "infra.iam_role", "config": {"tags": {"n": str(i)}}}
              for i in range(3)),
            {"name": "web-fw", "type": "infra.firewall",
             "config": {"ingress": [{"port": 80, "cidr": "0.0.0.0/0"}]}},
        ],  # fmt: skip
    }
    async with iac_worker(client) as queue:
        applied = await (
            await start(client, "ApplyWorkflow", queue, {**doc, "auto_approve": True})
        ).result()
        assert applied.status == "applied", applied.errors
        ids = {r.name: r.provider_id for r in applied.resources}
        arm.remove(ids["id0"])  # a ghost
        arm.change(ids["id1"], lambda r: r["tags"].update(n="changed"))  # drift
        arm.change(ids["web-fw"], lambda r: r["properties"]["securityRules"].clear())
        before = len(arm.recorded)
        single = await refresh(client, queue, with_bulk(doc, False))
        single_gets = _arm_reads(arm.recorded[before:])
        before = len(arm.recorded)
        bulk = await refresh(client, queue, with_bulk(doc, True))
        bulk_gets = _arm_reads(arm.recorded[before:])
    assert bulk == single
    assert single["drift"]["ghosts"] == ["id0"]
    assert {r["name"]: r["fields"] for r in single["drift"]["results"]} == {
        "id0": ["(deleted)"], "id1": ["config.tags"], "web-fw": ["config.ingress"],
    }  # fmt: skip
    # One by one: a GET of each resource. In bulk: per type a listing (the two identities
    # left in two pages of one) and a GET of the ghost the listing lacks; for each of plan,
    # drift and status.
    assert single_gets == {"one": 4 * 3, "list": 0}
    assert bulk_gets == {"one": 1 * 3, "list": (2 + 1) * 3}


def _arm_reads(requests: list[Any]) -> dict[str, int]:
    """GETs of one resource and GETs of a group's resources of one type."""
    gets = [r for r in requests if r.method == "GET" and "/providers/" in r.path
            and "operation" not in r.path.lower()]  # fmt: skip
    listing = sum(1 for r in gets if r.path.split("/providers/", 1)[1].count("/") == 1)
    return {"one": len(gets) - listing, "list": listing}
