"""Encryption keys on one side only: the run ends within seconds and wfctl says, in one line,
which side lacks which key and what to set there, instead of a workflow task failing forever
(`Unknown payload encoding binary/encrypted`) or a 60-line traceback.

Workers run in this process as worker.py builds them (a client from `connect(...,
worker=True)`), on the default pipelines queue since `wfctl pipeline run` starts there;
`wfctl` runs as a user runs it, with only its own keys in the environment.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.pipeline_catalog import PipelineCatalog
from activities.step_catalog import default_registry
from engine.pipeline_config import parse_pipelines_text
from providers.registry import MODULES_ENV
from tests.iac_wf_support import Stack, iac_worker
from tests.test_codec_history import new_key
from wfctl.client import PipelineExecutor
from wfctl.codec import KEY_FILE_ENV, KEYS_ENV, EncryptionKeysMissing
from wfctl.connection import ConnectionSettings, connect
from wfctl.serve import build_app
from worker import pipeline_worker

ROOT = Path(__file__).resolve().parent.parent
KEY_A = new_key("a")
KEY_B = new_key("b")
# Long enough for a loaded machine to start wfctl; a run that hangs never ends at all.
WAIT = 10

PIPELINES = """
pipelines:
  mismatch-hello:
    steps:
      - name: greet
        type: step.set
        config:
          values:
            greeting: "Hello, {{ name }}!"
      - name: respond
        type: step.pipeline_output
        config:
          values:
            greeting: "{{ greeting }}"
  mismatch-http:
    trigger: {type: http, method: POST, path: /mismatch}
    steps:
      - name: respond
        type: step.pipeline_output
        config:
          values:
            greeting: "Hello, {{ name }}!"
  mismatch-gate:
    steps:
      - name: gate
        type: step.wait_for_approval
        config:
          message: go?
          timeout: 1h
"""

NO_KEYS_ON_WORKER = (
    "invalid workflow input: it is encrypted (key id 'a') and this worker has no encryption "
    "keys: set WFCTL_ENCRYPTION_KEYS (or WFCTL_ENCRYPTION_KEY_FILE) on the worker, as the "
    "client has"
)
NO_KEY_A_ON_WORKER = (
    "it is encrypted with key id 'a', which this worker does not have (it has b): add it to "
    "WFCTL_ENCRYPTION_KEYS (or WFCTL_ENCRYPTION_KEY_FILE) on the worker, as the client has"
)
NO_KEYS_ON_CLIENT = (
    "the result is encrypted (key id 'a') and this client has no encryption keys: set "
    "WFCTL_ENCRYPTION_KEYS (or WFCTL_ENCRYPTION_KEY_FILE) as the worker has"
)


@pytest.fixture(scope="module")
def address(temporal_env: WorkflowEnvironment) -> str:
    return temporal_env.client.service_client.config.target_host


def settings(address: str, keys: str | None) -> ConnectionSettings:
    return ConnectionSettings(address=address, encryption_keys=keys)


@asynccontextmanager
async def worker_with(address: str, keys: str | None) -> AsyncIterator[Client]:
    """A pipelines worker whose only keys are `keys`; yields its client."""
    client = await connect(settings(address, keys), worker=True)
    registry = default_registry()
    catalog = PipelineCatalog(parse_pipelines_text(PIPELINES, "<test>", registry))
    async with pipeline_worker(client, catalog, registry):
        yield client


async def wfctl(address: str, keys: str | None, *argv: str, **env: str) -> tuple[int, list[str]]:
    """wfctl's exit code and stderr lines, with `keys` as its only encryption keys."""
    environment = {k: v for k, v in os.environ.items() if k not in (KEYS_ENV, KEY_FILE_ENV)}
    environment.update(env, **({KEYS_ENV: keys} if keys else {}))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wfctl", "--address", address, *argv,
        cwd=ROOT, env=environment,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), WAIT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"wfctl {' '.join(argv)} still waits after {WAIT} s") from None
    return process.returncode or 0, err.decode().splitlines()


def started_id(lines: list[str]) -> str:
    """The workflow id `wfctl pipeline run` announces first."""
    assert lines and lines[0].startswith("workflow "), lines
    return lines[0].removeprefix("workflow ")


