"""Scale-out: two worker processes on one task queue share the actions of one apply.

Each worker has fewer activity slots than the apply's parallelism, so one worker alone cannot
hold every action the walk starts at once: the rest must go to the other. Who ran an action
is read where an operator reads it, from the run's history (ActivityTaskStarted identity).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.iac_wf_support import Stack, start

ROOT = Path(__file__).resolve().parent.parent
SLOTS = 6  # per worker: below the apply's parallelism
PARALLELISM = 12
RESOURCES = 36


def spawn_worker(address: str, queue: str) -> subprocess.Popen[str]:
    env = {**os.environ, "WFCTL_PROVIDER_MODULES": "tests.iac_test_provider"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.iac_worker_process", address, queue, str(SLOTS)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


async def action_identities(client: Client, workflow_id: str) -> dict[str, str]:
    """apply_action scheduled event (run id and event id) -> identity of the worker that
    started it, over every run of the chain."""
    ran: dict[str, str] = {}
    async for run in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        history = await client.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
        scheduled: dict[int, str] = {}
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = event.activity_task_scheduled_event_attributes
                if attrs.activity_type.name == "apply_action":
                    scheduled[event.event_id] = attrs.activity_id
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                attrs = event.activity_task_started_event_attributes
                if attrs.scheduled_event_id in scheduled:
                    ran[f"{run.run_id}/{attrs.scheduled_event_id}"] = attrs.identity
    return ran


async def test_two_workers_share_one_apply(client: Client, tmp_path: Path) -> None:
    stack = Stack(tmp_path, latency=0.3)
    for i in range(RESOURCES):
        stack.add(f"r{i}", config={"index": i})
    address = client.service_client.config.target_host
    queue = f"iac-scale-out-{uuid.uuid4()}"
    workers = await asyncio.gather(
        asyncio.to_thread(spawn_worker, address, queue),
        asyncio.to_thread(spawn_worker, address, queue),
    )
    try:
        handle = await start(
            client, "ApplyWorkflow", queue,
            stack.document(auto_approve=True, parallelism=PARALLELISM),
        )
        result = await asyncio.wait_for(handle.result(), timeout=90)
        ran = await action_identities(client, stack.workflow_id)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGKILL)
            worker.wait()

    assert result.status == "applied", result.errors
    assert result.counts == {"create": RESOURCES}
    assert len(ran) == RESOURCES
    # The SDK's default identity is "<pid>@<host>": both processes ran actions of this run.
    pids = {identity.split("@")[0] for identity in ran.values()}
    assert pids == {str(worker.pid) for worker in workers}
    assert stack.cloud.fresh_creates() == {f"r{i}": 1 for i in range(RESOURCES)}
