"""Starting pipelines the three ways a user does (wfctl, the Temporal CLI, Python), and
reading a run back from its history."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from activities.pipeline_catalog import PipelineCatalog
from activities.step_catalog import default_registry
from examples.echo_server import start_in_thread
from tests.conftest import temporal_binary
from tests.pipeline_harness import EXAMPLES, running_pipelines
from worker import pipeline_worker

ROOT = Path(__file__).resolve().parent.parent
WFCTL = [sys.executable, "-m", "wfctl"]


async def run_command(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


@pytest.fixture(scope="module")
def address(temporal_env: WorkflowEnvironment) -> str:
    return temporal_env.client.service_client.config.target_host


@pytest.fixture(scope="module")
async def examples_worker(client: Client) -> AsyncIterator[None]:
    """A worker on the real task queue, as `make run` starts it, serving examples/."""
    registry = default_registry()
    async with pipeline_worker(client, PipelineCatalog.load(EXAMPLES, registry), registry):
        yield


async def test_wfctl_pipeline_run_prints_the_output(address: str, examples_worker: None) -> None:
    code, out, err = await run_command(
        *WFCTL, "--address", address, "pipeline", "run", "hello", "--data", '{"name": "Ada"}'
    )
    assert code == 0, err
    assert json.loads(out) == {"greeting": "Hello, Ada!"}
    assert "workflow pipeline:hello:" in err and "http://localhost:8233/namespaces/default" in err


async def test_wfctl_pipeline_run_reads_data_from_a_file(
    address: str, examples_worker: None, tmp_path: Path
) -> None:
    data = tmp_path / "order.json"
    data.write_text(json.dumps({"order_id": "A-1", "amount": 250}))
    code, out, err = await run_command(
        *WFCTL, "--address", address, "pipeline", "run", "order-intake", "--data", f"@{data}"
    )
    assert code == 0, err
    assert json.loads(out) == {
        "order_id": "A-1", "amount": 250, "decision": "needs_review", "reviewer": "finance"
    }


async def test_failed_run_exits_1_with_the_reason(address: str, examples_worker: None) -> None:
    code, _, err = await run_command(
        *WFCTL, "--address", address, "pipeline", "run", "order-intake", "--data", '{"amount": 5}'
    )
    assert code == 1
    assert 'step "check" failed' in err and "order_id" in err


async def test_temporal_cli_starts_a_pipeline(
    address: str, client: Client, examples_worker: None
) -> None:
    workflow_id = f"pipeline:hello:cli-{time.time_ns()}"
    code, out, err = await run_command(
        temporal_binary(), "workflow", "start", "--address", address,
        "--task-queue", "wfctl-pipelines", "--type", "PipelineWorkflow",
        "--workflow-id", workflow_id,
        "--input", '{"pipeline":"hello","data":{"name":"Ada"}}',
    )
    assert code == 0, err
    assert await client.get_workflow_handle(workflow_id).result() == {"greeting": "Hello, Ada!"}


async def test_temporal_cli_with_bad_input_fails_the_run_clearly(
    address: str, client: Client, examples_worker: None
) -> None:
    workflow_id = f"pipeline:bad:cli-{time.time_ns()}"
    code, out, err = await run_command(
        temporal_binary(), "workflow", "execute", "--address", address,
        "--task-queue", "wfctl-pipelines", "--type", "PipelineWorkflow",
        "--workflow-id", workflow_id, "--input", '"just a string"',
    )
    assert code != 0
    description = await client.get_workflow_handle(workflow_id).describe()
    assert description.status is not None and description.status.name == "FAILED"
    assert "invalid PipelineWorkflow input" in out + err


async def test_pipeline_list_and_show_read_temporal(
    address: str, client: Client, examples_worker: None
) -> None:
    code, out, err = await run_command(
        *WFCTL, "--address", address, "pipeline", "run", "order-intake", "--no-wait",
        "--data", '{"order_id": "B-2", "amount": 3}',
    )
    assert code == 0, err
    workflow_id = out.strip()
    await client.get_workflow_handle(workflow_id).result()

    code, out, err = await run_command(
        *WFCTL, "--address", address, "pipeline", "show", workflow_id, "--json"
    )
    assert code == 0, err
    shown = json.loads(out)
    assert shown["status"] == "Completed"
    steps = [(s["step"], s["type"], s["status"]) for s in shown["steps"]]
    assert steps == [
        ("check", "step.validate", "completed"),
        ("classify", "step.set", "completed"),
        ("route", "step.conditional", "completed"),
        ("approve", "step.set", "completed"),
        ("respond", "step.pipeline_output", "completed"),
    ]
    assert all(s["kind"] == "local" and s["duration_seconds"] >= 0 for s in shown["steps"])

    # Visibility is eventually consistent: give it a moment to index the run.
    for _ in range(50):
        code, out, err = await run_command(
            *WFCTL, "--address", address, "pipeline", "list", "--pipeline", "order-intake",
            "--status", "completed", "--json",
        )
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        if any(row["workflow_id"] == workflow_id for row in rows):
            break
        await asyncio.sleep(0.2)
    assert code == 0, err
    row = next(row for row in rows if row["workflow_id"] == workflow_id)
    assert row["pipeline"] == "order-intake" and row["status"] == "Completed"

    # An 80-column terminal gets whole ids and statuses, not a cell cut in every column.
    code, out, err = await run_command(
        *WFCTL, "--address", address, "pipeline", "list", "--pipeline", "order-intake",
        env={"COLUMNS": "80"},
    )
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, out
    assert "…" not in out, out
    assert lines[0].split() == ["workflow", "id", "status", "started", "(UTC)", "took"]
    listed = next(line.split() for line in lines if workflow_id in line)
    assert listed[:2] == [workflow_id, "Completed"] and listed[-1] in ("ms", "s"), listed


FLAKY = """
pipelines:
  flaky-lookup:
    steps:
      - name: fetch
        type: step.http_call
        config: {url: "{{ base }}/flaky/{{ key }}?fail=2&code=503&retry_after=0"}
        retry: {max_attempts: 5, initial_interval: 50ms, backoff: 1.0}
      - name: out
        type: step.pipeline_output
        config: {values: {attempts: "{{ steps.fetch.body.attempts }}"}}
  broken-lookup:
    steps:
      - name: fetch
        type: step.http_call
        config: {url: "{{ base }}/status/404"}
        retry: {max_attempts: 5, initial_interval: 50ms}
