"""Pipeline overhead and throughput, measured side by side against bare Temporal baselines.

    .venv/bin/python bench/pipelines.py [--steps 40] [--rounds 5] [--runs 200]

(a) per-step time of a pure step (step.set, a local activity) against a bare local activity,
    and of an I/O step (step.http_call to a local server) against a bare activity making the
    same HTTP request; (b) 1-step pipelines per second against a bare one-activity workflow.
Everything runs in one process on one embedded dev server, so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.pipeline_catalog import PipelineCatalog  # noqa: E402
from activities.step_catalog import default_registry  # noqa: E402
from activities.steps.egress import EgressPolicy, configure_egress  # noqa: E402
from bench.baseline import BareWorkflow, bare_http, bare_noop  # noqa: E402
from engine.pipeline_config import parse_pipelines_text  # noqa: E402
from examples.echo_server import start_in_thread  # noqa: E402
from wfctl.client import PipelineExecutor  # noqa: E402
from wfctl.dev import temporal_binary  # noqa: E402
from worker import PASSTHROUGH_MODULES, pipeline_worker  # noqa: E402
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES  # noqa: E402


def pipelines_yaml(steps: int, url: str) -> str:
    pure = "\n".join(
        f"      - {{name: s{i}, type: step.set, config: {{values: {{v{i}: '{{{{ n }}}}'}}}}}}"
        for i in range(steps)
    )
    io = "\n".join(
        f"      - {{name: h{i}, type: step.http_call, config: {{url: '{url}/echo'}}}}"
        for i in range(steps)
    )
    return f"""
pipelines:
  empty:
    steps:
      - {{name: only, type: step.set, config: {{values: {{}}}}}}
  pure:
    steps:
{pure}
  io:
    steps:
{io}
  one-step:
    steps:
      - {{name: only, type: step.set, config: {{values: {{done: true}}}}}}
"""


async def timed(coro_factory, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await coro_factory()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def main(steps: int, rounds: int, runs: int) -> None:
    url, server = start_in_thread()
    configure_egress(EgressPolicy.parse("loopback"))  # the echo server
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
    )
    client: Client = env.client
    registry = default_registry()
    catalog = PipelineCatalog(parse_pipelines_text(pipelines_yaml(steps, url), "bench", registry))
    queue = f"bench-{uuid.uuid4().hex[:6]}"
    bare_queue = queue + "-bare"
    try:
        async with (
            pipeline_worker(client, catalog, registry, queue),
            Worker(
                client, task_queue=bare_queue, workflows=[BareWorkflow],
                activities=[bare_noop, bare_http],
                # The baseline gets what the pipeline workflow gets: its module loaded once,
                # not re-executed in a fresh sandbox per run.
                workflow_runner=SandboxedWorkflowRunner(
                    restrictions=SandboxRestrictions.default.with_passthrough_modules(
                        *PASSTHROUGH_MODULES, "bench.baseline"
                    )
                ),
                max_concurrent_activities=100,
            ),
        ):
            executor = PipelineExecutor(client, task_queue=queue)

            async def bare(kind: str, count: int) -> None:
                await client.execute_workflow(
                    BareWorkflow.run, args=[kind, count, f"{url}/echo"],
                    id=f"bench-{uuid.uuid4()}", task_queue=bare_queue,
                )

            async def pipeline(name: str) -> None:
                await executor.execute_pipeline(name, {"n": 1})

            # Warm up both paths (sandbox imports, template cache, connections).
            for _ in range(2):
                await bare("local", steps)
                await pipeline("pure")
                await pipeline("io")

            def per_step(total: float, empty: float) -> float:
                return (total - empty) / steps * 1000

            bare_empty = await timed(lambda: bare("local", 0), rounds)
            bare_local = per_step(await timed(lambda: bare("local", steps), rounds), bare_empty)
            bare_act = per_step(await timed(lambda: bare("activity", steps), rounds), bare_empty)
            bare_io = per_step(await timed(lambda: bare("http", steps), rounds), bare_empty)
            pipe_empty = await timed(lambda: pipeline("empty"), rounds)
            pure = per_step(await timed(lambda: pipeline("pure"), rounds), pipe_empty)
            io = per_step(await timed(lambda: pipeline("io"), rounds), pipe_empty)

            async def burst(factory) -> float:
                start = time.perf_counter()
                await asyncio.gather(*(factory() for _ in range(runs)))
                return runs / (time.perf_counter() - start)

            bare_rate = await burst(lambda: bare("local", 1))
            bare_act_rate = await burst(lambda: bare("activity", 1))
            pipe_rate = await burst(lambda: pipeline("one-step"))
    finally:
        await env.shutdown()
        server.stop()

    print(f"steps per pipeline {steps}, rounds {rounds} (median), burst of {runs} runs")
    print(f"(a) bare local activity        {bare_local:7.2f} ms/step")
    print(f"    pure step (step.set)       {pure:7.2f} ms/step   ratio {pure / bare_local:.2f}x"
          "   (goal <= 1.5x)")
    print(f"    bare activity (no-op)      {bare_act:7.2f} ms/step")
    print(f"    bare activity + HTTP GET   {bare_io:7.2f} ms/step")
    print(f"    I/O step (step.http_call)  {io:7.2f} ms/step   ratio {io / bare_io:.2f}x")
    print(f"(b) bare 1-local-activity workflow  {bare_rate:7.1f} runs/s")
    print(f"    bare 1-activity workflow        {bare_act_rate:7.1f} runs/s")
    print(f"    1-step pipeline                 {pipe_rate:7.1f} runs/s   "
          f"ratio {pipe_rate / bare_rate:.2f}x vs local, {pipe_rate / bare_act_rate:.2f}x vs "
          "activity   (goal >= 0.8x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.steps, args.rounds, args.runs))
