"""What the AWS benchmarks share: the sandbox, a dev server of their own and a worker process."""

from __future__ import annotations

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
        yield AwsBench(env.client, queue, moto)
    finally:
        worker.kill()
        worker.wait()
        await env.shutdown()
        stop_sandbox()
