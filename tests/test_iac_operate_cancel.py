"""Clean cancel of a running apply: by `wfctl infra cancel` (an Update), by Temporal's own
cancel, by Ctrl-C twice. Nothing more starts, running actions are cancelled through their
heartbeats and reconciled, the state matches the cloud, the lock is released, and a new plan
shows exactly the work that is left."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import CancelledError

from statestore import open_state_store
from tests.iac_history import events, replays
from tests.iac_wf_support import Stack, iac_worker, start
from tests.test_iac_operate import progress_when, temporal_cli
from tests.test_iac_wf_crash import ROOT, spawn_worker
from wfctl.stack_client import StackClient
from workflows.iac.models import PlanOutcome, Progress

pytest_plugins = ["tests.aws_fixtures"]

SLOW = 1.5  # seconds one create takes: long enough to be cancelled mid-call


def slow_stack(tmp_path: Path, count: int = 6) -> Stack:
    stack = Stack(tmp_path, latency=SLOW)
    for i in range(count):
        stack.add(f"r{i}")
    return stack


def options() -> dict[str, Any]:
    # Heartbeats every 0.2 s: a cancel reaches a running create that fast.
    return {"auto_approve": True, "parallelism": 2, "heartbeat_timeout": 0.6}


def assert_state_matches_the_cloud(stack: Stack) -> list[str]:
    """Every live resource is recorded under its cloud id, nothing else is; the lock is
    free. Returns the names recorded as pending (made by a cancelled create)."""
    store = open_state_store(stack.state, stack.name)
    try:
        states = {s.name: s for s in store.list_resources()}
        assert store.lock_info() is None  # type: ignore[attr-defined]
    finally:
        store.close()
    live = stack.cloud.live()
    assert set(states) == set(live)
    assert all(states[name].provider_id == live[name]["provider_id"] for name in live)
    return sorted(name for name, state in states.items() if state.pending)


async def remaining_creates(client: Client, queue: str, stack: Stack) -> int:
    planned = await client.execute_workflow(
        "PlanWorkflow",
        stack.document(),
        id=f"stack:{stack.name}:plan:{uuid.uuid4().hex[:6]}",
        task_queue=queue,
        result_type=PlanOutcome,
    )
    return planned.counts.get("create", 0)


async def test_cancel_from_the_temporal_cli_stops_reconciles_and_frees_the_stack(
    client: Client, tmp_path: Path
) -> None:
    stack = slow_stack(tmp_path)
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document(**options()))
        await progress_when(handle, lambda p: len(p.running) == 2, "two creates running")
        out = await temporal_cli(
            client, "workflow", "update", "execute", "--workflow-id", stack.workflow_id,
            "--name", "cancel", "--input", '{"by": "ada"}',
        )  # fmt: skip
        assert "cancelling, by ada" in out
        result = await handle.result()
        assert (result.status, result.reason) == ("cancelled", "cancelled by ada")
        assert sorted(result.cancelled) == ["r0", "r1"] and result.done == []
        assert sorted(result.not_started) == ["r2", "r3", "r4", "r5"]
        # The cancelled creates had made their resources: they are on record, pending.
        assert assert_state_matches_the_cloud(stack) == ["r0", "r1"]
        assert await remaining_creates(client, queue, stack) == 6
        await replays(client, stack.workflow_id)
        again = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await again.result()).status == "applied"
        await replays(client, stack.workflow_id)  # the second apply's; the first's is above
    assert stack.cloud.fresh_creates() == {f"r{i}": 1 for i in range(6)}  # r0, r1 adopted


async def test_temporal_cancel_also_reconciles_before_the_run_ends(
    client: Client, tmp_path: Path
) -> None:
    stack = slow_stack(tmp_path)
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document(**options()))
        await progress_when(handle, lambda p: len(p.running) == 2, "two creates running")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        assert isinstance(failure.value.cause, CancelledError)
        # The run ends as Canceled; what it stopped is in its progress and the UI's details.
        ended = await handle.query("progress", result_type=Progress)
        assert sorted(ended.cancelled) == ["r0", "r1"] and ended.not_started == 4
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert "Stopped: cancelled mid-call (read back from the cloud): r" in (
            metadata.current_details
        )
        assert assert_state_matches_the_cloud(stack) == ["r0", "r1"]
        assert await remaining_creates(client, queue, stack) == 6
    history = await events(client, stack.workflow_id)
    reconciled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history
        if e.HasField("activity_task_scheduled_event_attributes")
    ].count("reconcile_action")
    assert reconciled == 2
    await replays(client, stack.workflow_id)


async def test_cancel_after_a_worker_sigkill(client: Client, tmp_path: Path) -> None:
    stack = slow_stack(tmp_path)
    address = client.service_client.config.target_host
    queue = f"iac-cancel-{uuid.uuid4()}"
    worker = await asyncio.to_thread(spawn_worker, address, queue)
    try:
        handle = await start(client, "ApplyWorkflow", queue, stack.document(**options()))
        await progress_when(handle, lambda p: len(p.running) == 2, "two creates running")
        worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(worker.wait)
        worker = await asyncio.to_thread(spawn_worker, address, queue)
        await StackClient(client).cancel(stack.name, by="ada")
        result = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert result.status == "cancelled"
    assert len(result.done) + len(result.cancelled) + len(result.not_started) == 6
    assert_state_matches_the_cloud(stack)


async def test_ctrl_c_twice_cancels_a_foreground_apply(client: Client, tmp_path: Path) -> None:
    stack = slow_stack(tmp_path)
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(stack.document()))
    async with iac_worker(client) as queue:
        env = {**os.environ, "TEMPORAL_ADDRESS": client.service_client.config.target_host,
               "WFCTL_IAC_TASK_QUEUE": queue}  # fmt: skip
        process = subprocess.Popen(
            [sys.executable, "-m", "wfctl", "infra", "apply", "-f", str(path),
             "--auto-approve", "--parallelism", "2"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        handle = client.get_workflow_handle(stack.workflow_id)
        await progress_when(handle, lambda p: len(p.running) == 2, "two creates running")
        process.send_signal(signal.SIGINT)
        await asyncio.sleep(0.3)
        process.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.to_thread(process.communicate, timeout=60)
    assert process.returncode == 1, stderr
    assert "Ctrl-C again cancels the run" in stderr
    assert f"Cancelling the run of {stack.name} ..." in stderr
    assert "Apply cancelled (cancelled by " in stdout
    assert "Not started: " in stdout
    assert_state_matches_the_cloud(stack)


async def test_cancel_on_moto_leaves_the_state_equal_to_the_cloud(
    client: Client, tmp_path: Path, moto_endpoint: str
) -> None:
    name = f"op-aws-{uuid.uuid4().hex[:8]}"
    cidrs = [f"10.{70 + i}.0.0/16" for i in range(6)]
    doc = {
        "stack": name,
        "state": {"backend": "sqlite", "path": str(tmp_path / "state.db")},
        "providers": {
            "aws": {"type": "aws", "region": "us-east-1", "endpoint_url": moto_endpoint,
                    "max_attempts": 1, "poll_interval": 0.05},
        },  # fmt: skip
        "resources": [
            {"name": f"net{i}", "type": "infra.vpc", "config": {"cidr": cidr}}
            for i, cidr in enumerate(cidrs)
        ],
        "auto_approve": True,
        "parallelism": 1,
        "heartbeat_timeout": 0.6,
    }
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, doc)
        await progress_when(handle, lambda p: p.done >= 1 and bool(p.running), "one done")
        await StackClient(client).cancel(name, by="ada")
        result = await handle.result()
    # A create cut short inside botocore (which wraps the cancel as an HTTPClientError) is a
    # cancelled action, not a failed one.
    assert result.status == "cancelled" and result.not_started and result.errors == []
    assert len(result.done) + len(result.cancelled) + len(result.not_started) == 6
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_endpoint)
    live = {v["CidrBlock"]: v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    store = open_state_store(doc["state"], name)
    try:
        states = {s.name: s for s in store.list_resources()}
        assert store.lock_info() is None  # type: ignore[attr-defined]
    finally:
        store.close()
    made = {f"net{i}": live[cidr] for i, cidr in enumerate(cidrs) if cidr in live}
    assert {n: s.provider_id for n, s in states.items()} == made
    assert set(made) >= set(result.done)
