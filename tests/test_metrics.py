"""Metrics: the worker's Prometheus endpoint shows the SDK's own metrics and the spec's run
metrics, and a run counts once however often its history is replayed."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BufferedMetricUpdate,
    MetricBuffer,
    Runtime,
    TelemetryConfig,
)
from temporalio.worker import Worker

from activities.pipeline_catalog import PipelineCatalog
from activities.pipeline_steps import PipelineActivities
from activities.step_catalog import default_registry
from engine.pipeline_config import parse_pipelines_text
from tests.iac_wf_support import Stack, iac_worker, start
from tests.test_iac_operate import progress_when
from wfctl.client import PipelineExecutor
from wfctl.stack_client import StackClient
from wfctl.telemetry import prometheus_runtime
from worker import workflow_runner
from workflows.pipeline import PipelineWorkflow

ROOT = Path(__file__).resolve().parent.parent

PIPELINES = """
pipelines:
  metered-ok:
    steps:
      - {name: a, type: step.set, config: {values: {x: 1}}}
      - {name: b, type: step.sleep, config: {duration: 10ms}}
      - {name: c, type: step.pipeline_output, config: {values: {x: "{{ x }}"}}}
  metered-bad:
    steps:
      - {name: boom, type: step.fail, config: {message: no}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample of `name` carrying all `labels`."""
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*)\{(.*)\} (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2)))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


async def scrape(url: str, until: str) -> str:
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            try:
                text = (await http.get(url)).text
            except httpx.TransportError:
                text = ""
            if until in text:
                return text
            await asyncio.sleep(0.1)
    raise AssertionError(f"{until} never appeared at {url}")


async def test_worker_serves_sdk_and_run_metrics(client: Client, tmp_path: Path) -> None:
    config = tmp_path / "metered.yaml"
    config.write_text(PIPELINES)
    port, queue = free_port(), f"test-metrics-{uuid.uuid4().hex[:8]}"
    worker = subprocess.Popen(
        [sys.executable, "-m", "worker", "--config", str(config), "--no-iac",
         "--task-queue", queue, "--reload-interval", "0", "--metrics-port", str(port)],
        cwd=ROOT,
        env={**os.environ, "TEMPORAL_ADDRESS": client.service_client.config.target_host},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        executor = PipelineExecutor(client, task_queue=queue)
        assert await asyncio.wait_for(executor.execute_pipeline("metered-ok"), 30) == {"x": 1}
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(executor.execute_pipeline("metered-bad"), 30)
        text = await scrape(f"http://127.0.0.1:{port}/metrics", 'status="failed"')
    finally:
        worker.kill()
        worker.wait(10)
    common = {"workflow_type": "PipelineWorkflow", "task_queue": queue}
    executions = "workflow_executions_total"
    assert sample(text, executions, action="metered-ok", status="completed", **common) == 1
    assert sample(text, executions, action="metered-bad", status="failed", **common) == 1
    assert sample(text, "workflow_duration_seconds_count", action="metered-ok", **common) == 1
    duration = sample(text, "workflow_duration_seconds_sum", action="metered-ok", **common)
    assert duration is not None and 0 < duration < 30
    assert sample(text, "workflow_duration_seconds_bucket", action="metered-ok", le="60",
                  **common) == 1
    # The SDK's own metrics come through the same runtime.
    assert sample(text, "temporal_workflow_completed", task_queue=queue) == 1
    assert sample(text, "temporal_workflow_failed", task_queue=queue) == 1


async def buffered_client(client: Client) -> tuple[Client, MetricBuffer]:
    """A second client on the same server whose runtime keeps its metrics in a buffer."""
    buffer = MetricBuffer(10_000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    own = await Client.connect(
        client.service_client.config.target_host,
        namespace=client.namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
    return own, buffer


def executions(updates: Sequence[BufferedMetricUpdate]) -> list[tuple[str, str, str, int]]:
    """(workflow_type, action, status, count) of every workflow_executions_total update."""
    return [
        (u.attributes["workflow_type"], u.attributes["action"], u.attributes["status"], u.value)
        for u in updates
        if u.metric.name == "workflow_executions_total"
        and u.metric.kind == BUFFERED_METRIC_KIND_COUNTER
    ]


async def test_replays_do_not_count_twice(client: Client) -> None:
    """With no workflow cache every workflow task replays the run from its start (the sleep
    makes a second task), and a query on the finished run replays all of it, end included."""
    own, buffer = await buffered_client(client)
    registry = default_registry()
    catalog = PipelineCatalog(parse_pipelines_text(PIPELINES, "<test>", registry))
    activities = PipelineActivities(catalog, registry)
    queue = f"test-metrics-replay-{uuid.uuid4().hex[:8]}"
    async with Worker(
        own,
        task_queue=queue,
        workflows=[PipelineWorkflow],
        activities=activities.all(),
        workflow_runner=workflow_runner(),
        max_cached_workflows=0,
    ):
        handle = await PipelineExecutor(own, task_queue=queue).start_pipeline("metered-ok")
        await handle.result()
        assert (await handle.query(PipelineWorkflow.status)).completed_steps == ["a", "b", "c"]
    updates = buffer.retrieve_updates()
    assert executions(updates) == [("PipelineWorkflow", "metered-ok", "completed", 1)]
    # Each step is timed once, though every task replayed the steps before it.
    assert [
        u.attributes["step_type"] for u in updates
        if u.metric.name == "pipeline_step_duration_seconds"
    ] == ["step.set", "step.sleep", "step.pipeline_output"]


async def test_iac_runs_are_counted_by_action(client: Client, tmp_path: Path) -> None:
    own, buffer = await buffered_client(client)
    stack = Stack(tmp_path).add("thing", config={"size": 1})
    async with iac_worker(own) as queue:
        plan = await start(own, "PlanWorkflow", queue, stack.document())
        await plan.result()
        applied = await start(own, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await applied.result()).status == "applied"
    assert executions(buffer.retrieve_updates()) == [
        ("PlanWorkflow", "plan", "completed", 1),
        ("ApplyWorkflow", "apply", "completed", 1),
    ]


async def test_an_operator_cancelled_apply_counts_as_cancelled(
    client: Client, tmp_path: Path
) -> None:
    """`wfctl infra cancel` ends the apply with a "cancelled" result, not a raise: it must not
    be counted as a completed run."""
    own, buffer = await buffered_client(client)
    stack = Stack(tmp_path, latency=1.5).add("r0").add("r1")
    async with iac_worker(own) as queue:
        applied = await start(
            own, "ApplyWorkflow", queue,
            stack.document(auto_approve=True, parallelism=1, heartbeat_timeout=0.6),
        )  # fmt: skip
        await progress_when(applied, lambda p: len(p.running) == 1, "one create running")
        await StackClient(own).cancel(stack.name, by="ada")
        assert (await applied.result()).status == "cancelled"
    assert executions(buffer.retrieve_updates()) == [
        ("ApplyWorkflow", "apply", "cancelled", 1)
    ]


async def test_operator_metrics_of_an_apply_and_a_pipeline(
    client: Client, tmp_path: Path
) -> None:
    """One apply (a resource that fails validation, one throttled once, one fine) and two
    pipelines on workers whose runtime serves Prometheus: the scrape shows per-stack run time,
    action counts by outcome, step times by type and cloud errors by provider and class."""
    port = free_port()
    own = await Client.connect(
        client.service_client.config.target_host,
        namespace=client.namespace,
        data_converter=pydantic_data_converter,
        runtime=prometheus_runtime(port),
    )
    stack = Stack(tmp_path).add("good").add("slow").add("bad")
    stack.provider["fail"] = {"bad": "nope"}
    stack.provider["throttle"] = {"slow": 1}  # one throttled attempt
    registry = default_registry()
    catalog = PipelineCatalog(parse_pipelines_text(PIPELINES, "<test>", registry))
    pipelines = f"test-metrics-ops-{uuid.uuid4().hex[:8]}"
    async with iac_worker(own) as queue, Worker(
        own,
        task_queue=pipelines,
        workflows=[PipelineWorkflow],
        activities=PipelineActivities(catalog, registry).all(),
        workflow_runner=workflow_runner(),
    ):
        applied = await start(own, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await applied.result()).status == "failed"
        executor = PipelineExecutor(own, task_queue=pipelines)
        assert await executor.execute_pipeline("metered-ok") == {"x": 1}
        with pytest.raises(WorkflowFailureError):
            await executor.execute_pipeline("metered-bad")
        text = await scrape(f"http://127.0.0.1:{port}/metrics", "pipeline_step_duration")

    on_stack = {"stack": stack.name, "provider": "test", "resource_type": "test.thing"}
    actions = "resource_actions_total"
    assert sample(text, actions, action="create", outcome="succeeded", **on_stack) == 2
    assert sample(text, actions, action="create", outcome="failed", **on_stack) == 1
    assert sample(text, "resource_action_duration_seconds_count", action="create",
                  **on_stack) == 3
    run = {"stack": stack.name, "action": "apply", "status": "failed"}
    assert sample(text, "stack_run_duration_seconds_count", **run) == 1
    assert sample(text, "stack_run_duration_seconds_bucket", le="60", **run) == 1

    errors = "cloud_call_errors_total"
    assert sample(text, errors, provider="test", error_class="ValidationError",
                  retryable="false", activity_type="apply_action") == 1
    assert sample(text, errors, provider="test", error_class="Throttling",
                  retryable="true", activity_type="apply_action") == 1

    steps = "pipeline_step_duration_seconds_count"
    ok = {"pipeline": "metered-ok", "status": "completed"}
    for step_type in ("step.set", "step.sleep", "step.pipeline_output"):
        assert sample(text, steps, step_type=step_type, **ok) == 1
    slept = sample(text, "pipeline_step_duration_seconds_sum", step_type="step.sleep", **ok)
    assert slept is not None and slept >= 0.01
    assert sample(text, steps, pipeline="metered-bad", step_type="step.fail",
                  status="failed") == 1
    # No resource name is a label.
    assert '"good"' not in text and '"bad"' not in text
