"""A refresh lists what its chunks share once: the stack's password secrets are listed once
for every chunk of databases, not once per chunk (which at 100,000 resources would page
through every secret 500 times), with the same answers as reading each database; one the
listing lacks is asked on its own."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from pathlib import Path
from typing import Any

import boto3
import pytest

from activities.iac.cache import IacCache
from activities.iac.live_reads import read_live, ref_of
from interfaces import ResourceSpec
from interfaces.iac import ResourceState
from providers.aws import tags as awstags
from providers.shared_reads import refresh_scope, shared
from tests.iac_wf_support import state_block
from workflows.iac.models import StackTarget

pytest_plugins = ["tests.aws_fixtures"]


def test_aws_databases_in_chunks_list_their_secrets_once(
    tmp_path: Path, moto_endpoint: str, throttling_proxy: Any, aws_provider: Any
) -> None:
    stack = f"shared-{uuid.uuid4().hex[:8]}"
    driver = aws_provider(stack=stack).resource_driver("infra.database")
    rds = boto3.client("rds", region_name="us-east-1", endpoint_url=moto_endpoint)
    secrets = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto_endpoint)
    states = []
    for i in range(5):
        name = f"db{i}"
        db_id = driver.db_identifier(ResourceSpec(name=name, type="infra.database", config={}))
        tags = awstags.tag_list(awstags.resource_tags(stack, name))
        rds.create_db_instance(
            DBInstanceIdentifier=db_id, Engine="postgres", DBInstanceClass="db.t3.micro",
            AllocatedStorage=20, MasterUsername="app", MasterUserPassword="not-a-secret-1",
            Tags=tags,
        )  # fmt: skip
        if i < 4:  # db4's secret is not listed (an imported instance has none at all)
            secrets.create_secret(Name=driver.secret_name(name), SecretString="{}", Tags=tags)
        states.append(ResourceState(id=f"{stack}/{name}", name=name, type="infra.database",
                                    provider="aws", provider_id=db_id))  # fmt: skip
    counting = throttling_proxy(times=0)
    block = {"type": "aws", "region": "us-east-1", "endpoint_url": counting.url,
             "max_attempts": 1}  # fmt: skip
    target = StackTarget(stack=stack, state=state_block("sqlite", tmp_path),
                         providers={"aws": block})  # fmt: skip

    found = read_live(IacCache(), target, states, chunk_size=2)  # three chunks

    calls = [request.action for request in counting.forwarded]
    assert calls.count("ListSecrets") == 1
    assert calls.count("DescribeDBInstances") == 3
    # The one the listing lacks is asked on its own, as read asks (ListSecrets can lag).
    assert calls.count("DescribeSecret") == 1
    assert found == {state.name: driver.read(ref_of(state)) for state in states}
    arns = {name: live.outputs["password_secret_arn"] for name, live in found.items()}  # type: ignore[union-attr]
    assert arns["db4"] == "" and all(arns[f"db{i}"] for i in range(4))


def test_a_listing_is_made_once_per_scope_and_a_failed_one_is_not_shared() -> None:
    made: list[str] = []
    started, release = threading.Event(), threading.Event()

    def listing() -> str:
        made.append("list")
        started.set()
        release.wait(5)
        return "listed"

    assert shared("k", lambda: "alone") == "alone"  # no scope: computed each time
    with refresh_scope(), ThreadPoolExecutor(3) as pool:
        runs = [copy_context() for _ in range(3)]
        first = pool.submit(runs[0].run, shared, "k", listing)
        started.wait(5)
        others = [pool.submit(run.run, shared, "k", listing) for run in runs[1:]]
        release.set()
        assert [f.result(5) for f in (first, *others)] == ["listed"] * 3
    assert made == ["list"]

    def failing() -> str:
        raise RuntimeError("throttled")

    with refresh_scope():
        with pytest.raises(RuntimeError):
            shared("k", failing)
        assert shared("k", lambda: "again") == "again"  # asked anew, not the failure
    with refresh_scope():
        assert shared("k", lambda: "fresh") == "fresh"  # a new refresh lists again
