"""The 36-resource AWS stack applied through a throttling storm, against the same stack calm.

    .venv/bin/python bench/aws_storm.py               # 3 rounds (about 3 minutes)
    .venv/bin/python bench/aws_storm.py --rounds 1 --rate 0.3 --seed 7

The stack is six copies of examples/aws-stack.yaml (VPC, firewall, Postgres, Redis, bucket,
DNS zone each: 36 creates, real boto3 over HTTP to moto). Every round applies one copy of it
through a proxy that forwards every call (calm) and one through a proxy answering each call
with `Throttling` at the given rate (storm; HEADs excepted, their answers carry no code), one
after the other (which goes first alternates), then destroys both calmly. Both go through a
proxy, so the ratio is the storm's alone. It prints both wall times (client start -> result)
and their ratio, how many calls were throttled, how many resource actions Temporal had to run
more than once, and whether any mutating call reached the cloud more often in the storm than
in the calm.

Its own dev server, the sandbox and the proxies in this process, the worker in another.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client, WorkflowHandle  # noqa: E402
from temporalio.common import WorkflowIDConflictPolicy  # noqa: E402

from bench.aws_harness import AwsBench, aws_bench  # noqa: E402
from tests.aws_fixtures import ThrottlingProxy, _handler, mutations  # noqa: E402
from workflows.iac.models import ApplyOutcome, DestroyOutcome  # noqa: E402

EXAMPLE = ROOT / "examples" / "aws-stack.yaml"
COPIES = 6


def stack_document(
    endpoint: str, workdir: Path, max_attempts: int | None = None, copies: int = COPIES
) -> dict[str, Any]:
    """Six copies of the example stack (names suffixed -1..-6, references rewired), on the
    given endpoint, a fresh state and names of its own."""
    example = yaml.safe_load(EXAMPLE.read_text())
    stack = f"storm-{uuid.uuid4().hex[:6]}"
    names = [resource["name"] for resource in example["resources"]]
    resources = []
    for n in range(1, copies + 1):
        for original in example["resources"]:
            resource = copy.deepcopy(original)
            resource["name"] = f"{resource['name']}-{n}"
            resource["depends_on"] = [f"{d}-{n}" for d in resource.get("depends_on", [])]
            resource["config"] = _rewire(resource["config"], names, n)
            if resource["type"] == "infra.storage":  # bucket names are global
                resource["config"]["bucket"] = f"{stack}-assets-{n}"
            if resource["type"] == "infra.dns":
                resource["config"]["zone"] = f"shop-{n}.{stack}.example.com"
            resources.append(resource)
    document = {**example, "stack": stack, "resources": resources}
    document["state"] = {"backend": "sqlite", "path": str(workdir / f"{stack}.db")}
    document["providers"]["aws"].update(endpoint_url=endpoint, poll_interval=0.05)
    if max_attempts is not None:
        document["providers"]["aws"]["max_attempts"] = max_attempts
    return document


def _rewire(value: Any, names: list[str], n: int) -> Any:
    if isinstance(value, str):
        pattern = r"\$\{(" + "|".join(map(re.escape, names)) + r")\."
        return re.sub(pattern, lambda m: f"${{{m.group(1)}-{n}.", value)
    if isinstance(value, list):
        return [_rewire(item, names, n) for item in value]
    if isinstance(value, dict):
        return {key: _rewire(item, names, n) for key, item in value.items()}
    return value


def start_proxy(moto: str, rate: float, seed: int) -> tuple[ThrottlingProxy, ThreadingHTTPServer]:
    """The tests' throttling proxy (tests/aws_fixtures.py), started outside pytest."""
    proxy = ThrottlingProxy(
        url="", times=0, match=lambda r: r.method != "HEAD", rate=rate, seed=seed
    )
    parts = urlsplit(moto)
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), _handler(proxy, (parts.hostname or "127.0.0.1", parts.port or 80))
    )
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    return proxy, server




