"""The stack lock, approval by Update (from Python and the Temporal CLI), saved plans."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.testing import WorkflowEnvironment

from statestore import open_state_store
from tests.conftest import temporal_binary
from tests.iac_wf_support import Stack, iac_worker, start, wait_for_plan
from workflows.iac.models import ApplyOutcome, PlanOutcome, Progress


def lock_info(stack: Stack) -> dict[str, str] | None:
    store = open_state_store(stack.state, stack.name)
    try:
        return store.lock_info()  # type: ignore[attr-defined]
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_concurrent_apply_is_refused_and_the_lock_is_released(
    client: Client, tmp_path: Path, backend: str
) -> None:
    stack = Stack(tmp_path, backend, latency=0.3)
    for i in range(6):
        stack.add(f"r{i}")
    async with iac_worker(client) as queue:
        first = await start(
            client, "ApplyWorkflow", queue, stack.document(auto_approve=True, parallelism=2)
        )
        with pytest.raises(WorkflowAlreadyStartedError):
            await start(client, "DestroyWorkflow", queue, stack.document(auto_approve=True))
        # Wait for the apply phase rather than sleeping a guessed time: on a loaded machine
        # the plan may still be running after any fixed pause.
        progress = await first.query("progress", result_type=Progress)
        for _ in range(200):
            if progress.phase == "apply" and progress.running:
                break
            await asyncio.sleep(0.05)
            progress = await first.query("progress", result_type=Progress)
        assert progress.total == 6 and progress.phase == "apply"
        assert len(progress.running) <= 2
        holder = lock_info(stack)
        assert holder is not None and holder["owner"].startswith(f"stack:{stack.name}@")
        assert (await first.result()).status == "applied"
    assert lock_info(stack) is None
    assert stack.cloud.max_concurrency("create") == 2


async def test_a_terminated_runs_lock_is_taken_over(client: Client, tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    stack.add("a")
    async with iac_worker(client) as queue:
        waiting = await start(client, "ApplyWorkflow", queue, stack.document())
        await wait_for_plan(waiting)
        assert lock_info(stack) is not None
        await waiting.terminate("operator gave up")
        again = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await again.result()).status == "applied"
    assert lock_info(stack) is None


async def test_approval_by_update_rejects_another_plan_id(client: Client, tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    stack.add("a")
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document())
        plan = await wait_for_plan(handle)
        assert plan.counts["create"] == 1 and plan.plan is not None
        assert (await handle.query("progress", result_type=Progress)).phase == "approval"
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update("approve", "not-this-plan")
        assert stack.cloud.live() == {}
        await handle.execute_update("approve", plan.plan_id)
        result = await handle.result()
    assert result.status == "applied"
    assert set(stack.cloud.live()) == {"a"}


async def test_start_and_approval_from_the_temporal_cli(
    client: Client, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    stack = Stack(tmp_path)
    stack.add("a")
    address = client.service_client.config.target_host

    async def temporal(*args: str) -> None:
        command = [temporal_binary(), *args, "--address", address]
        done = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr

    async with iac_worker(client) as queue:
        await temporal(
            "workflow", "start", "--type", "ApplyWorkflow", "--task-queue", queue,
            "--workflow-id", stack.workflow_id, "--id-conflict-policy", "Fail",
            "--input", json.dumps(stack.document()),
        )  # fmt: skip
        handle = client.get_workflow_handle(stack.workflow_id, result_type=ApplyOutcome)
        plan = await wait_for_plan(handle)
        await temporal(
            "workflow", "update", "execute", "--workflow-id", stack.workflow_id,
            "--name", "approve", "--input", json.dumps(plan.plan_id),
        )  # fmt: skip
        assert (await handle.result()).status == "applied"


async def test_reject_and_approval_timeout(client: Client, tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    stack.add("a")
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document())
        await wait_for_plan(handle)
        await handle.execute_update("reject", "not today")
        rejected = await handle.result()
        assert (rejected.status, rejected.reason) == ("rejected", "not today")

        timed = await start(client, "ApplyWorkflow", queue, stack.document(approval_timeout=0.5))
        assert (await timed.result()).status == "approval_timeout"
    assert stack.cloud.live() == {}
    assert lock_info(stack) is None


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_saved_plan_applies_once_and_a_stale_one_is_refused(
    client: Client, tmp_path: Path, backend: str
) -> None:
    stack = Stack(tmp_path, backend)
    stack.add("a")
    async with iac_worker(client) as queue:
        planned = await client.execute_workflow(
            "PlanWorkflow",
            stack.document(),
            id=f"stack:{stack.name}:plan:1",
            task_queue=queue,
            result_type=PlanOutcome,
        )
        applied = await start(
            client, "ApplyWorkflow", queue, stack.document(plan_id=planned.plan_id)
        )
        # A saved plan still waits for approval unless auto_approve says otherwise.
        await wait_for_plan(applied)
        await applied.execute_update("approve", planned.plan_id)
        assert (await applied.result()).status == "applied"

        stale = await start(
            client,
            "ApplyWorkflow",
            queue,
            stack.document(plan_id=planned.plan_id, auto_approve=True),
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await stale.result()
    message = failure.value.cause.message  # type: ignore[attr-defined]
    assert message.startswith("Saved plan is stale:") and "\n" not in message
    assert stack.cloud.fresh_creates() == {"a": 1}
