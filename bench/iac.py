"""IaC engine benchmarks, measured side by side in one run against a local dev server.

    .venv/bin/python bench/iac.py            # full sizes (about 8 minutes on 2 cores)
    .venv/bin/python bench/iac.py --quick    # a tenth of the sizes, for a smoke run
    .venv/bin/python bench/iac.py --sequential   # also measure (a) at parallelism 1 (+200 s)
    .venv/bin/python bench/iac.py --only d       # just (d) and its bare-Temporal floor
    .venv/bin/python bench/iac.py --workers 2    # two worker processes on the task queue
    .venv/bin/python bench/iac.py --only d --profile /tmp/d.txt   # py-spy the worker in (d)
    .venv/bin/python bench/iac.py --only d --verbose   # what a continued run does first
    .venv/bin/python bench/iac.py --only d --eager     # the dev server's eager activities on

(a) a 200-resource DAG, 1 s per action, parallelism 20: apply wall time against the
    critical-path ideal and against one action at a time;
(b) plan time for 10,000 resources (fresh, and again once they all exist: 10,000 driver diffs);
(c) history events per resource;
(d) a 10,000-resource apply at 50 ms per action, parallelism 100: wall time against the ideal,
    and the worker's peak memory (a separate process, as in production); and against the
    bare-Temporal floor measured in the same run (bench/iac_baseline.py: the same number of
    activities sleeping the same latency, same parallelism, continue-as-new every 2,000,
    its worker in its own process with the same slots): wfctl / bare.
(e) what one activity costs on this dev server: bare no-op activities one after the other.
The worker serves the "test" provider (tests/iac_test_provider.py): a fake cloud in SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from bench.iac_baseline import BareApply  # noqa: E402
from engine.iac.graph import critical_path_length  # noqa: E402
from wfctl.stack_client import StackClient  # noqa: E402
from workflows import search_attributes  # noqa: E402
from workflows.iac.models import ApplyOutcome, PlanOutcome  # noqa: E402

SLOTS = 128  # activity slots (and executor threads) of every worker process


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
    return [len(events) for events in await run_histories(client, workflow_id)]


async def run_histories(client: Client, workflow_id: str) -> list[list[Any]]:
    """The events of each run of a continue-as-new chain, oldest run first."""
    runs = []
    async for run in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        handle = client.get_workflow_handle(workflow_id, run_id=run.run_id)
        runs.append(list((await handle.fetch_history()).events))
    return sorted(runs, key=lambda events: events[0].event_time.ToDatetime())


def startup_breakdown(events: list[Any]) -> list[str]:
    """What a run did before its first resource action: each activity and workflow task, with
    its times (scheduled -> started -> completed) from the run's start."""
    started = events[0].event_time.ToDatetime()
    by_id = {event.event_id: event for event in events}
    lines = []
    for event in events:
        at = (event.event_time.ToDatetime() - started).total_seconds()
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            if name == "apply_action":
                break
            lines.append(f"{at:6.2f} s  {name} scheduled")
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            name = by_id[attrs.scheduled_event_id].activity_task_scheduled_event_attributes
            lines.append(f"{at:6.2f} s  {name.activity_type.name} completed")
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            attrs = event.workflow_task_completed_event_attributes
            began = by_id[attrs.started_event_id].event_time.ToDatetime()
            lines.append(f"{at:6.2f} s  workflow task completed "
                         f"({(event.event_time.ToDatetime() - began).total_seconds():.2f} s)")
    return lines


def startup_seconds(events: list[Any]) -> float:
    """A run's start -> its first resource action scheduled: the time it walks nothing (the
    plan, or at a continue-as-new the saved plan loaded again, its node pages, the lock)."""
    started = events[0].event_time.ToDatetime()
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and (
            event.activity_task_scheduled_event_attributes.activity_type.name == "apply_action"
        ):
            return (event.event_time.ToDatetime() - started).total_seconds()
    return float("nan")


