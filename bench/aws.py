"""Apply of examples/aws-stack.yaml against the AWS sandbox (moto), against its activities' times.

    .venv/bin/python bench/aws.py            # 5 rounds of apply + destroy (about 30 s)
    .venv/bin/python bench/aws.py --rounds 1

Each round applies the example stack (VPC, firewall, Postgres, Redis, bucket, DNS zone: six
creates, real boto3 over HTTP to moto) and destroys it. From the apply's workflow history it
sums every activity's own time, scheduled -> completed (planning, locks, the six creates), and
prints the apply's wall time (client start -> result) against that sum: a ratio below 1 is
parallelism (independent resources created at once), the rest is Temporal's dispatch and
history round-trips. Its own dev server, the sandbox in this process, the worker in another.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client, WorkflowHandle  # noqa: E402
from temporalio.common import WorkflowIDConflictPolicy  # noqa: E402

from bench.aws_harness import AwsBench, aws_bench  # noqa: E402
from engine.iac.graph import critical_path_length, dependencies  # noqa: E402
from engine.iac.stack import parse_stack  # noqa: E402
from workflows.iac.models import ApplyOutcome, DestroyOutcome  # noqa: E402

EXAMPLE = ROOT / "examples" / "aws-stack.yaml"


def example_document(endpoint: str, workdir: Path) -> dict[str, Any]:
    """The example as a user applies it, pointed at this run's sandbox and a fresh state."""
    document = yaml.safe_load(EXAMPLE.read_text())
    document["stack"] = f"bench-{uuid.uuid4().hex[:6]}"
    document["state"] = {"backend": "sqlite", "path": str(workdir / "state.db")}
    document["providers"]["aws"]["endpoint_url"] = endpoint
    for resource in document["resources"]:
        if resource["type"] == "infra.storage":  # bucket names are global: one per stack
            resource["config"]["bucket"] = f"{document['stack']}-assets"
    return document


async def activity_seconds(
    handle: WorkflowHandle[Any, Any],
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """From the history, scheduled -> completed of each activity: per activity type, and per
    resource for the resource actions."""
    scheduled: dict[int, tuple[str, str, float]] = {}
    times: dict[str, list[float]] = defaultdict(list)
    per_resource: dict[str, float] = {}
    async for event in handle.fetch_history_events():
        at = event.event_time.ToDatetime().timestamp()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            payload = json.loads(attributes.input.payloads[0].data)
            resource = payload.get("name", "") if isinstance(payload, dict) else ""
            scheduled[event.event_id] = (attributes.activity_type.name, resource, at)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            kind, resource, start = scheduled[completed.scheduled_event_id]
            times[kind].append(at - start)
            if kind == "apply_action":
                per_resource[resource] = at - start
    return times, per_resource


async def run(client: Client, queue: str, workflow: str, document: dict[str, Any]) -> tuple[
    float, Any, WorkflowHandle[Any, Any]
]:
    started = time.perf_counter()
    handle = await client.start_workflow(
        workflow,
        {**document, "auto_approve": True, "allow_replace": ["orders-db"]},
        id=f"stack:{document['stack']}",
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        result_type=ApplyOutcome if workflow == "ApplyWorkflow" else DestroyOutcome,
    )
    outcome = await handle.result()
    elapsed = time.perf_counter() - started
    if outcome.status != "applied":
        raise RuntimeError(f"{workflow} failed: {outcome.errors}")
    return elapsed, outcome, handle


async def main(args: argparse.Namespace) -> None:
    async with aws_bench("bench-aws") as bench:
        await _rounds(args, bench)


async def _rounds(args: argparse.Namespace, bench: AwsBench) -> None:
    ratios: list[float] = []
    walls: list[float] = []
    sums: list[float] = []
    floors: list[float] = []
    for round_number in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory() as tmp:
            document = example_document(bench.moto, Path(tmp))
            wall, outcome, handle = await run(bench.client, bench.queue, "ApplyWorkflow", document)
            times, per_resource = await activity_seconds(handle)
            await run(bench.client, bench.queue, "DestroyWorkflow", document)
        total = sum(sum(values) for values in times.values())
        creates = times.get("apply_action", [])
        # The least any schedule could take: the activities outside the creates one
        # after another, then the creates' longest dependency chain.
        specs = [resource.spec() for resource in parse_stack(document).resources]
        chain = critical_path_length(dependencies(specs), per_resource)
        floor = total - sum(creates) + chain
        floors.append(floor)
        ratios.append(wall / total)
        walls.append(wall)
        sums.append(total)
        print(f"round {round_number}: {sum(outcome.counts.values())} creates, wall "
              f"{wall:.2f} s, activities {total:.2f} s (creates {sum(creates):.2f} s, "
              f"longest {max(creates):.2f} s; the rest {total - sum(creates):.2f} s): "
              f"wall / activities {wall / total:.2f}; critical path {floor:.2f} s, "
              f"wall / critical path {wall / floor:.2f}")  # fmt: skip
        if args.verbose:
            for name, values in sorted(times.items()):
                print(f"    {name:<20} x{len(values)}  {sum(values):.3f} s")
    print(f"median of {args.rounds}: wall {statistics.median(walls):.2f} s, activities "
          f"{statistics.median(sums):.2f} s, wall / activities "
          f"{statistics.median(ratios):.2f}, critical path "
          f"{statistics.median(floors):.2f} s, wall / critical path "
          f"{statistics.median(w / f for w, f in zip(walls, floors, strict=True)):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--verbose", action="store_true", help="times per activity type")
    asyncio.run(main(parser.parse_args()))
    sys.stdout.flush()
    # As in bench/iac.py: the SDK's native threads can abort interpreter finalization.
    os._exit(0)
