"""Encrypted payloads end to end: runs whose outputs hold a secret leave no trace of it in the
history the real `temporal` CLI dumps; `wfctl codec-server` opens them for a token holder."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.conftest import temporal_binary
from tests.iac_wf_support import Stack, iac_worker, start
from tests.pipeline_harness import running_pipelines
from wfctl.codec import EncryptionKeyError
from wfctl.connection import ConnectionSettings, connect
from wfctl.history import TemporalEventRecorder

ROOT = Path(__file__).resolve().parent.parent
SECRET = f"hunter2-{uuid.uuid4().hex}"
TOKEN = f"codec-token-{uuid.uuid4().hex}"
UI_ORIGIN = "http://localhost:8233"

PIPELINE = """
pipelines:
  leaky:
    steps:
      - name: connect
        type: step.set
        config:
          values:
            dsn: "postgres://app:{{ password }}@db.internal/orders"
      - name: respond
        type: step.pipeline_output
        config:
          values: {dsn: "{{ dsn }}"}
"""


def new_key(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


KEY_K1 = new_key("k1")


@pytest.fixture(scope="module")
def address(temporal_env: WorkflowEnvironment) -> str:
    return temporal_env.client.service_client.config.target_host


async def encrypted_client(address: str, keys: str) -> Client:
    return await connect(ConnectionSettings(address=address, encryption_keys=keys))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
async def codec_server() -> AsyncIterator[str]:
    """`wfctl codec-server` as a user runs it, with the k1 key; yields its base URL."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wfctl", "codec-server", "--port", str(port), "--origin", UI_ORIGIN,
        cwd=ROOT,
        env={**os.environ, "WFCTL_ENCRYPTION_KEYS": KEY_K1, "WFCTL_CODEC_TOKEN": TOKEN},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                try:
                    await http.post(f"{url}/decode")
                    break
                except httpx.TransportError:
                    assert process.returncode is None, "codec server exited"
                    await asyncio.sleep(0.05)
        yield url
    finally:
        process.terminate()
        await process.wait()


