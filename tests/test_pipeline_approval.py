"""step.wait_for_approval and step.sleep: runs that wait durably, released by the `approve` /
`reject` Update from the client API, wfctl and the Temporal CLI, and surviving a killed worker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError

from tests.conftest import temporal_binary
from tests.pipeline_harness import EXAMPLES, running_pipelines
from wfctl.client import PipelineExecutor
from wfctl.history import TemporalEventRecorder
from workflows.pipeline_approval import DETAILS_LIMIT, PendingApproval

ROOT = Path(__file__).resolve().parent.parent

PIPELINES = """
pipelines:
  gated:
    steps:
      - name: prepare
        type: step.set
        config: {values: {version: "{{ version }}"}}
      - name: approve
        type: step.wait_for_approval
        config: {message: "deploy {{ version }}?", approvers: [ada, grace]}
      - name: deploy
        type: step.set
        config: {values: {deployed: "{{ version }}", by: "{{ approval.approver }}"}}
  planned:
    steps:
      - name: plan
        type: step.set
        config:
          values:
            summary: "  ~ aws.s3_bucket.web [update]\\n      tags.release: old -> {{ tag }}"
      - name: approve
        type: step.wait_for_approval
        config:
          message: "apply release {{ tag }}?"
          details: "{{ steps.plan.summary }}\\nPlan: 0 to add, 1 to change, 0 to destroy."
  slow-gate:
    steps:
      - name: prepare
        type: step.sleep
        config: {duration: 1s}
      - name: approve
        type: step.wait_for_approval
        config: {message: "ready?"}
  long-details:
    steps:
      - name: approve
        type: step.wait_for_approval
        config: {details: "{{ 'x' * size }}"}
  deadline-approves:
    steps:
      - name: approve
        type: step.wait_for_approval
        config: {timeout: 500ms, on_timeout: approve}
      - name: nap
        type: step.sleep
        config: {duration: "{{ nap }}"}
  deadline-fails:
    steps:
      - name: approve
        type: step.wait_for_approval
        config: {timeout: 500ms}
  two-gates:
    steps:
      - name: gates
        type: step.parallel
        config:
          branches:
            eu: [{name: ok, type: step.wait_for_approval, config: {message: eu}}]
            us: [{name: ok, type: step.wait_for_approval, config: {message: us}}]
