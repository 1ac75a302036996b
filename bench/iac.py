"""IaC engine benchmarks, measured side by side in one run against a local dev server.

    .venv/bin/python bench/iac.py            # full sizes (about 5 minutes on 2 cores)
    .venv/bin/python bench/iac.py --quick    # a tenth of the sizes, for a smoke run
    .venv/bin/python bench/iac.py --sequential   # also measure (a) at parallelism 1 (+200 s)

(a) a 200-resource DAG, 1 s per action, parallelism 20: apply wall time against the
    critical-path ideal and against one action at a time;
(b) plan time for 10,000 resources (fresh, and again once they all exist: 10,000 driver diffs);
(c) history events per resource;
(d) a 10,000-resource apply at 50 ms per action, parallelism 100: wall time against the ideal,
    and the worker's peak memory (a separate process, as in production).
The worker serves the "test" provider (tests/iac_test_provider.py): a fake cloud in SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.client import Client  # noqa: E402
from temporalio.common import WorkflowIDConflictPolicy  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from engine.iac.graph import critical_path_length  # noqa: E402
from workflows import search_attributes  # noqa: E402
from workflows.iac.models import ApplyOutcome, PlanOutcome  # noqa: E402


def layered_stack(
    name: str, layers: int, width: int, latency: float, workdir: Path
) -> tuple[dict[str, Any], dict[str, set[str]]]:
    """`layers` x `width` resources, each needing one or two of the layer before (seeded)."""
    rng = random.Random(7)
    resources, deps = [], {}
    for layer in range(layers):
        for column in range(width):
            rname = f"r{layer}-{column}"
            needs = (
                sorted({f"r{layer - 1}-{rng.randrange(width)}" for _ in range(rng.randint(1, 2))})
                if layer
                else []
            )
            resources.append({"name": rname, "type": "test.thing", "depends_on": needs})
            deps[rname] = set(needs)
    document = {
        "stack": name,
        "state": {"backend": "sqlite", "path": str(workdir / f"{name}-state.db")},
        "providers": {
            "main": {"type": "test", "cloud": str(workdir / f"{name}-cloud.db"), "latency": latency}
        },
        "resources": resources,
    }
    return document, deps


def ideal_seconds(deps: dict[str, set[str]], latency: float, parallelism: int) -> float:
    path = critical_path_length(deps, dict.fromkeys(deps, latency))
    return max(path, len(deps) * latency / parallelism)


async def history_events(client: Client, workflow_id: str) -> list[int]:
    """Events of each run of a continue-as-new chain."""
    counts = []
    async for run in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        handle = client.get_workflow_handle(workflow_id, run_id=run.run_id)
        counts.append(len((await handle.fetch_history()).events))
    return counts


async def apply(client: Client, queue: str, document: dict[str, Any], parallelism: int) -> tuple[
    float, ApplyOutcome, str
]:
    workflow_id = f"stack:{document['stack']}"
    started = time.perf_counter()
    outcome = await client.execute_workflow(
        "ApplyWorkflow",
        {**document, "auto_approve": True, "parallelism": parallelism},
        id=workflow_id,
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        result_type=ApplyOutcome,
    )
    elapsed = time.perf_counter() - started
    if outcome.status != "applied":
        raise RuntimeError(f"apply failed: {outcome.errors[:3]}")
    return elapsed, outcome, workflow_id


async def plan(client: Client, queue: str, document: dict[str, Any]) -> tuple[float, PlanOutcome]:
    started = time.perf_counter()
    outcome = await client.execute_workflow(
        "PlanWorkflow",
        document,
        id=f"stack:{document['stack']}:plan:{uuid.uuid4().hex[:6]}",
        task_queue=queue,
        result_type=PlanOutcome,
    )
    return time.perf_counter() - started, outcome


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def main(args: argparse.Namespace) -> None:
    scale = 10 if args.quick else 1
    binary = Path(sys.executable).parent / "temporal"
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(binary),
        search_attributes=search_attributes.ALL,
    )
    queue = f"bench-iac-{uuid.uuid4().hex[:6]}"
    address = env.client.service_client.config.target_host
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.iac_worker_process", address, queue, "128"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    client = env.client
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            # (a)
            doc_a, deps_a = layered_stack("bench-a", 10, 20 // min(scale, 2), 1.0, workdir)
            ideal_a = ideal_seconds(deps_a, 1.0, 20)
            wall_a, _, id_a = await apply(client, queue, doc_a, 20)
            events_a = await history_events(client, id_a)
            print(f"(a) {len(deps_a)} resources, 1 s/action, parallelism 20")
            print(f"    wall {wall_a:.1f} s, critical-path ideal {ideal_a:.1f} s: "
                  f"{wall_a / ideal_a:.2f}x the ideal (goal <= 1.15x)")
            sequential = float(len(deps_a))
            label = "one-at-a-time (sum of action times)"
            if args.sequential:
                doc_s, _ = layered_stack("bench-a-seq", 10, 20 // min(scale, 2), 1.0, workdir)
                sequential, _, _ = await apply(client, queue, doc_s, 1)
                label = "one-at-a-time (measured, parallelism 1)"
            print(f"    {label} {sequential:.1f} s: {sequential / wall_a:.1f}x slower than wfctl")
            print(f"(c) history events per resource (a): {sum(events_a) / len(deps_a):.2f}")

            # (b) and (d)
            big = 10_000 // scale
            side = int(big**0.5)
            doc_d, deps_d = layered_stack("bench-d", side, side, 0.05, workdir)
            plan_fresh, planned = await plan(client, queue, doc_d)
            print(f"(b) plan of {len(deps_d)} new resources: {plan_fresh:.1f} s "
                  f"({planned.counts.get('create', 0)} creates)")
            ideal_d = ideal_seconds(deps_d, 0.05, 100)
            wall_d, outcome_d, id_d = await apply(client, queue, doc_d, 100)
            events_d = await history_events(client, id_d)
            runs_d = len(events_d)
            print(f"(d) {len(deps_d)} resources, 50 ms/action, parallelism 100")
            print(f"    wall {wall_d:.1f} s, ideal {ideal_d:.1f} s: {wall_d / ideal_d:.2f}x the "
                  f"ideal; {outcome_d.counts.get('create', 0)} created in {runs_d} runs "
                  "(continue-as-new)")
            print(f"(c) history events per resource (d): {sum(events_d) / len(deps_d):.2f} "
                  f"({sum(events_d)} events over {runs_d} runs, the longest {max(events_d)}; "
                  "Temporal's limit is 10,240 per run)")
            plan_again, replanned = await plan(client, queue, doc_d)
            print(f"(b) plan of {len(deps_d)} existing resources (every one read and diffed): "
                  f"{plan_again:.1f} s, {sum(replanned.counts.values())} changes")
            print(f"(d) worker peak memory (VmHWM): {peak_rss_mb(worker.pid):.0f} MB")
    finally:
        worker.kill()
        worker.wait()
        await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    parser.add_argument("--sequential", action="store_true", help="measure one-at-a-time too")
    asyncio.run(main(parser.parse_args()))
    sys.stdout.flush()
    # The SDK's native threads can abort interpreter finalization with a fatal error after
    # the figures are out; skip finalization, there is nothing left to clean up.
    os._exit(0)
