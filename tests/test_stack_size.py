"""Oversized stacks: sent by reference (the document stored in the state store, its digest in
the input), or -- when this process cannot open the state store -- refused by the client with
a clear error before the start, at the limit the real dev server enforces (instead of
`RPCError: Blob data size exceeds limit`)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client
from temporalio.service import RPCError
from typer.testing import CliRunner

from statestore import open_state_store
from wfctl.infra_cli import infra_app
from wfctl.stack_client import PAYLOAD_LIMIT, StackClient, StackTooLargeError

# A state store only the worker can open: its DSN variable is not set here.
WORKER_ONLY_STATE = {"backend": "postgres", "dsn_env": "WFCTL_TEST_UNSET_DSN"}


def document(padding: int) -> dict[str, Any]:
    return {
        "stack": f"big-{uuid.uuid4().hex[:8]}",
        "state": WORKER_ONLY_STATE,
        "providers": {"main": {"type": "test"}},
        "resources": [{"name": "vm", "type": "test.thing", "config": {"script": "x" * padding}}],
    }


async def encoded_size(client: Client, doc: dict[str, Any]) -> int:
    return Payloads(payloads=await client.data_converter.encode([doc])).ByteSize()


async def sized(client: Client, target: int) -> dict[str, Any]:
    """A document whose encoded input is `target` bytes."""
    padding = target - await encoded_size(client, document(0))
    for _ in range(3):  # length prefixes grow with the padding: converge on the target
        doc = document(padding)
        padding += target - await encoded_size(client, doc)
    assert await encoded_size(client, doc) == target
    return doc


async def test_the_client_refuses_exactly_what_the_server_would(client: Client) -> None:
    queue = f"nobody-{uuid.uuid4().hex[:8]}"  # no worker: only the start itself is measured
    stacks = StackClient(client, task_queue=queue)
    over = await sized(client, PAYLOAD_LIMIT + 1)
    # The server's own answer to that input, so the constant is the real limit.
    with pytest.raises(RPCError, match="Blob data size exceeds limit"):
        await client.start_workflow(
            "PlanWorkflow", over, id=f"raw-{uuid.uuid4()}", task_queue=queue
        )
    with pytest.raises(StackTooLargeError) as caught:
        await stacks.start("plan", over)
    message = str(caught.value)
    assert f"stack {over['stack']!r} is {PAYLOAD_LIMIT + 1} bytes as workflow input" in message
    assert f"over Temporal's payload limit of {PAYLOAD_LIMIT} bytes (2 MiB)" in message

    under = await sized(client, PAYLOAD_LIMIT)
    handle = await stacks.start("plan", under)
    await handle.terminate("measured only")


async def test_a_stack_over_the_limit_goes_by_reference_when_its_store_opens(
    client: Client, tmp_path: Path
) -> None:
    stacks = StackClient(client, task_queue=f"nobody-{uuid.uuid4().hex[:8]}")
    over = await sized(client, PAYLOAD_LIMIT + 1)
    over["state"] = {"backend": "sqlite", "path": str(tmp_path / "state.db")}
    handle = await stacks.start("plan", over)
    await handle.terminate("measured only")
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.input.ByteSize() < 4096
    given = json.loads(started.input.payloads[0].data)
    assert "resources" not in given
    stored = open_state_store(over["state"], over["stack"]).get_document(given["document_digest"])
    assert json.loads(stored)["resources"] == over["resources"]


async def test_a_large_stack_starts_with_a_warning(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wfctl.stack")
    stacks = StackClient(client, task_queue=f"nobody-{uuid.uuid4().hex[:8]}")
    handle = await stacks.start("plan", await sized(client, 600 * 1024))
    await handle.terminate("measured only")
    warned = [r.getMessage() for r in caplog.records if r.name == "wfctl.stack"]
    assert len(warned) == 1 and "is 600 KiB as workflow input" in warned[0]


async def test_wfctl_infra_names_the_limit_instead_of_an_rpc_error(
    client: Client, tmp_path: Path
) -> None:
    # Under the file size limit as YAML, over the payload limit as JSON: each backslash of the
    # literal block is escaped to two.
    stack = tmp_path / "stack.yaml"
    script = ("\\" * 99 + "\n") * 11_000
    stack.write_text(
        "stack: backslashes\nstate: {backend: postgres, dsn_env: WFCTL_TEST_UNSET_DSN}\n"
        "providers:\n  main: {type: test}\nresources:\n"
        "  - name: vm\n    type: test.thing\n    config:\n      script: |\n"
        + "".join(f"        {line}\n" for line in script.splitlines())
    )
    env = {
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "WFCTL_IAC_TASK_QUEUE": f"nobody-{uuid.uuid4().hex[:8]}",
    }
    result = await asyncio.to_thread(
        CliRunner().invoke, infra_app, ["plan", "-f", str(stack)], env=env
    )
    assert result.exit_code == 1
    assert "Error: stack 'backslashes' is" in result.stderr
    assert f"over Temporal's payload limit of {PAYLOAD_LIMIT} bytes" in result.stderr
    assert "RPCError" not in result.output and "Blob data" not in result.output
