"""More payloads than a handler takes: the run fails at once with InvalidInput, an Update with
one argument too many is refused, and no workflow task ever fails.

The SDK uses a handler's `RawValue` hint only when the number of payloads is the number of
parameters. Before, `temporal workflow start --input '{}' --input '{}'` called run() with one
argument too many (TypeError) and an undecodable extra payload failed decoding ("Failed
decoding arguments"): either way the workflow task failed and was retried forever, and an
ApplyWorkflow so started held `stack:<name>`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from tests.iac_wf_support import Stack, iac_worker, start, wait_for_phase
from tests.pipeline_harness import running_pipelines
from tests.poison_inputs import DEEP, ending, raw_json, task_failures
from wfctl.client import PipelineExecutor, pipeline_workflow_id
from wfctl.dev import temporal_binary
from workflows.iac.models import ApplyOutcome

PIPELINES = """
pipelines:
  greet:
    steps:
      - name: hello
        type: step.set
        config: {values: {greeting: "hello {{ name }}"}}
  gate:
    steps:
      - name: confirm
        type: step.wait_for_approval
        config: {message: "go?"}
"""

GREET = '{"pipeline": "greet", "data": {"name": "Ada"}}'
TOO_DEEP = "nesting deeper than 64 at $.a.a.a"
# (payloads, what the failure says); "VALID" stands for the workflow's own valid input.
CASES = {
    "two empty objects": (["{}", "{}"], "takes 1 input, it was given 2"),
    "empty then too deep": (["{}", DEEP], f"cannot decode input 2 of 2: {TOO_DEEP}"),
    "too deep then valid": ([DEEP, "VALID"], f"cannot decode input 1 of 2: {TOO_DEEP}"),
    "valid three times": (["VALID"] * 3, "takes 1 input, it was given 3"),
}


def payloads(texts: list[str], valid: str) -> list[Any]:
    return [raw_json(valid if text == "VALID" else text) for text in texts]


@pytest.fixture
async def pipelines(client: Client) -> Any:
    async with running_pipelines(client, PIPELINES) as executor:
        yield executor


def assert_invalid_input(end: Any, message: str) -> None:
    assert end.status == WorkflowExecutionStatus.FAILED, end
    assert end.error is not None and end.error.type == "InvalidInput", end
    assert end.error.non_retryable
    assert message in end.error.message, end.error.message


@pytest.mark.parametrize("case", list(CASES))
async def test_extra_pipeline_inputs_fail_the_run_at_once(
    client: Client, pipelines: PipelineExecutor, case: str
) -> None:
    texts, message = CASES[case]
    workflow_id = pipeline_workflow_id("greet")
    handle = await client.start_workflow(
        "PipelineWorkflow",
        args=payloads(texts, GREET),
        id=workflow_id,
        task_queue=pipelines.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    assert_invalid_input(await ending(handle), message)  # ending() fails on a failed task
    # The id is free: the same id runs the good input.
    again = await client.start_workflow(
        "PipelineWorkflow",
        raw_json(GREET),
        id=workflow_id,
        task_queue=pipelines.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    assert (await ending(again)).result == {"name": "Ada", "greeting": "hello Ada"}


@pytest.mark.parametrize("case", list(CASES))
async def test_extra_apply_inputs_fail_at_once_and_leave_the_stack_free(
    client: Client, tmp_path: Path, case: str
) -> None:
    texts, message = CASES[case]
    stack = Stack(tmp_path)
    stack.add("web")
    document = stack.document(auto_approve=True)
    async with iac_worker(client) as queue:
        handle = await client.start_workflow(
            "ApplyWorkflow",
            args=payloads(texts, json.dumps(document)),
            id=stack.workflow_id,
            task_queue=queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        assert_invalid_input(await ending(handle), message)
        # Nothing was applied, and `stack:<name>` is free for the next apply.
        assert stack.cloud.live() == {}
        again = await start(client, "ApplyWorkflow", queue, document)
        outcome: ApplyOutcome = await asyncio.wait_for(again.result(), 60)
    assert outcome.status == "applied" and outcome.counts == {"create": 1}
    assert set(stack.cloud.live()) == {"web"}


async def temporal_cli(client: Client, *args: str) -> subprocess.CompletedProcess[str]:
    address = client.service_client.config.target_host
    command = [temporal_binary(), *args, "--address", address]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("workflow", ["PipelineWorkflow", "ApplyWorkflow"])
async def test_two_inputs_from_the_temporal_cli(
    client: Client, pipelines: PipelineExecutor, tmp_path: Path, workflow: str
) -> None:
    """`temporal workflow start --input '{}' --input '{}'`, as a user would type it."""
    async with iac_worker(client) as iac_queue:
        queue, workflow_id = {
            "PipelineWorkflow": (pipelines.task_queue, pipeline_workflow_id("greet")),
            "ApplyWorkflow": (iac_queue, Stack(tmp_path).workflow_id),
        }[workflow]
        started = await temporal_cli(
            client, "workflow", "start", "--type", workflow, "--task-queue", queue,
            "--workflow-id", workflow_id, "--input", "{}", "--input", "{}",
        )
        assert started.returncode == 0, started.stderr
        end = await ending(client.get_workflow_handle(workflow_id))
    assert_invalid_input(end, f"invalid workflow input: {workflow} takes 1 input, it was given 2")


async def test_an_approval_with_extra_arguments_is_refused_and_the_run_goes_on(
    client: Client, pipelines: PipelineExecutor
) -> None:
    handle = await pipelines.start_pipeline("gate")
    for _ in range(100):
        if await pipelines.pending_approvals(handle.id):
            break
        await asyncio.sleep(0.05)
    decision = '{"approver": "ada", "comment": "ok"}'
    for texts, problem in (
        ([decision, decision], "approve takes 1 argument, it was given 2"),
        ([decision, DEEP], f"cannot decode input 2 of 2: {TOO_DEEP}"),
    ):
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update("approve", args=[raw_json(t) for t in texts])
        cause = info.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "InvalidInput" and problem in cause.message, cause.message
    outcome = await pipelines.approve(handle.id, "ada", "ship it")
    assert outcome.decision == "approved"
    end = await ending(handle)
    assert end.status == WorkflowExecutionStatus.COMPLETED
    assert await task_failures(handle) == []


async def test_a_stack_decision_with_extra_arguments_is_refused_and_the_run_goes_on(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path)
    stack.add("web")
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document())
        await wait_for_phase(handle, "approval")
        for update, texts, problem in (
            ("reject", ['"no"', '"really"'], "reject takes 1 argument, it was given 2"),
            ("approve", ['"x"', DEEP], f"cannot decode input 2 of 2: {TOO_DEEP}"),
        ):
            with pytest.raises(WorkflowUpdateFailedError) as info:
                await handle.execute_update(update, args=[raw_json(t) for t in texts])
            cause = info.value.cause
            assert isinstance(cause, ApplicationError)
            assert cause.type == "InvalidInput" and problem in cause.message, cause.message
        assert await handle.execute_update("reject", "not today") == "plan rejected"
        end = await ending(handle)
    assert isinstance(end.result, ApplyOutcome)
    assert (end.result.status, end.result.reason) == ("rejected", "not today")
    assert stack.cloud.live() == {}