async def reruns(handle: WorkflowHandle[Any, Any]) -> int:
    """Resource actions whose activity finished on an attempt after the first."""
    actions: set[int] = set()
    count = 0
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_type.name == "apply_action":
                actions.add(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            count += started.scheduled_event_id in actions and started.attempt > 1
    return count


async def run(
    client: Client, queue: str, workflow: str, document: dict[str, Any], *, must_pass: bool = True
) -> tuple[float, WorkflowHandle[Any, Any], Any]:
    allow = [r["name"] for r in document["resources"] if r.get("protected")]
    started = time.perf_counter()
    handle = await client.start_workflow(
        workflow,
        {**document, "auto_approve": True, "allow_replace": allow},
        id=f"stack:{document['stack']}",
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        result_type=ApplyOutcome if workflow == "ApplyWorkflow" else DestroyOutcome,
    )
    outcome = await handle.result()
    elapsed = time.perf_counter() - started
    if must_pass and outcome.status != "applied":
        raise RuntimeError(f"{workflow} failed: {outcome.errors}")
    return elapsed, handle, outcome


def _failures(outcome: Any) -> str:
    if not outcome.errors:
        return ""
    first = outcome.errors[0]
    return f" ({len(outcome.errors)} failed, first {first.resource}: {first.error[:80]})"


async def main(args: argparse.Namespace) -> None:
    async with aws_bench("bench-storm") as bench:
        await _rounds(args, bench)


async def _rounds(args: argparse.Namespace, bench: AwsBench) -> None:
    client, queue, moto = bench.client, bench.queue, bench.moto
    servers: list[ThreadingHTTPServer] = []
    calm_walls: list[float] = []
    storm_walls: list[float] = []
    try:
        for round_number in range(1, args.rounds + 1):
            calm, calm_server = start_proxy(moto, 0.0, args.seed)
            storm, storm_server = start_proxy(moto, args.rate, args.seed + round_number)
            servers += [calm_server, storm_server]
            with tempfile.TemporaryDirectory() as tmp:
                calm_doc = stack_document(calm.url, Path(tmp), args.max_attempts)
                storm_doc = stack_document(storm.url, Path(tmp), args.max_attempts)
                # Which goes first alternates, so a machine getting busier or quieter during
                # the run does not favour one side.
                applies = [
                    run(client, queue, "ApplyWorkflow", calm_doc),
                    run(client, queue, "ApplyWorkflow", storm_doc, must_pass=False),
                ]
                if round_number % 2 == 0:
                    applies.reverse()
                done = [await apply for apply in applies]
                if round_number % 2 == 0:
                    done.reverse()
                (calm_wall, _, _), (storm_wall, storm_handle, storm_outcome) = done
                throttled, calls = len(storm.throttled), len(storm.throttled + storm.forwarded)
                storm.rate = 0.0
                again = await reruns(storm_handle)
                repeated = mutations(storm.forwarded) - mutations(calm.forwarded)
                await run(client, queue, "DestroyWorkflow", calm_doc)
                await run(client, queue, "DestroyWorkflow", storm_doc)
            calm_walls.append(calm_wall)
            storm_walls.append(storm_wall)
            print(f"round {round_number}: calm {calm_wall:.2f} s, storm {storm_wall:.2f} s "
                  f"({throttled} of {calls} calls throttled): storm / calm "
                  f"{storm_wall / calm_wall:.2f}x; actions run again {again}; mutating "
                  f"calls repeated {sum(repeated.values())}; storm apply "
                  f"{storm_outcome.status}{_failures(storm_outcome)}")  # fmt: skip
        ratios = [s / c for s, c in zip(storm_walls, calm_walls, strict=True)]
        print(f"median of {args.rounds}: calm {statistics.median(calm_walls):.2f} s, storm "
              f"{statistics.median(storm_walls):.2f} s, storm / calm "
              f"{statistics.median(ratios):.2f}x")  # fmt: skip
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.3, help="share of calls throttled")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-attempts", type=int, default=None,
                        help="the provider's max_attempts in both runs (default: unset)")
    asyncio.run(main(parser.parse_args()))
    sys.stdout.flush()
    # As in bench/aws.py: the SDK's native threads can abort interpreter finalization.
    os._exit(0)
