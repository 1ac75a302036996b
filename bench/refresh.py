"""Refresh of a large AWS stack: a plan of N existing resources, read in bulk vs one by one.

    .venv/bin/python bench/refresh.py [--resources 1000] [--rounds 2] [--shares 1:1:1]

The moto sandbox, a dev server and an IaC worker in its own process (bench/aws_harness.py).
The resources (VPCs, security groups, RDS instances with their password secrets) are made
directly with boto3 and recorded in the state as an apply would have, so the plans find
nothing to do and time only the refresh. The provider talks to moto through a counting proxy
on 127.0.0.1; each round plans the same stack with `bulk_read: false` and then `true`, and
prints the AWS calls, wall time and CPU time of each and their ratios. The CPU time is that of
this process (moto and the proxy: the stand-in for AWS) and of the worker: on a shared machine
the wall times swing with the other processes' load, the CPU times much less.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from http.server import ThreadingHTTPServer
from pathlib import Path
from statistics import median
from threading import Thread
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3  # noqa: E402
from temporalio.client import Client  # noqa: E402

from bench.aws_harness import aws_bench, cpu_seconds  # noqa: E402
from engine.iac.plan import config_hash  # noqa: E402
from interfaces import ResourceSpec, ResourceState  # noqa: E402
from providers.aws import AwsProvider  # noqa: E402
from providers.aws import tags as awstags  # noqa: E402
from statestore import open_state_store  # noqa: E402
from tests.aws_fixtures import ThrottlingProxy, _handler  # noqa: E402
from workflows.iac.models import PlanOutcome  # noqa: E402

# The types of the stack, in the order of --shares: a VPC takes 4 reads (itself, subnets,
# internet gateway, route table), a security group 1, a database 2 (itself, its secret).
TYPES = ("infra.vpc", "infra.firewall", "infra.database")


def counting_proxy(moto: str) -> tuple[ThrottlingProxy, ThreadingHTTPServer]:
    """The tests' proxy in front of moto, throttling nothing: it records every call."""
    parts = urlsplit(moto)
    proxy = ThrottlingProxy(url="", times=0, match=lambda request: False)
    upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy, upstream))
    server.daemon_threads = True
    Thread(target=server.serve_forever, daemon=True).start()
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    return proxy, server


def build_stack(
    moto: str, workdir: Path, count: int, shares: tuple[float, ...] = (1, 1, 1)
) -> dict[str, Any]:
    """Make `count` resources on moto, record them in a state store; the stack document."""
    stack = f"refresh-{uuid.uuid4().hex[:6]}"
    clients = {s: boto3.client(s, region_name="us-east-1", endpoint_url=moto)
               for s in ("ec2", "rds", "secretsmanager")}  # fmt: skip
    naming = AwsProvider()
    naming.initialize({"type": "aws", "region": "us-east-1", "endpoint_url": moto, "stack": stack})
    db_driver = naming.resource_driver("infra.database")
    state_block = {"backend": "sqlite", "path": str(workdir / "state.db")}
    store = open_state_store(state_block, stack)
    numbers = {t: int(count * share / sum(shares)) for t, share in zip(TYPES, shares, strict=True)}
    numbers["infra.firewall"] += count - sum(numbers.values())
    resources: list[dict[str, Any]] = []

    def record(name: str, rtype: str, config: dict[str, Any], provider_id: str) -> None:
        resources.append({"name": name, "type": rtype, "config": config})
        store.save_resource(ResourceState(
            id=f"{stack}/{name}", name=name, type=rtype, provider="aws",
            provider_id=provider_id, config_hash=config_hash(config), applied_config=config,
        ))  # fmt: skip

    def tags(name: str) -> list[dict[str, str]]:
        return awstags.tag_list(awstags.resource_tags(stack, name))

    vpc_ids = []
    for i in range(numbers["infra.vpc"]):
        name, cidr = f"net{i}", f"10.{i // 256}.{i % 256}.0/24"
        vpc = clients["ec2"].create_vpc(
            CidrBlock=cidr, TagSpecifications=[{"ResourceType": "vpc", "Tags": tags(name)}]
        )["Vpc"]
        vpc_ids.append(vpc["VpcId"])
        record(name, "infra.vpc", {"cidr": cidr}, vpc["VpcId"])
    for i in range(numbers["infra.firewall"]):
        name = f"fw{i}"
        group = clients["ec2"].create_security_group(
            GroupName=f"{stack}-{name}", Description=f"wfctl {stack}/{name}",
            VpcId=vpc_ids[i % len(vpc_ids)],
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags(name)}],
        )  # fmt: skip
        record(name, "infra.firewall", {"group_name": f"{stack}-{name}"}, group["GroupId"])
    for i in range(numbers["infra.database"]):
        name = f"db{i}"
        config = {"engine": "postgres", "storage_gb": 20}
        spec = ResourceSpec(name=name, type="infra.database", config=config)
        db_id = db_driver.db_identifier(spec)
        clients["rds"].create_db_instance(
            DBInstanceIdentifier=db_id, Engine="postgres", DBInstanceClass="db.t3.micro",
            AllocatedStorage=20, MasterUsername="app", MasterUserPassword="not-a-secret-1",
            Tags=tags(name),
        )  # fmt: skip
        clients["secretsmanager"].create_secret(
            Name=db_driver.secret_name(name), SecretString="{}", Tags=tags(name)
        )
        record(name, "infra.database", config, db_id)
    store.close()
    naming.close()
    return {"stack": stack, "state": state_block, "resources": resources}