async def assert_failed_at_once(client: Client, workflow_id: str) -> None:
    """Closed as failed, with not one workflow task failure on the way."""
    handle = client.get_workflow_handle(workflow_id)
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    events = [event.event_type async for event in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events


def encryption_complaints(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Worker log lines about the payloads (a workflow task failing logs one per attempt)."""
    return [
        r.getMessage() for r in caplog.records
        if "encrypt" in r.getMessage() or "decoding" in r.getMessage()
    ]


def stack_file(tmp_path: Path) -> Path:
    stack = Stack(tmp_path).add("net", "test.network", config={"cidr": "10.0.0.0/16"})
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(stack.document()))
    return path


async def wfctl_infra(address: str, keys: str | None, queue: str, *argv: str) -> list[str]:
    """`wfctl infra ...` on the IaC worker of `queue`: its stderr lines, having exited 1."""
    code, lines = await wfctl(
        address, keys, "infra", *argv,
        WFCTL_IAC_TASK_QUEUE=queue, **{MODULES_ENV: "tests.iac_test_provider"},
    )
    assert code == 1, lines
    return lines


async def test_client_with_keys_worker_without(
    address: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with worker_with(address, None) as client:
        code, lines = await wfctl(
            address, KEY_A, "pipeline", "run", "mismatch-hello", "--data", '{"name": "Ada"}'
        )
        assert code == 1
        assert lines[-1] == f"pipeline mismatch-hello failed: {NO_KEYS_ON_WORKER}"
        await assert_failed_at_once(client, started_id(lines))

        path = stack_file(tmp_path)
        async with iac_worker(client) as queue:
            lines = await wfctl_infra(address, KEY_A, queue, "plan", "-f", str(path))
        assert lines[-1] == f"Error: {NO_KEYS_ON_WORKER}"
        assert lines[0].startswith("Workflow: "), lines
        await assert_failed_at_once(client, lines[0].removeprefix("Workflow: "))
    assert len(encryption_complaints(caplog)) <= 1, encryption_complaints(caplog)


async def test_worker_without_the_key_id_of_the_input_or_the_update(address: str) -> None:
    async with worker_with(address, KEY_B) as client:
        # The client writes with "a" (its first key) and can read the worker's "b".
        code, lines = await wfctl(
            address, f"{KEY_A},{KEY_B}", "pipeline", "run", "mismatch-hello", "--data", "{}"
        )
        assert code == 1
        assert lines[-1] == (
            f"pipeline mismatch-hello failed: invalid workflow input: {NO_KEY_A_ON_WORKER}"
        )
        await assert_failed_at_once(client, started_id(lines))

        # An approval encrypted under "a" is refused; the run goes on waiting, unharmed.
        b_only = PipelineExecutor(await connect(settings(address, KEY_B)))
        handle = await b_only.start_pipeline("mismatch-gate")
        for _ in range(100):
            if await b_only.pending_approvals(handle.id):
                break
            await asyncio.sleep(0.05)
        code, lines = await wfctl(address, f"{KEY_A},{KEY_B}", "pipeline", "approve", handle.id)
        assert code == 1
        assert lines == [f"approve refused: invalid Update argument: {NO_KEY_A_ON_WORKER}"]
        await b_only.approve(handle.id, "ada")
        assert (await asyncio.wait_for(handle.result(), WAIT))["approved"] is True
        events = [event.event_type async for event in handle.fetch_history_events()]
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events


async def test_client_without_keys_reading_encrypted_results(
    address: str, tmp_path: Path
) -> None:
    async with worker_with(address, KEY_A) as worker_client:
        code, lines = await wfctl(
            address, None, "pipeline", "run", "mismatch-hello", "--data", '{"name": "Ada"}'
        )
        assert code == 1
        assert lines[-1] == f"error: {NO_KEYS_ON_CLIENT}"
        run_id = started_id(lines)
        # The run itself succeeded: only the reading side lacks the key.
        handle = worker_client.get_workflow_handle(run_id)
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

        code, lines = await wfctl(address, None, "pipeline", "show", run_id)
        assert (code, lines) == (1, [f"error: {NO_KEYS_ON_CLIENT}"])

        plain = PipelineExecutor(await connect(settings(address, None)))
        with pytest.raises(EncryptionKeysMissing, match=r"^the result is encrypted \(key id 'a'\)"):
            await asyncio.wait_for(plain.execute_pipeline("mismatch-hello", {"name": "Ada"}), WAIT)
        other_key = PipelineExecutor(await connect(settings(address, KEY_B)))
        with pytest.raises(EncryptionKeysMissing) as missing:
            await other_key.client.get_workflow_handle(run_id).result()
        assert missing.value.key_id == "a"
        assert str(missing.value) == (
            "the result is encrypted with key id 'a', which this client does not have (it has "
            "b): add it to WFCTL_ENCRYPTION_KEYS (or WFCTL_ENCRYPTION_KEY_FILE) as the worker has"
        )

        path = stack_file(tmp_path)
        async with iac_worker(worker_client) as queue:
            lines = await wfctl_infra(address, None, queue, "plan", "-f", str(path))
        assert lines[-1] == f"Error: {NO_KEYS_ON_CLIENT}"


async def test_serve_without_keys_answers_500_and_logs_one_line(
    address: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_pipelines_text(PIPELINES, "<test>", default_registry())
    app = build_app(config, PipelineExecutor(await connect(settings(address, None))))
    async with (
        worker_with(address, KEY_A),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://wfctl") as http,
    ):
        with caplog.at_level(logging.ERROR, logger="wfctl.serve"):
            response = await asyncio.wait_for(http.post("/mismatch", json={"name": "Ada"}), WAIT)
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "the server cannot read the run's result"
    records = [r for r in caplog.records if r.name == "wfctl.serve"]
    assert [r.getMessage() for r in records] == [
        f"POST /mismatch: {body['workflow_id']}: {NO_KEYS_ON_CLIENT}"]
    assert records[0].exc_info is None
