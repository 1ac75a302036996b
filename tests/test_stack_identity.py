"""One stack, one identity, however it is started.

Its state: a relative SQLite `state.path` means the same file to wfctl, to a run started from
the Temporal CLI with the stack as JSON, and to pipeline steps (statestore.factory).
Its workflow id: `stack:<name>` for the locking runs, the `stack:<name>:plan:`/`:status:` forms
for the others; a run under another stack's id fails at once with InvalidInput, before it
touches the lock, the state or the cloud."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities.iac_steps import IacStepRequest, prepare
from tests.iac_wf_support import Stack, iac_worker, start
from tests.test_iac_wf_cli import wfctl

# (workflow type, the id it is started under, the id the message asks for); S is the stack.
WRONG_IDS = [
    ("ApplyWorkflow", "stack:S-prod", "stack:S"),
    ("DestroyWorkflow", "stack:S:destroy:1", "stack:S"),
    ("DriftWorkflow", "S", "stack:S"),
    ("ImportWorkflow", "stack:S-prod", "stack:S"),
    ("PlanWorkflow", "stack:S", "stack:S:plan:<suffix>"),
    ("PlanWorkflow", "stack:S-prod:plan:1", "stack:S:plan:<suffix>"),
    ("StatusWorkflow", "stack:S:plan:1", "stack:S:status:<suffix>"),
]


async def test_a_run_under_another_stacks_id_fails_before_taking_anything(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path).add("a")
    doc = stack.document(auto_approve=True)
    doc["resource"] = {"name": "a", "type": "test.thing", "provider": "main", "id": "x"}
    async with iac_worker(client) as queue:
        for workflow, wrong_form, expected_form in WRONG_IDS:
            wrong = wrong_form.replace("S", stack.name)
            expected = expected_form.replace("S", stack.name)
            run_doc = doc if workflow == "ImportWorkflow" else {
                k: v for k, v in doc.items() if k != "resource"
            }
            handle = await start(client, workflow, queue, run_doc, wrong)
            with pytest.raises(WorkflowFailureError) as failure:
                await handle.result()
            cause = failure.value.cause
            assert isinstance(cause, ApplicationError)
            assert cause.type == "InvalidInput" and cause.non_retryable
            assert cause.message == (
                f'workflow id {wrong} does not match stack "{stack.name}": start it as {expected}'
            ), workflow
            # Nothing ran: no activity (lock, plan, state read) was ever scheduled.
            events = [e.event_type async for e in handle.fetch_history_events()]
            assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in events, workflow
            assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events, workflow
        assert stack.cloud.live() == {}
        # The stack's own id works: the lock was never taken by the refused runs.
        applied = await (await start(client, "ApplyWorkflow", queue, stack.document(
            auto_approve=True))).result()
        assert applied.status == "applied"
        planned = await (await start(client, "PlanWorkflow", queue, stack.document())).result()
        assert planned.counts == {"create": 0, "update": 0, "replace": 0, "delete": 0}


def project_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Stack, Path]:
    """A stack file in a project folder with a relative state path; the processes run from a
    third folder, so neither the file's folder nor the working directory is the state's."""
    stack = Stack(tmp_path).add("net", "test.network", config={"cidr": "10.0.0.0/16"}).add("a")
    doc = stack.document()
    doc["state"] = {"backend": "sqlite", "path": ".data/shop.db"}
    (tmp_path / "project").mkdir()
    path = tmp_path / "project" / "stack.yaml"
    path.write_text(yaml.safe_dump(doc))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return stack, path


def as_temporal_cli_input(path: Path, **options: object) -> dict[str, object]:
    """What README's `python -c 'json.dumps(yaml.safe_load(...))'` makes of the stack file."""
    return {**json.loads(json.dumps(yaml.safe_load(path.read_text()))), **options}


async def test_an_apply_from_the_temporal_cli_is_what_wfctl_reads_and_vice_versa(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, path = project_stack(tmp_path, monkeypatch)
    async with iac_worker(client) as queue:
        document = as_temporal_cli_input(path, auto_approve=True)
        assert document["state"] == {"backend": "sqlite", "path": ".data/shop.db"}
        applied = await (await start(client, "ApplyWorkflow", queue, document)).result()
        assert applied.status == "applied"
        listed = await wfctl(client, queue, "state", "list", "-f", str(path))
        assert listed.exit_code == 0, listed.output
        assert "net" in listed.stdout and "test.network" in listed.stdout, listed.output
        outputs = await wfctl(client, queue, "outputs", "-f", str(path))
        assert "net:" in outputs.stdout and "a:" in outputs.stdout, outputs.output
        state_file = Path(os.environ["WFCTL_STATE_DIR"]) / ".data" / "shop.db"
        assert state_file.exists()

        # Vice versa: what wfctl destroys, a Temporal-CLI plan finds gone from the state.
        destroyed = await wfctl(client, queue, "destroy", "-f", str(path), "--auto-approve")
        assert destroyed.exit_code == 0, destroyed.output
        planned = await (
            await start(client, "PlanWorkflow", queue, as_temporal_cli_input(path))
        ).result()
        assert planned.counts == {"create": 2, "update": 0, "replace": 0, "delete": 0}
        again = await wfctl(client, queue, "apply", "-f", str(path), "--auto-approve")
        assert again.exit_code == 0, again.output
        planned = await (
            await start(client, "PlanWorkflow", queue, as_temporal_cli_input(path))
        ).result()
        assert planned.counts == {"create": 0, "update": 0, "replace": 0, "delete": 0}
    assert not (tmp_path / "project" / ".data").exists()
    assert not (tmp_path / "elsewhere" / ".data").exists()


async def test_an_empty_state_list_says_where_it_looked(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, path = project_stack(tmp_path, monkeypatch)
    listed = await wfctl(client, "unused", "state", "list", "-f", str(path))
    state_file = Path(os.environ["WFCTL_STATE_DIR"]) / ".data" / "shop.db"
    assert listed.exit_code == 0
    said = f"No resources recorded for stack {stack.name!r} in {state_file}"
    assert listed.stderr.strip() == said


def test_pipeline_steps_resolve_a_stack_file_and_an_inline_document_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, path = project_stack(tmp_path, monkeypatch)
    expected = str(Path(os.environ["WFCTL_STATE_DIR"]) / ".data" / "shop.db")
    common = {"pipeline": "p", "step": "s", "source": str(tmp_path / "pipelines.yaml")}
    from_file = prepare(IacStepRequest(**common, folder=str(tmp_path), stack="project/stack.yaml"))
    inline = prepare(IacStepRequest(
        **common, folder="", document=yaml.safe_load(path.read_text())
    ))
    assert from_file["state"]["path"] == inline["state"]["path"] == expected
