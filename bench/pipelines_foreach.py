"""step.foreach against bare activities: 100 items at concurrency 10, side by side.

    .venv/bin/python bench/pipelines_foreach.py [--items 100] [--concurrency 10] [--rounds 3]

The pipeline is one step.foreach whose sub-step is an I/O step doing `work_ms` of waiting; the
baseline is a bare workflow running the same activity body for each item, `concurrency` at a
time. Both run on one embedded dev server with in-process workers, alternating, so the ratio
compares like with like. Reported for 0 ms (pure overhead) and 50 ms of work per item.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.pipeline_catalog import PipelineCatalog  # noqa: E402
from activities.step_catalog import default_registry  # noqa: E402
from bench.foreach_baseline import BareForeach, BareForeachInput, bare_work, do_work  # noqa: E402
from engine.pipeline_config import parse_pipelines_text  # noqa: E402
from engine.step_registry import StepCall, StepType  # noqa: E402
from engine.steps.config import StepConfig  # noqa: E402
from interfaces import StepResult  # noqa: E402
from wfctl.client import PipelineExecutor  # noqa: E402
from wfctl.dev import temporal_binary  # noqa: E402
from worker import pipeline_worker, workflow_runner  # noqa: E402
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES  # noqa: E402


class WorkConfig(StepConfig):
    ms: int | str = 0
    item: Any = None


async def work_step(config: WorkConfig, call: StepCall) -> StepResult:
    return StepResult(output=await do_work(int(config.ms), config.item))


WORK = StepType(name="bench.work", config_model=WorkConfig, execute=work_step, io=True)


PIPELINE = """
pipelines:
  fan:
    steps:
      - name: each
        type: step.foreach
        config:
          items: "{{ range(items) | list }}"
          concurrency: "{{ concurrency }}"
          steps:
            - name: work
              type: bench.work
              config: {ms: "{{ ms }}", item: "{{ item }}"}
"""


async def events(client: Client, workflow_id: str) -> int:
    return len((await client.get_workflow_handle(workflow_id).fetch_history()).events)


async def measure(
    client: Client, executor: PipelineExecutor, bare_queue: str, args: argparse.Namespace, ms: int
) -> dict[str, float]:
    data = {"items": args.items, "concurrency": args.concurrency, "ms": ms}
    pipeline_times: list[float] = []
    bare_times: list[float] = []
    pipeline_events = bare_events = 0
    for _ in range(args.rounds):
        started = time.perf_counter()
        handle = await executor.start_pipeline("fan", data)
        result = await handle.result()
        pipeline_times.append(time.perf_counter() - started)
        assert [r["item"] for r in result["results"]] == list(range(args.items))
        pipeline_events = await events(client, handle.id)

        started = time.perf_counter()
        bare_id = f"bench-bare-{uuid.uuid4().hex[:8]}"
        await client.execute_workflow(
            BareForeach.run, BareForeachInput(**data), id=bare_id, task_queue=bare_queue
        )
        bare_times.append(time.perf_counter() - started)
        bare_events = await events(client, bare_id)
    return {
        "pipeline": statistics.median(pipeline_times),
        "bare": statistics.median(bare_times),
        "pipeline_events": pipeline_events,
        "bare_events": bare_events,
    }


async def main(args: argparse.Namespace) -> None:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )
    try:
        client = env.client
        registry = default_registry()
        registry.add(WORK)
        catalog = PipelineCatalog(parse_pipelines_text(PIPELINE, "<bench>", registry))
        queue, bare_queue = f"bench-fe-{uuid.uuid4().hex[:6]}", f"bench-bare-{uuid.uuid4().hex[:6]}"
        bare_worker = Worker(
            client, task_queue=bare_queue, workflows=[BareForeach], activities=[bare_work],
            workflow_runner=workflow_runner(), max_concurrent_activities=100,
        )
        async with pipeline_worker(client, catalog, registry, queue), bare_worker:
            executor = PipelineExecutor(client, task_queue=queue)
            await measure(client, executor, bare_queue, argparse.Namespace(
                items=10, concurrency=args.concurrency, rounds=1), 0)  # warm-up
            print(f"foreach of {args.items} items at concurrency {args.concurrency} vs "
                  f"{args.items} bare activities ({args.rounds} rounds, median)\n")
            print("| work per item | foreach | bare | ratio | history events foreach / bare |")
            print("|---|---|---|---|---|")
            for ms in (0, 50):
                m = await measure(client, executor, bare_queue, args, ms)
                print(f"| {ms} ms | {m['pipeline']:.2f} s | {m['bare']:.2f} s | "
                      f"**{m['pipeline'] / m['bare']:.2f}x** | "
                      f"{m['pipeline_events']:.0f} / {m['bare_events']:.0f} |", flush=True)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
