"""Poison input: what a Temporal CLI user can type fails the run at once, naming the problem.

Before, a lone surrogate or JSON nested 3000 deep failed the data converter, so the workflow
*task* failed and was retried forever; an ApplyWorkflow so started held `stack:<name>` and
every later apply of that stack was refused as busy.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from statestore import open_state_store
from tests.conftest import temporal_binary
from tests.iac_wf_support import Stack, iac_worker, start, wait_for_phase
from tests.pipeline_harness import running_pipelines
from tests.poison_inputs import DEEP, ending, raw_json, task_failures
from wfctl.client import pipeline_workflow_id
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
  caller:
    steps:
      - name: call
        type: step.call_pipeline
        config: {pipeline: "{{ target }}"}
"""

SURROGATE = '{"pipeline": "greet", "data": {"name": "\\ud800"}}'
NESTED = '{"pipeline": "greet", "data": ' + DEEP + "}"
POISON = {
    "lone surrogate": (SURROGATE, "invalid workflow input: lone surrogate in $.data.name"),
    "deep nesting": (NESTED, "invalid workflow input: nesting deeper than 64 at $.data.a.a.a"),
    # Before, the upsert of a 3000-character PipelineName made the server terminate the run.
    "name too long": (
        json.dumps({"pipeline": "p" * 3000}),
        "invalid PipelineWorkflow input (pipeline: String should have at most 255 characters)",
    ),
}


@pytest.fixture
async def pipelines(client: Client) -> Any:
    async with running_pipelines(client, PIPELINES) as executor:
        yield executor


@pytest.mark.parametrize("case", list(POISON))
async def test_poison_pipeline_input_fails_the_run_at_once(
    client: Client, pipelines: Any, case: str
) -> None:
    text, message = POISON[case]
    handle = await client.start_workflow(
        "PipelineWorkflow",
        raw_json(text),
        id=pipeline_workflow_id("greet"),
        task_queue=pipelines.task_queue,
    )
    end = await ending(handle)
    assert end.status == WorkflowExecutionStatus.FAILED
    assert end.error is not None and end.error.type == "InvalidInput"
    assert end.error.non_retryable
    assert end.error.message.startswith(message), end.error.message


async def test_the_temporal_cli_gets_the_same_answer(client: Client, pipelines: Any) -> None:
    """`temporal workflow start --input` with the lone surrogate, as a user would type it;
    then the README's own input still works."""
    address = client.service_client.config.target_host

    async def temporal(*args: str) -> subprocess.CompletedProcess[str]:
        command = [temporal_binary(), *args, "--address", address]
        return await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, timeout=60
        )

    for text, expected in ((SURROGATE, "failed"), ('{"pipeline": "greet", "data": {"name": '
                                                  '"Ada"}}', "completed")):
        workflow_id = pipeline_workflow_id("greet")
        started = await temporal(
            "workflow", "start", "--type", "PipelineWorkflow",
            "--task-queue", pipelines.task_queue, "--workflow-id", workflow_id, "--input", text,
        )
        assert started.returncode == 0, started.stderr
        end = await ending(client.get_workflow_handle(workflow_id))
        if expected == "failed":
            assert end.error is not None and end.error.type == "InvalidInput"
            assert "lone surrogate in $.data.name" in end.error.message
        else:
            assert end.result == {"name": "Ada", "greeting": "hello Ada"}


async def test_a_run_started_without_input_fails_at_once(client: Client, pipelines: Any) -> None:
    """No --input at all used to fail the task too (run() missing an argument)."""
    handle = await client.start_workflow(
        "PipelineWorkflow", id=pipeline_workflow_id("greet"), task_queue=pipelines.task_queue
    )
    end = await ending(handle)
    assert end.error is not None and end.error.type == "InvalidInput"
    assert "started without an input" in end.error.message


def lock_holder(stack: Stack) -> Any:
    store = open_state_store(stack.state, stack.name)
    try:
        return store.lock_info()  # type: ignore[attr-defined]
    finally:
        store.close()


