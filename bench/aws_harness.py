"""What the AWS benchmarks share: the sandbox, a dev server of their own and a worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from providers.aws.sandbox import start_sandbox
from workflows import search_attributes

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class AwsBench:
    client: Client
    queue: str
    moto: str
    worker_pid: int = 0  # the IaC worker's process, for its CPU time (cpu_seconds)


@asynccontextmanager
async def aws_bench(prefix: str) -> AsyncIterator[AwsBench]:
    """The moto sandbox, a Temporal dev server and an IaC worker in its own process (32
    activity slots) on a fresh task queue; all stopped on exit."""
    moto, stop_sandbox = start_sandbox()  # before the worker: it inherits the credentials
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        search_attributes=search_attributes.ALL,
    )
    queue = f"{prefix}-{uuid.uuid4().hex[:6]}"
    address = env.client.service_client.config.target_host
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.iac_worker_process", address, queue, "32"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        yield AwsBench(env.client, queue, moto, worker.pid)
    finally:
        worker.kill()
        worker.wait()
        await env.shutdown()
        stop_sandbox()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc; 0.0 elsewhere).

    On a shared machine a benchmark's wall times swing with the other processes' load; the
    CPU time its own processes spend does much less."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
