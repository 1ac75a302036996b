"""--on-failure wait: a failed action's dependents wait, the rest goes on, then the run waits
for the operator's retry (no new plan), skip or abort [--rollback], or ends at its timeout."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from typer.testing import CliRunner

from tests.iac_history import events, replays
from tests.iac_wf_support import Stack, iac_worker, start
from tests.test_iac_operate import progress_when, temporal_cli
from tests.test_iac_wf_crash import spawn_worker
from wfctl.infra_cli import infra_app
from wfctl.stack_client import StackClient
from workflows.iac.models import Progress

pytest_plugins = ["tests.aws_fixtures"]


def branches(tmp_path: Path) -> Stack:
    """`net` <- `app`, and two resources that depend on nothing: `net` is made to fail."""
    stack = Stack(tmp_path, latency=0.05)
    stack.add("net", "test.network", config={"cidr": "10.0.0.0/16"})
    stack.add("app", config={"net": "${net.outputs.id}"})
    stack.add("x1").add("x2")
    stack.cloud.break_resource("net", "CIDR 10.0.0.0/16 overlaps an existing network")
    return stack


def waiting(progress: Progress) -> bool:
    return bool(progress.awaiting_decision_since)


async def started_waiting(client: Client, queue: str, stack: Stack, **options: Any) -> Any:
    doc = stack.document(auto_approve=True, on_failure="wait", **options)
    handle = await start(client, "ApplyWorkflow", queue, doc)
    progress = await progress_when(handle, waiting, "waiting for a decision")
    return handle, progress


def plans_made(history: list[Any]) -> int:
    return sum(
        1
        for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "plan_stack"
    )


async def test_independent_branches_finish_then_retry_from_the_temporal_cli(
    client: Client, tmp_path: Path
) -> None:
    stack = branches(tmp_path)
    async with iac_worker(client) as queue:
        handle, progress = await started_waiting(client, queue, stack)
        assert progress.failed == ["net"] and progress.waiting == 1 and progress.done == 2
        [error] = progress.errors
        assert (error.resource, error.action) == ("net", "create")
        assert "overlaps an existing network" in error.error
        assert set(stack.cloud.live()) == {"x1", "x2"}
        shown = await asyncio.to_thread(
            CliRunner().invoke, infra_app, ["progress", stack.name],
            env={"TEMPORAL_ADDRESS": client.service_client.config.target_host},
        )  # fmt: skip
        assert "The run waits for a decision (since " in shown.stdout
        assert f"wfctl infra retry {stack.name} [net]" in shown.stdout
        # Not fixed yet: the retry fails again and the run waits again.
        await StackClient(client).retry(stack.name, by="ada")
        again = await progress_when(
            handle, lambda p: waiting(p) and p.failed == ["net"], "the retry failed"
        )
        assert len(again.errors) == 1
        stack.cloud.fix_resource("net")
        out = await temporal_cli(
            client, "workflow", "update", "execute", "--workflow-id", stack.workflow_id,
            "--name", "retry", "--input", json.dumps({"by": "ada", "resources": ["net"]}),
        )  # fmt: skip
        assert "retrying net, by ada" in out
        result = await handle.result()
    assert result.status == "applied", result.errors
    assert result.errors == [] and result.counts == {"create": 4}
    assert set(stack.cloud.live()) == {"net", "app", "x1", "x2"}
    assert plans_made(await events(client, stack.workflow_id)) == 1  # no re-plan
    await replays(client, stack.workflow_id)


async def test_skip_skips_the_dependents_and_refuses_what_did_not_fail(
    client: Client, tmp_path: Path
) -> None:
    stack = branches(tmp_path)
    stacks = StackClient(client)
    async with iac_worker(client) as queue:
        handle, _ = await started_waiting(client, queue, stack)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await stacks.skip(stack.name, "x1", by="ada")
        assert "x1 has not failed (failed: net)" in str(refused.value.cause)
        answer = await stacks.skip(stack.name, "net", by="ada")
        assert answer == "skipped net, by ada; skipped with it: app"
        result = await handle.result()
    assert result.status == "failed"
    assert sorted(result.skipped) == ["app", "net"]
    assert set(stack.cloud.live()) == {"x1", "x2"}


async def test_abort_with_rollback_deletes_what_the_run_created(
    client: Client, tmp_path: Path
) -> None:
    stack = branches(tmp_path)
    async with iac_worker(client) as queue:
        handle, _ = await started_waiting(client, queue, stack)
        answer = await StackClient(client).abort(stack.name, rollback=True, by="ada")
        assert answer.startswith("aborting, by ada")
        result = await handle.result()
    assert (result.status, result.reason) == ("rolled_back", "aborted by ada")
    assert sorted(result.rolled_back) == ["net", "x1", "x2"]  # net: its pending entry
    assert stack.cloud.live() == {}


async def test_no_decision_ends_the_run_at_its_failure_timeout(
    client: Client, tmp_path: Path
) -> None:
    stack = branches(tmp_path)
    async with iac_worker(client) as queue:
        handle, _ = await started_waiting(client, queue, stack, failure_timeout=1)
        result = await handle.result()
    assert (result.status, result.reason) == ("failed", "no retry, skip or abort within 1s")
    assert result.skipped == ["app"] and [e.resource for e in result.errors] == ["net"]


async def test_a_stop_run_refuses_retry(client: Client, tmp_path: Path) -> None:
    stack = Stack(tmp_path, latency=0.5)
    stack.add("a").add("b")
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        await progress_when(handle, lambda p: bool(p.running), "running")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await StackClient(client).retry(stack.name)
        assert "not started with on_failure wait" in str(refused.value.cause)
        assert (await handle.result()).status == "applied"


async def test_the_wait_for_a_decision_survives_a_worker_sigkill(
    client: Client, tmp_path: Path
) -> None:
    stack = branches(tmp_path)
    address = client.service_client.config.target_host
    queue = f"iac-operate-{uuid.uuid4()}"
    worker = await asyncio.to_thread(spawn_worker, address, queue)
    try:
        handle: WorkflowHandle[Any, Any]
        handle, _ = await started_waiting(client, queue, stack, heartbeat_timeout=1.5)
        worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(worker.wait)
        worker = await asyncio.to_thread(spawn_worker, address, queue)
        progress = await progress_when(handle, waiting, "still waiting after the restart")
        assert progress.failed == ["net"] and progress.done == 2
        stack.cloud.fix_resource("net")
        await StackClient(client).retry(stack.name, by="ada")
        result = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert result.status == "applied", result.errors
    assert stack.cloud.fresh_creates() == {"net": 1, "app": 1, "x1": 1, "x2": 1}


# Each decision sent as the Temporal CLI sends it, to a run whose worker was killed while it
# waited: what it answers, then how the run ends and what is left in the cloud.
DECISIONS = {
    "skip": ({"resource": "net", "by": "ada"}, "skipped net, by ada; skipped with it: app",
             "failed", {"x1", "x2"}),
    "abort": ({"rollback": True, "by": "ada"}, "aborting, by ada", "rolled_back", set()),
}  # fmt: skip


@pytest.mark.parametrize("decision", sorted(DECISIONS))
async def test_skip_or_abort_rollback_from_the_temporal_cli_after_a_worker_sigkill(
    client: Client, tmp_path: Path, decision: str
) -> None:
    argument, answer, status, left = DECISIONS[decision]
    stack = branches(tmp_path)
    address = client.service_client.config.target_host
    queue = f"iac-operate-{uuid.uuid4()}"
    worker = await asyncio.to_thread(spawn_worker, address, queue)
    try:
        handle: WorkflowHandle[Any, Any]
        handle, _ = await started_waiting(client, queue, stack, heartbeat_timeout=1.5)
        worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(worker.wait)
        worker = await asyncio.to_thread(spawn_worker, address, queue)
        progress = await progress_when(handle, waiting, "still waiting after the restart")
        assert progress.failed == ["net"] and progress.done == 2
        out = await temporal_cli(
            client, "workflow", "update", "execute", "--workflow-id", stack.workflow_id,
            "--name", decision, "--input", json.dumps(argument),
        )  # fmt: skip
        assert answer in out
        result = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert result.status == status, result.errors
    assert set(stack.cloud.live()) == left
    if decision == "skip":
        assert sorted(result.skipped) == ["app", "net"]
    else:
        assert result.reason == "aborted by ada"
        assert sorted(result.rolled_back) == ["net", "x1", "x2"]
    await replays(client, stack.workflow_id)


async def test_wfctl_apply_shows_the_failure_and_the_commands_and_keeps_following(
    client: Client, tmp_path: Path
) -> None:
    stack = branches(tmp_path)
    path = tmp_path / "stack.yaml"
    # The stack's own default: no --on-failure on the command line.
    path.write_text(yaml.safe_dump({**stack.document(), "on_failure": "wait"}))
    async with iac_worker(client) as queue:
        env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host,
               "WFCTL_IAC_TASK_QUEUE": queue}  # fmt: skip
        args = ["apply", "-f", str(path), "--auto-approve"]
        following = asyncio.create_task(
            asyncio.to_thread(CliRunner().invoke, infra_app, args, env=env)
        )
        handle = client.get_workflow_handle(stack.workflow_id)
        await progress_when(handle, waiting, "waiting for a decision")
        await asyncio.sleep(1.0)  # the follower polls progress twice a second
        stack.cloud.fix_resource("net")
        await StackClient(client).retry(stack.name, by="ada")
        applied = await following
    assert applied.exit_code == 0, applied.output
    assert "Error: create net: create test.network net (test): ValidationError: CIDR" in (
        applied.stderr
    )
    assert f"wfctl infra retry {stack.name} [net]   after fixing the cause" in applied.stderr
    assert "Apply complete! Resources: 4 added" in applied.stdout


def aws_document(tmp_path: Path, moto_endpoint: str, resources: list[dict[str, Any]]) -> Any:
    return {
        "stack": f"op-aws-{uuid.uuid4().hex[:8]}",
        "state": {"backend": "sqlite", "path": str(tmp_path / "state.db")},
        "providers": {
            "aws": {"type": "aws", "region": "us-east-1", "endpoint_url": moto_endpoint,
                    "max_attempts": 1, "poll_interval": 0.05},
        },  # fmt: skip
        "resources": resources,
        "auto_approve": True,
        "on_failure": "wait",
    }


async def test_on_moto_a_failure_waits_then_abort_rolls_back(
    client: Client, tmp_path: Path, moto_endpoint: str
) -> None:
    doc = aws_document(tmp_path, moto_endpoint, [
        # A range no other test uses: the moto server is shared by the whole run.
        {"name": "net", "type": "infra.vpc", "config": {"cidr": "10.213.0.0/16"}},
        # AWS takes VPCs of /16 to /28 only: refused, not retried.
        {"name": "big", "type": "infra.vpc", "config": {"cidr": "10.0.0.0/8"}},
        {"name": "fw", "type": "infra.firewall", "config": {"vpc_id": "${big.outputs.vpc_id}"}},
    ])  # fmt: skip
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, doc)
        progress = await progress_when(handle, waiting, "waiting for a decision")
        assert progress.failed == ["big"] and progress.done == 1 and progress.waiting == 1
        await StackClient(client).abort(doc["stack"], rollback=True, by="ada")
        result = await handle.result()
    assert (result.status, result.reason) == ("rolled_back", "aborted by ada")
    assert "net" in result.rolled_back
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_endpoint)
    cidrs = {v["CidrBlock"] for v in ec2.describe_vpcs()["Vpcs"]}
    assert "10.213.0.0/16" not in cidrs