async def show_history(address: str, workflow_id: str, *codec_flags: str) -> str:
    process = await asyncio.create_subprocess_exec(
        temporal_binary(), "workflow", "show", "--workflow-id", workflow_id, "--output", "json",
        "--address", address, "--namespace", "default", *codec_flags,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    return out.decode()


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def readable_texts(dump: str) -> Iterator[str]:
    """The dump itself and every string in it that is base64 (raw payload data is)."""
    yield dump
    for text in strings(json.loads(dump)):
        try:
            yield base64.b64decode(text, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            continue


def payloads_in(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if "metadata" in value and "data" in value:
            yield value
        else:
            for item in value.values():
                yield from payloads_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from payloads_in(item)


def encrypted_payloads(dump: str) -> list[dict[str, Any]]:
    marker = base64.b64encode(b"binary/encrypted").decode()
    return [p for p in payloads_in(json.loads(dump)) if p["metadata"].get("encoding") == marker]


async def run_pipeline(client: Client) -> str:
    async with running_pipelines(client, PIPELINE) as executor:
        handle = await executor.start_pipeline("leaky", {"password": SECRET})
        assert await handle.result() == {"dsn": f"postgres://app:{SECRET}@db.internal/orders"}
    return handle.id


@dataclass
class EncryptedRuns:
    dumps: dict[str, str]  # workflow id -> `temporal workflow show --output json`


@pytest.fixture(scope="module")
async def encrypted_runs(
    address: str, tmp_path_factory: pytest.TempPathFactory
) -> EncryptedRuns:
    """A pipeline and a stack apply, client and worker both encrypting with k1."""
    client = await encrypted_client(address, KEY_K1)
    pipeline_id = await run_pipeline(client)

    stack = Stack(tmp_path_factory.mktemp("codec"))
    stack.add("api", config={"api_token": SECRET})
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        outcome = await handle.result()
    assert outcome.status == "applied", outcome.errors
    assert stack.cloud.live()["api"]["config"]["api_token"] == SECRET

    ids = [pipeline_id, stack.workflow_id]
    return EncryptedRuns({i: await show_history(address, i) for i in ids})


async def test_the_search_finds_a_secret_in_an_unencrypted_history(
    client: Client, address: str
) -> None:
    """The control: the same dump and search do find the secret when nothing encrypts."""
    dump = await show_history(address, await run_pipeline(client))
    assert any(SECRET in text for text in readable_texts(dump))


async def test_encrypted_histories_hold_no_secret(encrypted_runs: EncryptedRuns) -> None:
    for workflow_id, dump in encrypted_runs.dumps.items():
        assert encrypted_payloads(dump), f"{workflow_id}: no encrypted payloads"
        leaks = [text for text in readable_texts(dump) if SECRET in text]
        assert not leaks, f"{workflow_id}: the secret is readable in its history"


async def test_codec_server_decodes_the_history_for_a_token_holder(
    encrypted_runs: EncryptedRuns, codec_server: str
) -> None:
    async with httpx.AsyncClient() as http:
        for workflow_id, dump in encrypted_runs.dumps.items():
            body = {"payloads": encrypted_payloads(dump)}
            anonymous = await http.post(f"{codec_server}/decode", json=body)
            assert anonymous.status_code == 401
            wrong = await http.post(
                f"{codec_server}/decode", json=body, headers={"Authorization": "Bearer nope"}
            )
            assert wrong.status_code == 401
            decoded = await http.post(
                f"{codec_server}/decode", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert decoded.status_code == 200, decoded.text
            payloads = decoded.json()["payloads"]
            assert len(payloads) == len(body["payloads"])
            texts = [base64.b64decode(p.get("data", "")).decode() for p in payloads]
            assert any(SECRET in t for t in texts), workflow_id


async def test_temporal_cli_reads_plaintext_through_the_codec_server(
    encrypted_runs: EncryptedRuns, codec_server: str, address: str
) -> None:
    workflow_id = next(iter(encrypted_runs.dumps))
    dump = await show_history(
        address, workflow_id, "--codec-endpoint", codec_server,
        "--codec-auth", f"Bearer {TOKEN}",
    )
    assert not encrypted_payloads(dump)
    assert any(SECRET in text for text in readable_texts(dump))


async def test_encode_then_decode_and_ui_access(codec_server: str) -> None:
    plain = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
             "data": base64.b64encode(json.dumps(SECRET).encode()).decode()}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient() as http:
        encoded = await http.post(f"{codec_server}/encode", json={"payloads": [plain]},
                                  headers=auth)
        assert encoded.status_code == 200
        [sealed] = encoded.json()["payloads"]
        assert SECRET not in base64.b64decode(sealed["data"]).decode("latin-1")
        # The web UI cannot add a header: its per-browser endpoint carries the token.
        decoded = await http.post(f"{codec_server}/{TOKEN}/decode", json={"payloads": [sealed]},
                                  headers={"Origin": UI_ORIGIN, "X-Namespace": "default"})
        assert decoded.status_code == 200
        assert decoded.json()["payloads"] == [plain]
        assert decoded.headers["access-control-allow-origin"] == UI_ORIGIN
        assert (await http.post(f"{codec_server}/wrong/decode",
                                json={"payloads": [sealed]})).status_code == 401

        preflight = await http.options(f"{codec_server}/decode", headers={
            "Origin": UI_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        })
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == UI_ORIGIN
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        foreign = await http.options(f"{codec_server}/decode", headers={
            "Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
        })
        assert "access-control-allow-origin" not in foreign.headers

        unknown_key = {**sealed, "metadata": {
            **sealed["metadata"], "encryption-key-id": base64.b64encode(b"k9").decode()}}
        refused = await http.post(f"{codec_server}/decode", json={"payloads": [unknown_key]},
                                  headers=auth)
        assert refused.status_code == 400
        assert "key id 'k9', which this codec server does not have (it has k1)" in refused.text


async def test_key_rotation_across_runs(address: str) -> None:
    k2 = new_key("k2")
    old_id = await run_pipeline(await encrypted_client(address, KEY_K1))

    rotated = await encrypted_client(address, f"{k2},{KEY_K1}")
    old_result = await rotated.get_workflow_handle(old_id).result()
    assert SECRET in old_result["dsn"]
    new_id = await run_pipeline(rotated)
    assert '"azI="' in await show_history(address, new_id)  # key id "k2", base64 in metadata

    k1_dropped = await encrypted_client(address, k2)
    with pytest.raises(EncryptionKeyError, match="'k1', which this client does not have"):
        await k1_dropped.get_workflow_handle(old_id).result()
    assert SECRET in (await k1_dropped.get_workflow_handle(new_id).result())["dsn"]


async def test_worker_and_wfctl_refuse_bad_keys_with_one_line(address: str) -> None:
    env = {**os.environ, "WFCTL_ENCRYPTION_KEYS": "k1:dG9vIHNob3J0"}
    for argv in (["worker.py", "--address", address, "--no-iac", "--config", "examples"],
                 ["-m", "wfctl", "--address", address, "pipeline", "list"]):
        process = await asyncio.create_subprocess_exec(
            sys.executable, *argv, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 2, err.decode()
        assert "key 'k1' is 9 bytes; AES-256 needs 32" in err.decode()
        assert "Traceback" not in err.decode()



async def test_step_timeline_reads_an_encrypted_history(address: str) -> None:
    """`wfctl pipeline show` reads step summaries straight from history events."""
    client = await encrypted_client(address, KEY_K1)
    run_id = await run_pipeline(client)
    steps = await TemporalEventRecorder(client).timeline(run_id)
    assert [(s.step, s.type, s.status) for s in steps] == [
        ("connect", "step.set", "completed"), ("respond", "step.pipeline_output", "completed")]