"""


async def test_flaky_http_call_is_retried_and_the_timeline_shows_it(client: Client) -> None:
    base, server = start_in_thread()
    try:
        async with running_pipelines(client, FLAKY) as executor:
            handle = await executor.start_pipeline("flaky-lookup", {"base": base, "key": "k1"})
            assert await handle.result() == {"attempts": 3}
            from wfctl.history import TemporalEventRecorder

            timeline = await TemporalEventRecorder(client).timeline(handle.id)
            fetch = timeline[0]
            assert (fetch.step, fetch.type, fetch.kind) == ("fetch", "step.http_call", "activity")
            assert fetch.status == "completed" and fetch.attempts == 3

            broken = await executor.start_pipeline("broken-lookup", {"base": base})
            with pytest.raises(WorkflowFailureError):
                await broken.result()
            events = await TemporalEventRecorder(client).step_events(broken.id)
            # A 404 is not retried: one attempt, and the error says what happened.
            assert events[0]["status"] == "failed" and events[0]["attempts"] == 1
            assert "404" in events[0]["error"]
    finally:
        server.stop()


async def test_python_client_api(client: Client, examples_worker: None) -> None:
    from wfctl.client import PipelineExecutor

    executor = PipelineExecutor(client)
    assert await executor.execute_pipeline("hello", {"name": "Grace"}) == {
        "greeting": "Hello, Grace!"
    }


async def test_worker_exits_with_one_line_when_temporal_is_unreachable() -> None:
    code, _, err = await run_command(
        sys.executable, "-m", "worker", "--config", "examples", "--address", "127.0.0.1:1"
    )
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("worker: cannot reach Temporal at 127.0.0.1:1")


async def test_worker_exits_on_invalid_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipelines:\n  p:\n    steps:\n      - {name: a, type: step.nope}\n")
    code, _, err = await run_command(sys.executable, "-m", "worker", "--config", str(bad))
    assert code == 2
    assert "unknown step type" in err and 'pipeline "p": step "a"' in err


async def test_wfctl_validate(tmp_path: Path) -> None:
    code, out, _ = await run_command(*WFCTL, "validate", "examples")
    assert code == 0 and "pipelines OK" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipelines:\n  p:\n    steps:\n      - {name: a, type: step.nope}\n")
    code, _, err = await run_command(*WFCTL, "validate", str(bad))
    assert code == 1 and "unknown step type" in err


async def test_wfctl_schema_pipeline_is_json_schema() -> None:
    code, out, _ = await run_command(*WFCTL, "schema", "pipeline")
    assert code == 0
    assert json.loads(out)["$schema"].endswith("2020-12/schema")


async def test_worker_stops_cleanly_on_sigterm(address: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "worker", "--config", "examples", "--address", address,
        "--no-iac", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )
    assert process.stderr is not None
    # Serving starts once it logs the pipelines it loaded.
    line = await asyncio.wait_for(process.stderr.readline(), 30)
    while b"serving" not in line:
        line = await asyncio.wait_for(process.stderr.readline(), 30)
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 30) == 0