"""


@pytest.fixture(scope="module")
async def executor(client: Client) -> AsyncIterator[PipelineExecutor]:
    async with running_pipelines(client, PIPELINES) as executor:
        yield executor


@pytest.fixture(scope="module")
def address(client: Client) -> str:
    return client.service_client.config.target_host


async def waiting_steps(executor: PipelineExecutor, run_id: str) -> list[PendingApproval]:
    for _ in range(200):
        try:
            pending = await executor.pending_approvals(run_id)
        except Exception:  # no worker has the run yet
            pending = []
        if pending:
            return pending
        await asyncio.sleep(0.1)
    raise AssertionError(f"{run_id} never waited for an approval")


async def test_client_api_approves_with_name_and_comment(executor: PipelineExecutor) -> None:
    handle = await executor.start_pipeline("gated", {"version": "1.2"})
    [pending] = await waiting_steps(executor, handle.id)
    assert pending.step == "approve" and pending.message == "deploy 1.2?"
    assert pending.approvers == ["ada", "grace"] and pending.deadline is None
    outcome = await executor.approve(handle.id, "ada", "looks good")
    assert outcome.decision == "approved" and outcome.step == "approve"
    result = await handle.result()
    assert result["deployed"] == "1.2" and result["by"] == "ada"
    assert result["approval"]["comment"] == "looks good"
    timeline = await TemporalEventRecorder(executor.client).timeline(handle.id)
    assert [(e.step, e.kind, e.status) for e in timeline if e.kind == "approval"] == [
        ("approve", "approval", "approved")
    ]


async def test_validator_refuses_bad_decisions_without_touching_the_run(
    executor: PipelineExecutor,
) -> None:
    handle = await executor.start_pipeline("gated", {"version": "2.0"})
    await waiting_steps(executor, handle.id)
    refusals = [
        (executor.approve(handle.id, "", "no name"), "an approver name is required"),
        (executor.approve(handle.id, "mallory", "me!"), "'mallory' may not decide 'approve'"),
        (executor.reject(handle.id, "grace", ""), "a rejection needs a comment"),
        (executor.approve(handle.id, "ada", step="nope"), "step 'nope' is not waiting"),
    ]
    for attempt, expected in refusals:
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await attempt
        assert expected in str(info.value.cause)
    await executor.reject(handle.id, "grace", "not on a Friday")
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert failed.value.cause.message == (  # type: ignore[union-attr]
        'step "approve" failed: rejected by grace: not on a Friday'
    )
    # Rejected validator calls leave no trace in history: the decisions are all that is there.
    history = await handle.fetch_history()
    accepted = [e for e in history.events if e.HasField(
        "workflow_execution_update_accepted_event_attributes")]
    assert len(accepted) == 1
    with pytest.raises(RPCError, match="already completed"):
        await executor.approve(handle.id, "ada")


async def test_timeout_approves_or_fails_by_on_timeout(executor: PipelineExecutor) -> None:
    handle = await executor.start_pipeline("deadline-approves", {"nap": "100ms"})
    result = await handle.result()
    assert result["approved"] is True and result["approval"]["decision"] == "timed_out"
    timeline = await TemporalEventRecorder(executor.client).timeline(handle.id)
    assert [(e.step, e.kind, e.status) for e in timeline] == [
        ("approve", "timer", "timed_out"),
        ("nap", "timer", "completed"),
    ]
    with pytest.raises(WorkflowFailureError) as info:
        await executor.execute_pipeline("deadline-fails", {})
    assert "no approval within 0:00:00.500000" in str(info.value.cause)


async def test_several_waiting_steps_are_named(executor: PipelineExecutor) -> None:
    handle = await executor.start_pipeline("two-gates", {})
    for _ in range(100):
        pending = await waiting_steps(executor, handle.id)
        if len(pending) == 2:
            break
        await asyncio.sleep(0.05)
    assert sorted(p.step for p in pending) == ["gates.eu.ok", "gates.us.ok"]
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await executor.approve(handle.id, "ada")
    assert "several steps wait" in str(info.value.cause)
    await executor.approve(handle.id, "ada", step="gates.eu.ok")
    await executor.approve(handle.id, "ada", step="gates.us.ok")
    result = await handle.result()
    assert result["eu"]["approval"]["step"] == "gates.eu.ok"
    assert result["us"]["approved"] is True


async def run_command(*argv: str, columns: int | None = None) -> tuple[int, str, str]:
    env = None if columns is None else {**os.environ, "COLUMNS": str(columns)}
    done = await asyncio.to_thread(
        subprocess.run, list(argv), capture_output=True, text=True, timeout=60, cwd=ROOT,
        env=env,
    )
    return done.returncode, done.stdout, done.stderr


async def test_temporal_cli_update_releases_the_run(
    executor: PipelineExecutor, address: str
) -> None:
    handle = await executor.start_pipeline("gated", {"version": "3.1"})
    await waiting_steps(executor, handle.id)
    code, out, err = await run_command(
        temporal_binary(), "workflow", "update", "execute", "--address", address,
        "--workflow-id", handle.id, "--name", "approve",
        "--input", json.dumps({"approver": "grace", "comment": "from the Temporal CLI"}),
    )  # fmt: skip
    assert code == 0, err
    assert '"decision": "approved"' in out or "approved" in out
    result = await handle.result()
    assert result["by"] == "grace" and result["approval"]["comment"] == "from the Temporal CLI"


async def test_wfctl_pending_and_approve(executor: PipelineExecutor, address: str) -> None:
    handle = await executor.start_pipeline("gated", {"version": "4.0"})
    await waiting_steps(executor, handle.id)
    wfctl = [sys.executable, "-m", "wfctl", "--address", address, "pipeline"]
    code, out, err = await run_command(*wfctl, "pending", handle.id, "--json")
    assert code == 0, err
    assert [p["message"] for p in json.loads(out)] == ["deploy 4.0?"]
    code, out, err = await run_command(*wfctl, "approve", handle.id, "--approver", "mallory")
    assert code == 1 and "may not decide" in err
    code, out, err = await run_command(
        *wfctl, "approve", handle.id, "--approver", "ada", "--comment", "ship"
    )
    assert code == 0, err
    assert "approve: approved by ada" in out
    assert (await handle.result())["by"] == "ada"


async def test_wfctl_pending_wait_waits_for_a_step_that_is_not_waiting_yet(
    executor: PipelineExecutor, address: str
) -> None:
    """`pending` right after `run --no-wait`, as the README does: the run sleeps (or plans)
    first, and --wait prints the step once it waits instead of an empty table."""
    handle = await executor.start_pipeline("slow-gate", {})
    wfctl = [sys.executable, "-m", "wfctl", "--address", address, "pipeline"]
    code, out, err = await run_command(*wfctl, "pending", handle.id, "--wait", "--json")
    assert code == 0, err
    assert [p["message"] for p in json.loads(out)] == ["ready?"]
    await executor.approve(handle.id, "ada")
    await handle.result()


PLANNED_DETAILS = (
    "  ~ aws.s3_bucket.web [update]\n      tags.release: old -> r7\n"
    "Plan: 0 to add, 1 to change, 0 to destroy."
)


async def test_details_render_from_the_state_and_show_in_the_query_and_the_ui(
    executor: PipelineExecutor,
) -> None:
    handle = await executor.start_pipeline("planned", {"tag": "r7"})
    [pending] = await waiting_steps(executor, handle.id)
    assert pending.message == "apply release r7?"
    assert pending.details == PLANNED_DETAILS
    # The web UI's "current details" of the run: what the approver reads beside it.
    metadata = await handle.query("__temporal_workflow_metadata")
    assert metadata.current_details == (
        f"waiting for approval: approve\n\napply release r7?\n\n{PLANNED_DETAILS}"
    )
    await executor.approve(handle.id, "ada")
    assert (await handle.result())["approved"] is True


async def test_details_longer_than_the_limit_are_cut_saying_so(
    executor: PipelineExecutor,
) -> None:
    handle = await executor.start_pipeline("long-details", {"size": DETAILS_LIMIT + 500})
    [pending] = await waiting_steps(executor, handle.id)
    shown, marker = pending.details.rsplit("\n", 1)
    assert len(pending.details) <= DETAILS_LIMIT and set(shown) == {"x"}
    assert marker == (
        f"... ({DETAILS_LIMIT + 500 - len(shown)} more characters not shown; "
        "see the step that produced them)"
    )
    await executor.approve(handle.id, "ada")
    await handle.result()


async def test_wfctl_pending_prints_the_details(executor: PipelineExecutor, address: str) -> None:
    handle = await executor.start_pipeline("planned", {"tag": "r8"})
    await waiting_steps(executor, handle.id)
    wfctl = [sys.executable, "-m", "wfctl", "--address", address, "pipeline"]
    code, out, err = await run_command(*wfctl, "pending", handle.id, columns=80)
    assert code == 0, err
    expected = PLANNED_DETAILS.replace("r7", "r8")
    assert f"approve: apply release r8?\n{expected}\n" in out
    # The table fits 80 columns, one waiting step a line: the free text is under it.
    header, row, gap = out.splitlines()[:3]
    assert gap == "", out
    assert header.split() == ["step", "approvers", "since", "(UTC)", "deadline", "(UTC)"]
    assert row.split()[:2] == ["approve", "anyone"] and len(row) <= 80
    code, out, err = await run_command(*wfctl, "pending", handle.id, "--json")
    assert code == 0, err
    assert [p["details"] for p in json.loads(out)] == [expected]
    await executor.approve(handle.id, "ada")
    await handle.result()


def start_worker(config: Path, address: str, queue: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "worker", "--config", str(config), "--no-iac",
         "--task-queue", queue, "--reload-interval", "0", "--sticky-timeout", "1"],
        cwd=ROOT,
        env={**os.environ, "TEMPORAL_ADDRESS": address},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


async def test_worker_killed_while_waiting_loses_nothing(
    client: Client, address: str, tmp_path: Path
) -> None:
    config = tmp_path / "gated.yaml"
    config.write_text(PIPELINES)
    queue = f"test-approval-kill-{uuid.uuid4().hex[:8]}"
    executor = PipelineExecutor(client, task_queue=queue)
    worker = start_worker(config, address, queue)
    try:
        handle = await executor.start_pipeline("gated", {"version": "9.9"})
        await waiting_steps(executor, handle.id)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        worker = start_worker(config, address, queue)
        await executor.approve(handle.id, "ada", "after the crash")
        result = await asyncio.wait_for(handle.result(), 30)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    assert result["deployed"] == "9.9" and result["by"] == "ada"
    steps = [e.step for e in await TemporalEventRecorder(client).timeline(handle.id)]
    assert steps == ["prepare", "approve", "deploy"]
    # One execution, never retried or reset: its first run is the one that completed.
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
    assert description.run_id == handle.first_execution_run_id


async def test_release_train_example(client: Client) -> None:
    async with running_pipelines(client, EXAMPLES / "release-train.yaml") as executor:
        data = {"version": "2.4.0", "services": ["api", "web", "worker"], "rollout": "100ms"}
        handle = await executor.start_pipeline("release-train", data)
        [pending] = await waiting_steps(executor, handle.id)
        assert pending.message == "Release 2.4.0: api, web, worker. Deploy?"
        await executor.approve(handle.id, "ada", "ship it")
        assert await handle.result() == {
            "version": "2.4.0",
            "approved_by": "ada",
            "urls": [f"https://{s}.example.test/2.4.0" for s in ("api", "web", "worker")],
        }
        timeline = await TemporalEventRecorder(client).timeline(handle.id)
        children = [e for e in timeline if e.kind == "child"]
        assert [e.status for e in children] == ["completed"] * 3
