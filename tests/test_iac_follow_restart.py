"""`wfctl infra apply` keeps following its run through a Temporal server restart.

A private dev server (SQLite history in tmp, so the run survives the restart), a worker
process and wfctl as a subprocess, as a user runs them; the server is killed mid-apply and
started again on the same port after longer than the SDK's own RPC retries last.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.iac_wf_support import Stack
from tests.test_iac_wf_crash import spawn_worker
from wfctl.dev import dev_server_command, temporal_binary

ROOT = Path(__file__).resolve().parent.parent
# Longer than temporalio's client retries (10 s in all), so following must reconnect itself.
DOWN_FOR = 12.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float, alive: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def start_server(port: int, db_file: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [*dev_server_command(temporal_binary(), port, free_port(), db_file), "--headless"]
    with log.open("ab") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    assert wait_for_port(port, 60, lambda: server.poll() is None), log.read_text()
    return server


# In `make soak`, not `make test`: the suite's 15-minute budget on 2 cores.
@pytest.mark.soak
async def test_apply_follows_its_run_through_a_temporal_restart(tmp_path: Path) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    db_file, log = tmp_path / "temporal.db", tmp_path / "temporal.log"
    server = start_server(port, db_file, log)
    worker = None
    wfctl = None
    try:
        queue = f"iac-restart-{uuid.uuid4()}"
        worker = await asyncio.to_thread(spawn_worker, address, queue)
        # The create in flight when the server dies is run again once its heartbeat times out.
        stack = Stack(tmp_path, latency=0.5, heartbeat_timeout=1.5)
        for i in range(4):
            stack.add(f"r{i}", depends_on=[f"r{i - 1}"] if i else [], config={"index": i})
        path = tmp_path / "stack.yaml"
        path.write_text(yaml.safe_dump(stack.document()))
        wfctl = subprocess.Popen(
            [sys.executable, "-m", "wfctl", "--address", address, "infra", "apply",
             "-f", str(path), "--auto-approve"],
            cwd=ROOT,
            env={**os.environ, "WFCTL_IAC_TASK_QUEUE": queue},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Mid-apply: the first create is under way in the fake cloud.
        for _ in range(600):
            if stack.cloud.fresh_creates() or wfctl.poll() is not None:
                break
            await asyncio.sleep(0.05)
        assert wfctl.poll() is None, wfctl.communicate()
        server.kill()
        server.wait()
        await asyncio.sleep(DOWN_FOR)
        server = start_server(port, db_file, log)
        out, err = await asyncio.to_thread(wfctl.communicate, timeout=180)
        assert wfctl.returncode == 0, err
        assert "Apply complete! Resources: 4 added, 0 changed" in out
        assert "Traceback" not in out + err
        assert "Lost the connection to Temporal" in err and "reconnecting" in err
        assert sorted(stack.cloud.fresh_creates()) == ["r0", "r1", "r2", "r3"]
    finally:
        for process in (wfctl, worker, server):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
