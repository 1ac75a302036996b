"""Apply, plan and destroy against the real dev server, both state stores, the test driver."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import CancelledError
from temporalio.worker import Replayer

from statestore import open_state_store
from tests.iac_wf_support import Stack, iac_worker, start
from workflows.iac import IAC_WORKFLOWS
from workflows.iac.models import PlanOutcome


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_apply_creates_in_dependency_order_with_references(
    client: Client, tmp_path: Path, backend: str
) -> None:
    stack = Stack(tmp_path, backend, latency=0.05)
    stack.add("net", "test.network", config={"cidr": "10.0.0.0/16"})
    stack.add("db", "test.database", size="s", config={"vpc": "${net.outputs.id}"})
    stack.add("app", config={"db": "${db.outputs.endpoint}", "net": "${net.outputs.id}"})
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        result = await handle.result()
    assert result.status == "applied", result.errors
    assert result.counts == {"create": 3}
    live = stack.cloud.live()
    assert live["db"]["config"]["vpc"] == live["net"]["provider_id"]
    assert live["db"]["config"]["instance_type"] == "test-s"
    assert live["app"]["config"]["db"] == "db.db.test:5432"
    calls = {c["name"]: c for c in stack.cloud.calls("create")}
    assert calls["net"]["ended"] <= calls["db"]["started"] <= calls["db"]["ended"]
    assert calls["db"]["ended"] <= calls["app"]["started"]
    db_output = next(r for r in result.resources if r.name == "db")
    assert db_output.outputs["password"] == "(sensitive)"

    store = open_state_store(stack.state, stack.name)
    try:
        states = {s.name: s for s in store.list_resources()}
        assert set(states) == {"net", "db", "app"}
        assert states["db"].outputs["password"].startswith("pw-")
        assert states["app"].dependencies == ["db", "net"]
    finally:
        store.close()


async def test_plan_kinds_then_destroy(client: Client, tmp_path: Path, backend: str) -> None:
    stack = Stack(tmp_path, backend)
    stack.add("net", "test.network", config={"cidr": "10.0.0.0/16"})
    stack.add("keep", config={"size": 1})
    stack.add("change", config={"size": 1})
    stack.add("gone", config={"size": 1})
    async with iac_worker(client) as queue:
        first = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await first.result()).status == "applied"

        stack.resources = [
            {"name": "net", "type": "test.network", "config": {"cidr": "10.1.0.0/16"}},
            {"name": "keep", "type": "test.thing", "config": {"size": 1}},
            {"name": "change", "type": "test.thing", "config": {"size": 2}},
            {"name": "new", "type": "test.thing", "config": {"size": 1}},
        ]
        planned = await client.execute_workflow(
            "PlanWorkflow",
            stack.document(),
            id=f"stack:{stack.name}:plan:1",
            task_queue=queue,
            result_type=PlanOutcome,
        )
        kinds = {a.resource.name: a.action for a in planned.plan.actions}
        assert kinds == {"net": "replace", "change": "update", "new": "create", "gone": "delete"}
        assert planned.counts == {"create": 1, "update": 1, "replace": 1, "delete": 1}

        second = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        result = await second.result()
        assert result.status == "applied", result.errors
        live = stack.cloud.live()
        assert set(live) == {"net", "keep", "change", "new"}
        assert live["net"]["config"]["cidr"] == "10.1.0.0/16"
        assert live["change"]["config"]["size"] == 2

        again = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await again.result()).status == "no_changes"

        destroy = await start(client, "DestroyWorkflow", queue, stack.document(auto_approve=True))
        destroyed = await destroy.result()
    assert destroyed.status == "applied", destroyed.errors
    assert sorted(destroyed.destroyed) == ["change", "keep", "net", "new"]
    assert stack.cloud.live() == {}


async def test_long_apply_continues_as_new_below_the_history_limit(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path)
    for i in range(60):
        stack.add(f"r{i}", depends_on=[f"r{i - 1}"] if i % 3 else [])
    async with iac_worker(client) as queue:
        handle = await start(
            client,
            "ApplyWorkflow",
            queue,
            stack.document(auto_approve=True, parallelism=5, max_history_events=200),
        )
        result = await handle.result()
        runs = [run async for run in client.list_workflows(f"WorkflowId = '{handle.id}'")]
        lengths = [
            len((await client.get_workflow_handle(handle.id, run_id=run.run_id)
                 .fetch_history()).events)
            for run in runs
        ]
    assert result.status == "applied", result.errors
    assert result.counts == {"create": 60}
    assert stack.cloud.fresh_creates() == {f"r{i}": 1 for i in range(60)}
    assert len(runs) >= 2, lengths
    assert max(lengths) <= 260, lengths


async def test_histories_replay_deterministically(client: Client, tmp_path: Path) -> None:
    stack = Stack(tmp_path, latency=0.02)
    for i in range(12):
        stack.add(f"r{i}", config={"up": f"${{r{i - 1}.outputs.id}}"} if i % 4 else {})
    stack.add("bad", depends_on=["r3"])
    stack.provider["fail"] = {"bad": "nope"}
    async with iac_worker(client) as queue:
        handles = [
            await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        ]
        await handles[0].result()
        handles.append(await start(client, "DriftWorkflow", queue, stack.document()))
        await handles[1].result()
        handles.append(
            await start(client, "DestroyWorkflow", queue, stack.document(auto_approve=True))
        )
        await handles[2].result()
    replayer = Replayer(workflows=IAC_WORKFLOWS, data_converter=pydantic_data_converter)
    for handle in handles:
        await replayer.replay_workflow(await handle.fetch_history())


async def test_cancelled_apply_releases_the_lock(client: Client, tmp_path: Path) -> None:
    stack = Stack(tmp_path, latency=0.5)
    for i in range(6):
        stack.add(f"r{i}")
    async with iac_worker(client) as queue:
        handle = await start(
            client, "ApplyWorkflow", queue, stack.document(auto_approve=True, parallelism=2)
        )
        while not stack.cloud.calls("create"):
            await asyncio.sleep(0.05)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        assert isinstance(failure.value.cause, CancelledError)
        store = open_state_store(stack.state, stack.name)
        try:
            assert store.lock_info() is None  # type: ignore[attr-defined]
        finally:
            store.close()
        # The next apply finishes the job, adopting whatever the cancelled one left behind.
        again = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await again.result()).status == "applied"
    assert stack.cloud.fresh_creates() == {f"r{i}": 1 for i in range(6)}


async def test_create_before_destroy_and_per_provider_parallelism(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path, latency=0.2)
    stack.add("net", "test.network", provider="main", config={"cidr": "10.0.0.0/16"},
              lifecycle={"create_before_destroy": True})  # fmt: skip
    doc = stack.document(auto_approve=True)
    doc["providers"]["slow"] = {**stack.provider}
    doc["resources"] += [
        {"name": f"s{i}", "type": "test.thing", "provider": "slow"} for i in range(4)
    ]
    async with iac_worker(client) as queue:
        first = await start(
            client, "ApplyWorkflow", queue, {**doc, "provider_parallelism": {"slow": 1}}
        )
        assert (await first.result()).status == "applied"
        slow_calls = [c for c in stack.cloud.calls("create") if c["name"].startswith("s")]
        for earlier, later in zip(slow_calls, slow_calls[1:], strict=False):
            assert earlier["ended"] <= later["started"]  # one at a time on "slow"

        doc["resources"][0]["config"] = {"cidr": "10.1.0.0/16"}
        second = await start(client, "ApplyWorkflow", queue, doc)
        result = await second.result()
    assert result.status == "applied" and result.counts == {"replace": 1}
    net_calls = [(c["op"], c["provider_id"]) for c in stack.cloud.calls() if c["name"] == "net"]
    (_, old), (op_new, new), (op_del, deleted) = net_calls
    assert (op_new, op_del) == ("create", "delete") and deleted == old != new
    assert stack.cloud.live()["net"]["provider_id"] == new