async def apply(client: Client, queue: str, document: dict[str, Any], parallelism: int) -> tuple[
    float, ApplyOutcome, str
]:
    """Apply as `wfctl infra apply` sends it: a document over 128 KB stored in the state store
    first, the runs carrying its digest (bench/iac_scale.py does the same)."""
    started = time.perf_counter()
    handle = await StackClient(client, task_queue=queue).start(
        "apply", document, auto_approve=True, parallelism=parallelism
    )
    outcome = await handle.result()
    elapsed = time.perf_counter() - started
    if outcome.status != "applied":
        raise RuntimeError(f"apply failed: {outcome.errors[:3]}")
    return elapsed, outcome, handle.id


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid() -> int | None:
    """The dev server: this process's child running the `temporal` binary."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        parent = int(text.rpartition(")")[2].split()[1])
        if parent == os.getpid() and name.startswith("temporal"):
            return int(stat.parent.name)
    return None


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


def start_workers(module: str, address: str, queue: str, count: int,
                  *extra: str) -> list[subprocess.Popen]:
    """`count` worker processes of `module` on `queue`, each answering "ready" once polling."""
    workers = []
    for _ in range(count):
        worker = subprocess.Popen(
            [sys.executable, "-m", module, address, queue, str(SLOTS), *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        workers.append(worker)
    return workers


async def bare_apply(client: Client, queue: str, count: int, latency: float,
                     parallelism: int) -> float:
    started = time.perf_counter()
    await client.execute_workflow(
        "BareApplyWorkflow",
        BareApply(count, latency, parallelism),
        id=f"bare-apply-{uuid.uuid4().hex[:6]}",
        task_queue=queue,
        result_type=int,
    )
    return time.perf_counter() - started


def start_profiler(out: str, pid: int) -> subprocess.Popen:
    """py-spy sampling the worker's threads (CPU only) into collapsed stacks at `out`; read
    them with bench/profile_top.py."""
    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
         "--output", out],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def main(args: argparse.Namespace) -> None:
    scale = 10 if args.quick else 1
    binary = Path(sys.executable).parent / "temporal"
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(binary),
        search_attributes=search_attributes.ALL,
        # Eager activities: the server hands a scheduled activity back in the reply to the
        # workflow task that scheduled it, to the same worker, skipping a poll round-trip.
        dev_server_extra_args=["--dynamic-config-value",
                               "system.enableActivityEagerExecution=true"] if args.eager else [],
    )
    queue = f"bench-iac-{uuid.uuid4().hex[:6]}"
    bare_queue = f"bench-bare-{uuid.uuid4().hex[:6]}"
    address = env.client.service_client.config.target_host
    workers = start_workers("tests.iac_worker_process", address, queue, args.workers)
    bare_workers = start_workers("bench.iac_baseline", address, bare_queue, args.workers,
                                 *(["--unsandboxed"] if args.bare_unsandboxed else []))
    client = env.client
    print(f"{args.workers} worker process(es) of {SLOTS} slots each; eager activities "
          f"{'on' if args.eager else 'off'}; bare floor "
          f"{'outside' if args.bare_unsandboxed else 'inside'} the SDK sandbox; "
          f"load average before: {load_average()}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            if args.only == "all":
                await bench_a(client, queue, workdir, scale, args.sequential)

            # (b) and (d)
            big = 10_000 // scale
            side = int(big**0.5)
            doc_d, deps_d = layered_stack("bench-d", side, side, 0.05, workdir)
            if args.only == "all":
                plan_fresh, planned = await plan(client, queue, doc_d)
                print(f"(b) plan of {len(deps_d)} new resources: {plan_fresh:.1f} s "
                      f"({planned.counts.get('create', 0)} creates)")
            ideal_d = ideal_seconds(deps_d, 0.05, 100)
            profiler = start_profiler(args.profile, workers[0].pid) if args.profile else None
            server = server_pid()
            cpu = {"worker": sum(cpu_seconds(w.pid) for w in workers),
                   "server": cpu_seconds(server) if server else float("nan")}
            wall_d, outcome_d, id_d = await apply(client, queue, doc_d, 100)
            cpu_d = {"worker": sum(cpu_seconds(w.pid) for w in workers) - cpu["worker"],
                     "server": cpu_seconds(server) - cpu["server"] if server else float("nan")}
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait()
            cpu = {"worker": sum(cpu_seconds(w.pid) for w in bare_workers),
                   "server": cpu_seconds(server) if server else float("nan")}
            bare_d = await bare_apply(client, bare_queue, len(deps_d), 0.05, 100)
            cpu_bare = {
                "worker": sum(cpu_seconds(w.pid) for w in bare_workers) - cpu["worker"],
                "server": cpu_seconds(server) - cpu["server"] if server else float("nan"),
            }
            histories_d = await run_histories(client, id_d)
            events_d = [len(events) for events in histories_d]
            startups = [startup_seconds(events) for events in histories_d]
            runs_d = len(events_d)
            print(f"(d) {len(deps_d)} resources, 50 ms/action, parallelism 100")
            print(f"    wall {wall_d:.1f} s, ideal {ideal_d:.1f} s: {wall_d / ideal_d:.2f}x the "
                  f"ideal; {outcome_d.counts.get('create', 0)} created in {runs_d} runs "
                  "(continue-as-new)")
            print(f"    each run's start -> its first action: "
                  f"{', '.join(f'{t:.1f}' for t in startups)} s (sum {sum(startups):.1f} s)")
            if args.verbose and len(histories_d) > 1:
                print("    the second run's start, step by step:")
                for line in startup_breakdown(histories_d[1]):
                    print(f"      {line}")
            print(f"    bare Temporal, the same {len(deps_d)} activities of 50 ms at 100, "
                  f"continue-as-new every 2,000: {bare_d:.1f} s "
                  f"({len(deps_d) / bare_d:.0f} activities/s)")
            print(f"    wfctl / bare: {wall_d / bare_d:.2f}x (goal <= 1.5x)")
            count = len(deps_d)
            print(f"    CPU per action, worker / dev server: wfctl "
                  f"{1000 * cpu_d['worker'] / count:.2f} / {1000 * cpu_d['server'] / count:.2f}"
                  f" ms, bare {1000 * cpu_bare['worker'] / count:.2f} / "
                  f"{1000 * cpu_bare['server'] / count:.2f} ms")
            print(f"(c) history events per resource (d): {sum(events_d) / len(deps_d):.2f} "
                  f"({sum(events_d)} events over {runs_d} runs, the longest {max(events_d)}; "
                  "Temporal's limit is 10,240 per run)")
            if args.only == "all":
                plan_again, replanned = await plan(client, queue, doc_d)
                print(f"(b) plan of {len(deps_d)} existing resources (every one read and "
                      f"diffed): {plan_again:.1f} s, {sum(replanned.counts.values())} changes")
            # What the dev server (and the SDK) cost one activity here, nothing overlapping.
            sequential = 200 // scale
            noop = await bare_apply(client, bare_queue, sequential, 0.0, 1)
            print(f"(e) bare Temporal, {sequential} no-op activities one after the other: "
                  f"{1000 * noop / sequential:.1f} ms per activity")
            peaks = ", ".join(f"{peak_rss_mb(worker.pid):.0f}" for worker in workers)
            print(f"(d) worker peak memory (VmHWM): {peaks} MB")
            print(f"load average after: {load_average()}")
    finally:
        for worker in (*workers, *bare_workers):
            worker.kill()
            worker.wait()
        await env.shutdown()


async def bench_a(client: Client, queue: str, workdir: Path, scale: int,
                  sequential_run: bool) -> None:
    doc_a, deps_a = layered_stack("bench-a", 10, 20 // min(scale, 2), 1.0, workdir)
    ideal_a = ideal_seconds(deps_a, 1.0, 20)
    wall_a, _, id_a = await apply(client, queue, doc_a, 20)
    events_a = await history_events(client, id_a)
    print(f"(a) {len(deps_a)} resources, 1 s/action, parallelism 20")
    print(f"    wall {wall_a:.1f} s, critical-path ideal {ideal_a:.1f} s: "
          f"{wall_a / ideal_a:.2f}x the ideal (goal <= 1.15x)")
    sequential = float(len(deps_a))
    label = "one-at-a-time (sum of action times)"
    if sequential_run:
        doc_s, _ = layered_stack("bench-a-seq", 10, 20 // min(scale, 2), 1.0, workdir)
        sequential, _, _ = await apply(client, queue, doc_s, 1)
        label = "one-at-a-time (measured, parallelism 1)"
    print(f"    {label} {sequential:.1f} s: {sequential / wall_a:.1f}x slower than wfctl")
    print(f"(c) history events per resource (a): {sum(events_a) / len(deps_a):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    parser.add_argument("--bare-unsandboxed", action="store_true",
                        help="run the bare floor's workflow outside the SDK sandbox too")
    parser.add_argument("--sequential", action="store_true", help="measure one-at-a-time too")
    parser.add_argument("--only", choices=("all", "d"), default="all",
                        help="d: just the 10,000-resource apply and its bare floor")
    parser.add_argument("--workers", type=int, default=1, choices=(1, 2, 3, 4),
                        help="worker processes on the task queue (wfctl's and the bare one's)")
    parser.add_argument("--verbose", action="store_true",
                        help="(d): what the second run did before its first action")
    parser.add_argument("--eager", action="store_true",
                        help="turn on the dev server's eager activity execution")
    parser.add_argument("--profile", metavar="OUT",
                        help="py-spy (pip install py-spy) the first worker during (d)'s apply")
    asyncio.run(main(parser.parse_args()))
    sys.stdout.flush()
    # The SDK's native threads can abort interpreter finalization with a fatal error after
    # the figures are out; skip finalization, there is nothing left to clean up.
    os._exit(0)
