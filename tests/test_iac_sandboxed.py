"""The IaC workflows run outside the SDK's sandbox in production (workflows/iac/runner.py);
here every one of them runs inside it, with the worker's own sandbox settings, through the
paths a stack takes: plan, an apply that continues as new and fails one resource, rollback,
drift, status, import and destroy. A workflow reaching for a clock, a file or a random number
would fail these runs with the sandbox's RestrictedWorkflowAccessError."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client

from interfaces import ResourceSpec
from tests.iac_sandboxed_workflows import SANDBOXED_IAC_WORKFLOWS
from tests.iac_test_provider import TestDriver
from tests.iac_wf_support import Stack, iac_worker, start
from worker import workflow_runner


async def test_every_iac_workflow_runs_inside_the_sandbox(client: Client, tmp_path: Path) -> None:
    stack = Stack(tmp_path, fail={"bad": "quota exceeded"})
    for i in range(60):
        stack.add(f"r{i}", config={"up": f"${{r{i - 1}.outputs.id}}"} if i % 4 else {})
    legacy = TestDriver("test.thing", stack.cloud, {}).create(
        ResourceSpec(name="legacy", type="test.thing", config={})
    )
    async with iac_worker(
        client, 16, workflows=SANDBOXED_IAC_WORKFLOWS, workflow_runner=workflow_runner()
    ) as queue:
        planned = await (await start(client, "PlanWorkflow", queue, stack.document())).result()
        assert planned.counts["create"] == 60

        applied = await (
            await start(client, "ApplyWorkflow", queue, stack.document(
                auto_approve=True, parallelism=8, max_history_events=200))
        ).result()
        assert applied.status == "applied" and applied.counts == {"create": 60}
        runs = [run async for run in client.list_workflows(
            f"WorkflowId = 'stack:{stack.name}' AND WorkflowType = 'ApplyWorkflow'")]
        assert len(runs) >= 2  # it continued as new at least once

        stack.add("bad", depends_on=["r3"])
        failed = await (
            await start(client, "ApplyWorkflow", queue,
                        stack.document(auto_approve=True, rollback=True))
        ).result()
        assert failed.status == "rolled_back" and failed.rolled_back == ["bad"]
        stack.resources.pop()

        drift = await (await start(client, "DriftWorkflow", queue, stack.document())).result()
        assert drift.drifted is False and drift.checked == 60

        imported = await (
            await start(client, "ImportWorkflow", queue, stack.document(resource={
                "name": "legacy", "type": "test.thing", "provider": "main",
                "id": legacy.provider_id,
            }))
        ).result()
        assert imported.provider_id == legacy.provider_id

        status = await (
            await start(client, "StatusWorkflow", queue, stack.document())
        ).result()
        assert len(status.resources) == 61

        destroyed = await (
            await start(client, "DestroyWorkflow", queue, stack.document(
                auto_approve=True, parallelism=8, max_history_events=200))
        ).result()
    assert destroyed.status == "applied" and len(destroyed.destroyed) == 61, destroyed
    assert stack.cloud.live() == {}