async def plan(client: Client, queue: str, document: dict[str, Any]) -> tuple[float, PlanOutcome]:
    started = time.perf_counter()
    outcome = await client.execute_workflow(
        "PlanWorkflow",
        document,
        id=f"stack:{document['stack']}:plan:{uuid.uuid4().hex[:6]}",
        task_queue=queue,
        result_type=PlanOutcome,
    )
    return time.perf_counter() - started, outcome


async def main(args: argparse.Namespace) -> None:
    async with aws_bench("bench-refresh") as bench:
        proxy, server = counting_proxy(bench.moto)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                started = time.perf_counter()
                shares = tuple(float(share) for share in args.shares.split(":"))
                stack = build_stack(bench.moto, Path(tmp), args.resources, shares)
                made = Counter(resource["type"] for resource in stack["resources"])
                print(f"made {dict(made)} in {time.perf_counter() - started:.1f} s")
                await _rounds(args, bench.client, bench.queue, proxy, stack, bench.worker_pid)
        finally:
            server.shutdown()
            server.server_close()


async def _rounds(
    args: argparse.Namespace,
    client: Client,
    queue: str,
    proxy: ThrottlingProxy,
    stack: dict[str, Any],
    worker_pid: int,
) -> None:
    figures: dict[bool, list[tuple[float, int]]] = {False: [], True: []}
    cpus: dict[bool, list[tuple[float, float]]] = {False: [], True: []}  # (moto, worker)
    for round_number in range(1, args.rounds + 1):
        for bulk in (False, True):
            provider = {"type": "aws", "region": "us-east-1", "endpoint_url": proxy.url,
                        "bulk_read": bulk}  # fmt: skip
            resources = [{**r, "provider": "aws"} for r in stack["resources"]]
            document = {**stack, "providers": {"aws": provider}, "resources": resources}
            with proxy.lock:
                proxy.forwarded.clear()
            moto_cpu, worker_cpu = cpu_seconds(os.getpid()), cpu_seconds(worker_pid)
            wall, outcome = await plan(client, queue, document)
            moto_cpu = cpu_seconds(os.getpid()) - moto_cpu
            worker_cpu = cpu_seconds(worker_pid) - worker_cpu
            cpus[bulk].append((moto_cpu, worker_cpu))
            with proxy.lock:
                calls = Counter(request.action for request in proxy.forwarded)
            changes = {k: v for k, v in outcome.counts.items() if v}
            assert not changes, f"the stack should plan no changes, got {changes}"
            figures[bulk].append((wall, sum(calls.values())))
            top = ", ".join(f"{action} {n}" for action, n in calls.most_common(4))
            print(f"round {round_number} {'bulk' if bulk else 'one by one'}: "
                  f"{sum(calls.values())} calls in {wall:.2f} s, CPU moto {moto_cpu:.2f} s + "
                  f"worker {worker_cpu:.2f} s ({top})")  # fmt: skip
    one_wall = median(w for w, _ in figures[False])
    bulk_wall = median(w for w, _ in figures[True])
    one_calls = median(c for _, c in figures[False])
    bulk_calls = median(c for _, c in figures[True])
    print(f"\nplan of {args.resources} AWS resources (medians of {args.rounds} rounds)")
    one_cpu = median(moto + worker for moto, worker in cpus[False])
    bulk_cpu = median(moto + worker for moto, worker in cpus[True])
    print(f"  one by one: {one_calls:.0f} calls, {one_wall:.2f} s, CPU {one_cpu:.2f} s")
    print(f"  bulk:       {bulk_calls:.0f} calls, {bulk_wall:.2f} s, CPU {bulk_cpu:.2f} s")
    print(f"  calls: {one_calls / bulk_calls:.1f}x fewer (goal >= 10x)")
    print(f"  time:  {one_wall / bulk_wall:.1f}x faster (goal >= 5x)")
    print(f"  CPU (moto + worker): {one_cpu / bulk_cpu:.1f}x less")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--shares", default="1:1:1", help="weights of VPCs:security groups:databases"
    )
    asyncio.run(main(parser.parse_args()))