@pytest.mark.parametrize("case", ["lone surrogate", "deep nesting"])
async def test_poison_apply_fails_at_once_and_leaves_the_stack_free(
    client: Client, tmp_path: Path, case: str
) -> None:
    stack = Stack(tmp_path)
    stack.add("web")
    document = stack.document(auto_approve=True)
    if case == "lone surrogate":
        text = json.dumps(document).replace('"web"', '"\\udc00"')
        message = "invalid workflow input: lone surrogate in $.resources[0].name"
    else:
        text = json.dumps({**document, "resources": "DEEP"}).replace('"DEEP"', f"[{DEEP}]")
        message = "invalid workflow input: nesting deeper than 64 at $.resources[0].a.a"
    async with iac_worker(client) as queue:
        poisoned = await client.start_workflow(
            "ApplyWorkflow",
            raw_json(text),
            id=stack.workflow_id,
            task_queue=queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        end = await ending(poisoned)
        assert end.error is not None and end.error.type == "InvalidInput"
        assert end.error.message.startswith(message), end.error.message
        assert lock_holder(stack) is None
        # The id is free again: the same stack applies with a good input.
        again = await start(client, "ApplyWorkflow", queue, document)
        outcome: ApplyOutcome = await asyncio.wait_for(again.result(), 60)
    assert outcome.status == "applied" and outcome.counts == {"create": 1}
    assert set(stack.cloud.live()) == {"web"}
    assert lock_holder(stack) is None


def update_cause(info: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> ApplicationError:
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def test_poison_approval_is_refused_and_the_run_goes_on(
    client: Client, pipelines: Any
) -> None:
    handle = await pipelines.start_pipeline("gate")
    for _ in range(100):
        if await pipelines.pending_approvals(handle.id):
            break
        await asyncio.sleep(0.05)
    poison = {
        '{"approver": "\\ud800", "comment": "ok"}': "lone surrogate in $.approver",
        '{"approver": "ada", "comment": ' + DEEP + "}": "nesting deeper than 64 at $.comment",
        '{"approver": 7}': "approver: Input should be a valid string",
        '"ada"': "Input should be a valid dictionary",
    }
    for text, problem in poison.items():
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update("approve", raw_json(text))
        cause = update_cause(info)
        assert cause.type == "InvalidInput" and problem in cause.message, cause.message
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await handle.execute_update("reject", raw_json('{"approver": "ada", "comment": 1e999}'))
    assert "number 1e999 is out of range" in update_cause(info).message
    outcome = await pipelines.approve(handle.id, "ada", "ship it")
    assert outcome.decision == "approved"
    end = await ending(handle)
    assert end.status == WorkflowExecutionStatus.COMPLETED
    assert await task_failures(handle) == []


async def test_poison_stack_decision_is_refused_and_the_run_goes_on(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path)
    stack.add("web")
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document())
        await wait_for_phase(handle, "approval")
        for update, text, problem in (
            ("approve", '"\\udfff"', "lone surrogate in $"),
            ("approve", "[" * 100 + "]" * 100, "nesting deeper than 64"),
            ("approve", "{}", "expected a str, got dict"),
            ("reject", '"\\ud800 no"', "lone surrogate in $"),
            ("reject", "7", "expected a str, got int"),
        ):
            with pytest.raises(WorkflowUpdateFailedError) as info:
                await handle.execute_update(update, raw_json(text))
            cause = update_cause(info)
            assert cause.type == "InvalidInput" and problem in cause.message, cause.message
        assert await handle.execute_update("reject", "not today") == "plan rejected"
        end = await ending(handle)
    assert isinstance(end.result, ApplyOutcome)
    assert (end.result.status, end.result.reason) == ("rejected", "not today")
    assert lock_holder(stack) is None
    assert stack.cloud.live() == {}


@pytest.mark.parametrize(
    "workflow",
    ["PlanWorkflow", "DestroyWorkflow", "DriftWorkflow", "StatusWorkflow", "ImportWorkflow"],
)
async def test_every_stack_workflow_refuses_poison_input(
    client: Client, tmp_path: Path, workflow: str
) -> None:
    stack = Stack(tmp_path)
    stack.add("web")
    document: dict[str, Any] = stack.document()
    if workflow == "ImportWorkflow":
        document["resource"] = {"name": "web", "type": "test.thing", "provider": "main", "id": "x"}
    text = json.dumps(document).replace('"web"', '"w\\ud800"', 1)
    async with iac_worker(client) as queue:
        handle = await client.start_workflow(
            workflow, raw_json(text), id=stack.workflow_id, task_queue=queue
        )
        end = await ending(handle)
    assert end.error is not None and end.error.type == "InvalidInput", end
    assert end.error.message == "invalid workflow input: lone surrogate in $.resources[0].name"


async def test_a_rendered_child_name_no_pipeline_can_have_fails_the_step(
    client: Client, pipelines: Any
) -> None:
    """The child's input is checked as a run's input is; in the parent that must be a step
    failure, not an exception in workflow code (which fails the task)."""
    for target in ("no such/pipeline", "x" * 3000):
        # 3000 characters: before, the server refused the child's workflow id (over 1000
        # characters) in the parent's start-child command, failing the parent's task.
        handle = await pipelines.start_pipeline("caller", {"target": target})
        end = await ending(handle)
        assert end.error is not None and end.error.type == "StepFailed"
        assert f"{target[:100]!r} is not a pipeline name" in end.error.message
