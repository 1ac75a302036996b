"""`wfctl infra` end to end: the CLI against the dev server and a worker on a private queue."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml
from click.testing import Result
from temporalio.client import Client
from typer.testing import CliRunner

from tests.iac_wf_support import Stack, iac_worker, start, wait_for_plan
from wfctl.infra_cli import infra_app


def write_stack(tmp_path: Path, stack: Stack) -> Path:
    path = tmp_path / "stack.yaml"
    doc = stack.document()
    doc["state"] = {"backend": "sqlite", "path": "state/state.db"}  # to WFCTL_STATE_DIR
    path.write_text(yaml.safe_dump(doc))
    return path


async def wfctl(client: Client, queue: str, *args: str, input: str | None = None) -> Result:
    env = {
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "WFCTL_IAC_TASK_QUEUE": queue,
    }
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, infra_app, list(args), input=input, env=env)


def lines(result: Result) -> str:
    return result.output


async def test_plan_save_apply_saved_plan_outputs_and_state(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path)
    stack.add("net", "test.network", config={"cidr": "10.0.0.0/16"})
    stack.add("db", "test.database", config={"vpc": "${net.outputs.id}"})
    path = write_stack(tmp_path, stack)
    plan_file = tmp_path / "plan.json"
    async with iac_worker(client) as queue:
        planned = await wfctl(client, queue, "plan", "-f", str(path), "-o", str(plan_file))
        assert planned.exit_code == 0, planned.output
        assert '+ create test.network "net"' in planned.stdout
        assert "Plan: 2 to create, 0 to update, 0 to replace, 0 to destroy." in planned.stdout
        assert "Workflow: stack:" in planned.stderr and "/namespaces/default/workflows/" in (
            planned.stderr
        )
        saved: dict[str, Any] = json.loads(plan_file.read_text())
        assert len(saved["actions"]) == 2

        applied = await wfctl(client, queue, "apply", "-f", str(path), "--plan", str(plan_file))
        assert applied.exit_code == 0, applied.output
        assert "Apply complete! Resources: 2 added, 0 changed" in applied.stdout

        stale = await wfctl(client, queue, "apply", "-f", str(path), "--plan", str(plan_file))
        assert stale.exit_code == 1
        assert "Saved plan is stale:" in stale.stderr

        outputs = await wfctl(client, queue, "outputs", "-f", str(path), "--json")
        assert outputs.exit_code == 0, outputs.output
        values = json.loads(outputs.stdout)
        assert values["db"]["password"] == "(sensitive)"
        assert values["db"]["vpc"] == values["net"]["id"]

        listed = await wfctl(client, queue, "state", "list", "-f", str(path))
        assert "net" in listed.stdout and "test.database" in listed.stdout
        shown = await wfctl(client, queue, "state", "show", "db", "-f", str(path))
        assert json.loads(shown.stdout)["outputs"]["password"] == "(sensitive)"

        status = await wfctl(client, queue, "status", "-f", str(path))
        assert status.exit_code == 0 and "ready" in status.stdout

        stack.cloud.set_config("net", "cidr", "10.9.0.0/16")
        drift = await wfctl(client, queue, "drift", "-f", str(path))
        assert drift.exit_code == 2, drift.output
        assert 'config.cidr: "10.0.0.0/16" -> "10.9.0.0/16"' in drift.stdout

        destroyed = await wfctl(client, queue, "destroy", "-f", str(path), input="yes\n")
        assert destroyed.exit_code == 0, destroyed.output
        assert '- delete test.network "net"' in destroyed.stdout
        assert "Destroy complete! Resources: 2 destroyed." in destroyed.stdout
    assert stack.cloud.live() == {}


async def test_prompted_apply_and_validation_error_reaching_the_cli(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path, fail={"bad": "engine version 99 is not offered"})
    stack.add("good").add("bad").add("after", depends_on=["bad"])
    path = write_stack(tmp_path, stack)
    async with iac_worker(client) as queue:
        declined = await wfctl(client, queue, "apply", "-f", str(path), input="no\n")
        assert declined.exit_code == 1
        assert "Apply cancelled (rejected)" in declined.stdout
        assert stack.cloud.live() == {}

        applied = await wfctl(client, queue, "apply", "-f", str(path), input="yes\n")
        assert applied.exit_code == 1
        assert "ValidationError: engine version 99 is not offered" in applied.stderr
        assert "Skipped (a dependency failed): after" in applied.stderr
        assert "Apply failed. Resources: 1 added" in applied.stdout


async def test_concurrent_apply_names_the_holder_and_unlock_asks(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path)
    stack.add("a")
    path = write_stack(tmp_path, stack)
    async with iac_worker(client) as queue:
        # As the Temporal CLI starts it: the relative path, resolved by the worker.
        holder = await start(client, "ApplyWorkflow", queue, {
            **stack.document(), "state": {"backend": "sqlite", "path": "state/state.db"}
        })
        await wait_for_plan(holder)  # it holds the state lock by then
        busy = await wfctl(client, queue, "apply", "-f", str(path), "--auto-approve")
        assert busy.exit_code == 1
        assert f"stack {stack.name!r} is busy: ApplyWorkflow stack:{stack.name}" in busy.stderr
        assert holder.result_run_id in busy.stderr

        kept = await wfctl(client, queue, "unlock", "-f", str(path), input="n\n")
        assert kept.exit_code == 1 and "Locked by stack:" in kept.stdout
        removed = await wfctl(client, queue, "unlock", "-f", str(path), "--yes")
        assert removed.exit_code == 0 and "Lock removed." in removed.stdout
        await holder.terminate("test over")
