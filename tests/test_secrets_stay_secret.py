"""A secret in a failing run reaches neither history, nor the worker's log, nor wfctl's output.

The worker is `worker.py` as a user runs it, with encryption keys, its log captured; runs are
started and read back with `wfctl` (same keys) and dumped with the real `temporal` CLI. Each
run fails on data holding a marker: a step.validate on it, and an http_call to a URL with the
marker as password and as a query value, against a server that echoes the request line back.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.test_codec_history import new_key, readable_texts, show_history
from wfctl.connection import ConnectionSettings, connect

ROOT = Path(__file__).resolve().parent.parent
MARKER = f"mk{uuid.uuid4().hex}"
KEYS = new_key("k1")

PIPELINES = """
pipelines:
  secret-check:
    steps:
      - name: check
        type: step.validate
        config:
          schema:
            type: object
            properties:
              token: {type: string, pattern: "^[0-9]+$"}
  secret-call:
    steps:
      - name: call
        type: step.http_call
        config:
          method: POST
          url: "{{ url }}"
          json: {hello: world}
"""


class _Refusing(BaseHTTPRequestHandler):
    """403 to everything, quoting the request line back as a careless server does."""

    def do_POST(self) -> None:
        body = f"denied: {self.command} {self.path}".encode()
        self.send_response(403)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def refusing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def address(temporal_env: WorkflowEnvironment) -> str:
    return temporal_env.client.service_client.config.target_host


def encrypted_env() -> dict[str, str]:
    return {**os.environ, "WFCTL_ENCRYPTION_KEYS": KEYS}


@pytest.fixture(scope="module")
async def worker_log(address: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Path]:
    """`worker.py` with the keys, serving PIPELINES and stacks on the default queues; yields
    its log file."""
    folder = tmp_path_factory.mktemp("secrets")
    (folder / "pipelines.yaml").write_text(PIPELINES)
    log = folder / "worker.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "worker.py", "--config", str(folder), "--address", address,
            "--reload-interval", "0", "--log-level", "INFO", "--http-allow", "loopback",
            cwd=ROOT, env=encrypted_env(), stdout=sink, stderr=sink,
        )
        try:
            for _ in range(600):
                if b"serving" in log.read_bytes():
                    break
                assert process.returncode is None, log.read_text()
                await asyncio.sleep(0.05)
            yield log
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)


async def wfctl(address: str, *argv: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wfctl", "--address", address, *argv,
        cwd=ROOT, env=encrypted_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode()


@dataclass
class FailedRun:
    workflow_id: str
    run_output: str  # `wfctl pipeline run`, stdout and stderr
    show_output: str  # `wfctl pipeline show --json`
    history: str  # `temporal workflow show --output json`


async def failed_run(address: str, pipeline: str, data: dict[str, str]) -> FailedRun:
    code, run_output = await wfctl(address, "pipeline", "run", pipeline, "--data", json.dumps(data))
    assert code == 1, run_output
    workflow_id = next(
        line.split()[1] for line in run_output.splitlines() if line.startswith("workflow ")
    )
    code, show_output = await wfctl(address, "pipeline", "show", workflow_id, "--json")
    assert code == 0, show_output
    return FailedRun(workflow_id, run_output, show_output,
                     await show_history(address, workflow_id))


@pytest.fixture(scope="module")
async def failed_runs(
    address: str, worker_log: Path, refusing_server: str
) -> dict[str, FailedRun]:
    host = refusing_server.removeprefix("http://")
    url = f"http://user:{MARKER}@{host}/deploy?token={MARKER}&note={MARKER}"
    return {
        "validate": await failed_run(address, "secret-check", {"token": MARKER}),
        "http_call": await failed_run(address, "secret-call", {"url": url}),
    }


def step_error(run: FailedRun) -> str:
    [step] = json.loads(run.show_output)["steps"]
    assert step["status"] == "failed"
    return str(step["error"])


async def test_history_holds_no_secret_and_failures_are_encoded(
    failed_runs: dict[str, FailedRun],
) -> None:
    for name, run in failed_runs.items():
        leaks = [text for text in readable_texts(run.history) if MARKER in text]
        assert not leaks, f"{name}: the marker is readable in the history: {leaks[0][:300]}"
        assert '"message": "Encoded failure"' in run.history, name


async def test_the_worker_log_holds_no_secret(
    failed_runs: dict[str, FailedRun], worker_log: Path
) -> None:
    log = worker_log.read_text()
    assert MARKER not in log, [line for line in log.splitlines() if MARKER in line]
    # httpx did log the call: with its userinfo and query values masked.
    assert "HTTP Request: POST http://***@127.0.0.1:" in log
    assert "/deploy?token=***&note=***" in log


async def test_wfctl_prints_the_real_message_without_the_secret(
    failed_runs: dict[str, FailedRun],
) -> None:
    for name, run in failed_runs.items():
        assert MARKER not in run.run_output, f"{name}: {run.run_output}"
        assert MARKER not in run.show_output, f"{name}: {run.show_output}"
    validate, call = failed_runs["validate"], failed_runs["http_call"]
    # Decoded with the keys: the real reasons, not "Encoded failure".
    reason = "$.token: must match the pattern '^[0-9]+$'"
    assert 'step "check" failed: validation failed (1 problem): ' + reason in validate.run_output
    assert reason in step_error(validate)
    # The URL masked, and the server's echo of the request line masked as well.
    answered = "/deploy?token=***&note=*** answered 403: denied: POST /deploy?token=***&note=***"
    for text in (call.run_output, step_error(call)):
        assert "POST http://***@127.0.0.1:" in text and answered in text


async def test_the_client_api_decodes_the_failure(
    address: str, failed_runs: dict[str, FailedRun]
) -> None:
    client = await connect(ConnectionSettings(address=address, encryption_keys=KEYS))
    handle = client.get_workflow_handle(failed_runs["validate"].workflow_id)
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert "must match the pattern" in cause.message and MARKER not in cause.message


async def test_wfctl_infra_prints_the_decoded_failure(
    address: str, worker_log: Path, tmp_path: Path
) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        "stack: encoded-failure\n"
        f"state: {{backend: sqlite, path: {tmp_path / 'state.db'}}}\n"
        "providers: {aws: {type: aws, region: us-east-1}}\n"
        "resources: [{name: web, type: aws.nope, config: {}}]\n"
    )
    code, output = await wfctl(address, "infra", "plan", "-f", str(stack))
    assert code == 1, output
    assert 'type "aws.nope" is not supported by provider "aws"' in output
    workflow_id = next(line.split()[1] for line in output.splitlines()
                       if line.startswith("Workflow: "))
    history = await show_history(address, workflow_id)
    assert '"message": "Encoded failure"' in history
    assert not [text for text in readable_texts(history) if "is not supported by" in text]


async def test_a_state_dsn_with_a_password_is_refused_before_anything_starts(
    address: str, tmp_path: Path
) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        "stack: leaky-dsn\n"
        f"state: {{backend: postgres, dsn: 'postgresql://u:{MARKER}@127.0.0.1:5432/state'}}\n"
        "providers: {aws: {type: aws, region: us-east-1}}\n"
        "resources: []\n"
    )
    code, output = await wfctl(address, "infra", "apply", "-f", str(stack), "--auto-approve")
    assert code == 1, output
    assert "state: dsn holds a password" in output and "dsn_env" in output
    assert MARKER not in output
    client = await connect(ConnectionSettings(address=address, encryption_keys=KEYS))
    started = [w async for w in client.list_workflows('WorkflowId = "stack:leaky-dsn"')]
    assert started == []
