"""Crash test: SIGKILL the worker during a 100-resource apply, several times, restart it.

The apply must finish with exactly one cloud resource made per declared resource, every
resource recorded in state, and no lock left.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client

from statestore import open_state_store
from tests.iac_wf_support import Stack, start

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = 100
KILL_AFTER = (12, 45, 80)  # resources made in the cloud when the worker dies
# A workflow task the killed worker had started goes to the next worker after this.
KILLED_TASK_TIMEOUT = timedelta(seconds=3)


def spawn_worker(address: str, queue: str) -> subprocess.Popen[str]:
    env = {**os.environ, "WFCTL_PROVIDER_MODULES": "tests.iac_test_provider"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.iac_worker_process", address, queue, "16"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def made(stack: Stack) -> int:
    return sum(stack.cloud.fresh_creates().values())


# In `make soak`, not `make test`: the suite's 15-minute budget on 2 cores.
@pytest.mark.soak
async def test_apply_survives_sigkill_at_several_points(client: Client, tmp_path: Path) -> None:
    stack = Stack(tmp_path, latency=0.15, ready_after=1)
    for i in range(RESOURCES):
        # Ten chains of ten: every kill lands with actions in flight and others waiting.
        needs = [f"r{i - 10}"] if i >= 10 else []
        stack.add(f"r{i}", depends_on=needs, config={"index": i})
    address = client.service_client.config.target_host
    queue = f"iac-crash-{uuid.uuid4()}"
    worker = await asyncio.to_thread(spawn_worker, address, queue)
    try:
        handle = await start(
            client,
            "ApplyWorkflow",
            queue,
            stack.document(auto_approve=True, parallelism=10, heartbeat_timeout=1.5),
            task_timeout=KILLED_TASK_TIMEOUT,
        )
        for threshold in KILL_AFTER:
            deadline = time.monotonic() + 60
            while made(stack) < threshold:
                assert time.monotonic() < deadline, f"stuck below {threshold} resources"
                await asyncio.sleep(0.02)
            worker.send_signal(signal.SIGKILL)
            await asyncio.to_thread(worker.wait)
            worker = await asyncio.to_thread(spawn_worker, address, queue)
        result = await asyncio.wait_for(handle.result(), timeout=120)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()

    assert result.status == "applied", result.errors
    assert stack.cloud.fresh_creates() == {f"r{i}": 1 for i in range(RESOURCES)}
    # Some kill landed between a resource's creation and its recording: the retry adopted it.
    assert any(call["adopted"] for call in stack.cloud.calls("create"))
    store = open_state_store(stack.state, stack.name)
    try:
        states = store.list_resources()
        assert len(states) == RESOURCES
        live = stack.cloud.live()
        assert all(state.provider_id == live[state.name]["provider_id"] for state in states)
        assert store.lock_info() is None  # type: ignore[attr-defined]
    finally:
        store.close()
