"""A 100,000-resource stack: plan, apply and destroy by reference, against a local dev server.

    .venv/bin/python bench/iac_scale.py                  # 100,000 resources (about 20 min)
    .venv/bin/python bench/iac_scale.py --size 20000     # a smaller run

The test provider (tests/iac_test_provider.py) takes 10 ms per action; parallelism 100; the
worker runs in its own process, as in production. For each of plan, apply and destroy it
prints the wall time, the runs of its continue-as-new chain, the longest run in history events
(Temporal's limit is 10,240) and the largest payload in any of its histories (Temporal warns
at 256 KB per payload, refuses 2 MB); then the worker's peak memory (VmHWM, goal < 1 GB).
The stack is sent as wfctl sends it: stored in its state store, the runs carry its digest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.client import Client, WorkflowHandle  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from tests.payload_sizes import chain, largest_payload  # noqa: E402
from wfctl.stack_client import StackClient  # noqa: E402
from workflows import search_attributes  # noqa: E402

LATENCY = 0.01
PARALLELISM = 100
PER_GROUP = 10  # each network has nine things depending on it


def scale_stack(size: int, workdir: Path) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for i in range(size):
        if i % PER_GROUP == 0:
            resources.append({"name": f"net{i:06d}", "type": "test.network",
                              "config": {"cidr": f"10.{i // 256 % 256}.{i % 256}.0/24"}})
        else:
            resources.append({"name": f"vm{i:06d}", "type": "test.thing",
                              "depends_on": [f"net{i - i % PER_GROUP:06d}"],
                              "config": {"size": "s"}})
    return {
        "stack": f"scale-{uuid.uuid4().hex[:6]}",
        "state": {"backend": "sqlite", "path": str(workdir / "state.db")},
        "providers": {
            "main": {"type": "test", "cloud": str(workdir / "cloud.db"), "latency": LATENCY}
        },
        "resources": resources,
    }


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measured(client: Client, label: str, handle: WorkflowHandle[Any, Any],
                   started: float) -> Any:
    outcome = await handle.result()
    wall = time.perf_counter() - started
    runs = await chain(client, handle.id, handle.first_execution_run_id or "")
    events = [len(run) for run in runs]
    largest = max((largest_payload(run) for run in runs), key=lambda found: found.size)
    start_input = runs[0][0].workflow_execution_started_event_attributes.input.ByteSize()
    print(f"{label}: wall {wall:.1f} s; {len(runs)} runs, the longest {max(events)} events "
          f"(limit 10,240); largest payload {largest.size / 1024:.1f} KB in "
          f"{largest.where.removeprefix('EVENT_TYPE_')}; start input "
          f"{start_input / 1024:.1f} KB", flush=True)
    return outcome


async def main(args: argparse.Namespace) -> None:
    binary = Path(sys.executable).parent / "temporal"
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(binary),
        search_attributes=search_attributes.ALL,
    )
    queue = f"bench-scale-{uuid.uuid4().hex[:6]}"
    address = env.client.service_client.config.target_host
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.iac_worker_process", address, queue, "128"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    client = env.client
    stacks = StackClient(client, task_queue=queue)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            document = scale_stack(args.size, Path(tmp))
            print(f"{args.size} resources, {LATENCY * 1000:.0f} ms per action, parallelism "
                  f"{PARALLELISM}; document {len(json.dumps(document)) / 1024:.0f} KB as JSON",
                  flush=True)
            started = time.perf_counter()
            plan = await measured(client, "plan", await stacks.start("plan", document), started)
            print(f"      {plan.counts.get('create', 0)} creates planned", flush=True)
            options = {"auto_approve": True, "parallelism": PARALLELISM}
            started = time.perf_counter()
            applied = await measured(
                client, "apply", await stacks.start("apply", document, **options), started
            )
            print(f"      {applied.status}: {applied.counts}", flush=True)
            started = time.perf_counter()
            destroyed = await measured(
                client, "destroy", await stacks.start("destroy", document, **options), started
            )
            gone = len(destroyed.destroyed) + destroyed.left_out.get("destroyed", 0)
            print(f"      {destroyed.status}: {gone} destroyed", flush=True)
            print(f"worker peak memory (VmHWM): {peak_rss_mb(worker.pid):.0f} MB (goal < 1 GB)")
    finally:
        worker.kill()
        worker.wait()
        await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="resources in the stack")
    asyncio.run(main(parser.parse_args()))
