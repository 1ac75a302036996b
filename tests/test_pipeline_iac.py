"""IaC steps in pipelines: plan -> apply of that plan, the shared stack lock, cancellation,
outputs, and what stays secret. A real dev server, the pipeline worker and an IaC worker on
the same client, the test provider's fake cloud."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError

from activities.iac_steps import bounded_summary
from statestore import open_state_store
from tests.conftest import temporal_binary
from tests.iac_test_provider import TestCloud
from tests.iac_wf_support import iac_worker, start, wait_for_phase
from tests.pipeline_harness import running_pipelines
from tests.test_pipeline_replay import replayer
from wfctl.stack_client import StackBusyError, StackClient, load_document

ROOT = Path(__file__).resolve().parent.parent


class StackFile:
    """A stack file next to a pipelines file, both in one folder; state path relative."""

    def __init__(self, folder: Path, latency: float = 0.0, things: int = 0) -> None:
        self.name = f"p-{uuid.uuid4().hex[:10]}"
        self.folder = folder
        (folder / "stacks").mkdir(exist_ok=True)
        self.cloud = TestCloud(folder / f"{self.name}-cloud.db")
        self.path = folder / "stacks" / "app.yaml"
        extra = "".join(
            f"  - {{name: t{i}, type: test.thing, provider: main, config: {{size: 1}}}}\n"
            for i in range(things)
        )
        self.path.write_text(
            f"stack: {self.name}\n"
            "state: {backend: sqlite, path: state.db}\n"
            f"providers:\n  main: {{type: test, cloud: '{self.cloud.path}', latency: {latency}}}\n"
            "resources:\n"
            "  - {name: net, type: test.network, provider: main, config: {cidr: 10.0.0.0/16}}\n"
            "  - {name: db, type: test.database, provider: main, config: {engine: pg},"
            " depends_on: [net]}\n" + extra
        )

    def document(self, **options: Any) -> dict[str, Any]:
        return {**load_document(self.path), **options}

    def state(self) -> dict[str, str]:
        store = open_state_store(self.document()["state"], self.name)
        try:
            return {s.name: s.provider_id for s in store.list_resources()}
        finally:
            store.close()

    def lock(self) -> Any:
        store = open_state_store(self.document()["state"], self.name)
        try:
            return store.lock_info()  # type: ignore[attr-defined]
        finally:
            store.close()


def recorded_outputs(stack: StackFile) -> dict[str, Any]:
    store = open_state_store(stack.document()["state"], stack.name)
    try:
        return {s.name: s.outputs for s in store.list_resources()}
    finally:
        store.close()


def pipelines(folder: Path, text: str) -> Path:
    path = folder / "pipelines.yaml"
    path.write_text(text)
    return path


RELEASE = """
pipelines:
  release:
    steps:
      - name: plan
        type: step.iac_plan
        config: {stack: stacks/app.yaml}
      - name: gate
        type: step.wait_for_approval
        if: "{{ gated | default(false) }}"
      - name: apply
        type: step.iac_apply
        config: {stack: stacks/app.yaml, plan: "{{ steps.plan.plan_id }}"}
      - name: use
        type: step.set
        config: {values: {endpoint: "{{ steps.apply.resources.db.endpoint }}"}}
      - name: outs
        type: step.iac_outputs
        config: {stack: stacks/app.yaml}
"""


def payload_text(node: Any) -> str:
    """Every payload of a history (JSON form) decoded, one per line."""
    if isinstance(node, dict):
        if "data" in node and "metadata" in node:
            return base64.b64decode(node["data"]).decode(errors="replace") + "\n"
        return "".join(payload_text(value) for value in node.values())
    if isinstance(node, list):
        return "".join(payload_text(value) for value in node)
    return ""


async def shown_history(client: Client, workflow_id: str) -> str:
    """`temporal workflow show --output json` of a run, its payloads decoded."""
    command = [temporal_binary(), "workflow", "show", "--workflow-id", workflow_id,
               "--output", "json", "--address", client.service_client.config.target_host]
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + payload_text(json.loads(done.stdout))


def failure_of(error: WorkflowFailureError) -> str:
    cause = error.cause
    assert isinstance(cause, ApplicationError)
    return cause.message


async def test_plan_then_apply_of_that_plan_creates_once_and_outputs_flow_but_never_secrets(
    client: Client, tmp_path: Path
) -> None:
    stack = StackFile(tmp_path)
    async with iac_worker(client) as queue, running_pipelines(
        client, pipelines(tmp_path, RELEASE), queue
    ) as runs:
        handle = await runs.start_pipeline("release")
        result = await handle.result()
        history = await shown_history(client, handle.id)
        await replayer().replay_workflow(await handle.fetch_history())
    assert result["has_changes"] is True
    assert result["counts"] == {"create": 2, "update": 0, "replace": 0, "delete": 0}
    assert "Plan: 2 to create, 0 to update, 0 to replace, 0 to destroy." in result["summary"]
    assert {a["name"]: a["action"] for a in result["actions"]} == {"net": "create", "db": "create"}
    assert result["status"] == "applied" and result["plan_id"]
    assert result["endpoint"] == "db.db.test:5432"
    assert result["outputs"]["db"]["endpoint"] == "db.db.test:5432"
    assert "password" not in result["outputs"]["db"]
    assert "password" not in result["resources"]["db"]
    assert stack.cloud.fresh_creates() == {"net": 1, "db": 1}
    # The secret is recorded in the state, and nowhere in the pipeline's result or history.
    secret = f"pw-{stack.cloud.live()['db']['provider_id']}"
    assert stack.cloud.live()["db"]["provider_id"] and secret in json.dumps(recorded_outputs(stack))
    assert secret not in json.dumps(result) and secret not in history
    assert "db.db.test:5432" in history  # the decoding works: a plain output is there
    assert f"plan (step.iac_plan stack {stack.name})" in history
    assert f"apply (step.iac_apply stack {stack.name})" in history


async def test_a_state_change_between_plan_and_approval_makes_the_apply_stale(
    client: Client, tmp_path: Path
) -> None:
    stack = StackFile(tmp_path)
    async with iac_worker(client) as queue, running_pipelines(
        client, pipelines(tmp_path, RELEASE), queue
    ) as runs:
        handle = await runs.start_pipeline("release", {"gated": True})
        for _ in range(400):
            if await runs.pending_approvals(handle.id):
                break
            await asyncio.sleep(0.05)
        # A wfctl apply of part of the stack moves its state on while the plan waits.
        direct = await start(
            client, "ApplyWorkflow", queue, stack.document(auto_approve=True, targets=["net"])
        )
        assert (await direct.result()).status == "applied"
        await runs.approve(handle.id, "alice")
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    message = failure_of(failure.value)
    assert 'step "apply" failed' in message and "stale" in message
    assert re.search(r"\(serial 0, now [1-9]\d*\)", message), message
    assert stack.cloud.fresh_creates() == {"net": 1}


APPLY_ONLY = """
pipelines:
  deploy:
    steps:
      - name: apply
        type: step.iac_apply
        config: {stack: stacks/app.yaml, parallelism: 2}
"""


async def test_a_wfctl_apply_and_a_pipeline_apply_exclude_each_other(
    client: Client, tmp_path: Path
) -> None:
    stack = StackFile(tmp_path, latency=0.4, things=4)
    async with iac_worker(client) as queue, running_pipelines(
        client, pipelines(tmp_path, APPLY_ONLY), queue
    ) as runs:
        direct = await start(
            client, "ApplyWorkflow", queue, stack.document(auto_approve=True, parallelism=1)
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await runs.execute_pipeline("deploy")
        message = failure_of(failure.value)
        assert f'stack "{stack.name}" is busy: workflow stack:{stack.name} holds it' in message
        assert (await direct.result()).status == "applied"

        # And the other way round: the pipeline's apply holds the stack.
        stack.cloud.remove("t3")
        handle = await runs.start_pipeline("deploy")
        child = client.get_workflow_handle(f"stack:{stack.name}")
        await wait_for_phase(child, "apply")
        with pytest.raises(StackBusyError) as busy:
            await StackClient(client, queue).apply(stack.document(), auto_approve=True)
        assert f"ApplyWorkflow stack:{stack.name}" in str(busy.value)
        result = await handle.result()
    assert result["status"] == "applied" and result["counts"]["create"] == 1
    assert stack.cloud.fresh_creates() == {"net": 1, "db": 1, "t0": 1, "t1": 1, "t2": 1, "t3": 2}


async def test_cancelling_the_pipeline_mid_apply_releases_the_lock_and_records_the_cloud(
    client: Client, tmp_path: Path
) -> None:
    stack = StackFile(tmp_path, latency=0.5, things=6)
    async with iac_worker(client) as queue, running_pipelines(
        client, pipelines(tmp_path, APPLY_ONLY), queue
    ) as runs:
        handle = await runs.start_pipeline("deploy")
        while len(stack.cloud.calls("create")) < 3:
            await asyncio.sleep(0.05)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        assert isinstance(failure.value.cause, CancelledError)
        child = client.get_workflow_handle(f"stack:{stack.name}")
        assert (await child.describe()).status.name == "CANCELED"
        assert stack.lock() is None
        live = {name: v["provider_id"] for name, v in stack.cloud.live().items()}
        recorded = stack.state()
        # Every resource made is recorded (a create cut short is at least a pending entry).
        assert set(live) <= set(recorded)
        assert {n: recorded[n] for n in live if recorded[n]} == {
            n: p for n, p in live.items() if recorded[n]
        }
        # The next run finishes the job without making anything twice.
        assert (await runs.execute_pipeline("deploy"))["status"] == "applied"
    names = ["net", "db", *(f"t{i}" for i in range(6))]
    assert stack.cloud.fresh_creates() == {n: 1 for n in names}


async def test_an_apply_cancelled_by_an_operator_fails_the_step_instead_of_passing(
    client: Client, tmp_path: Path
) -> None:
    stack = StackFile(tmp_path, latency=0.5, things=6)
    async with iac_worker(client) as queue, running_pipelines(
        client, pipelines(tmp_path, APPLY_ONLY), queue
    ) as runs:
        handle = await runs.start_pipeline("deploy")
        while len(stack.cloud.calls("create")) < 3:
            await asyncio.sleep(0.05)
        await StackClient(client, queue).cancel(stack.name, by="ada")
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert f'apply of stack "{stack.name}" cancelled: cancelled by ada' in failure_of(
        failure.value
    )
    assert stack.lock() is None


BAD_INPUT = """
pipelines:
  bad:
    steps:
      - name: first
        type: step.iac_plan
        config: {stack: stacks/app.yaml}
      - name: broken
        type: {kind}
        config: {config}
"""


@pytest.mark.parametrize(
    ("kind", "config", "expected"),
    [
        ("step.iac_plan", "{stack: stacks/missing.yaml}", "stacks/missing.yaml"),
        ("step.iac_plan", "{stack: stacks/invalid.yaml}",
         'stacks/invalid.yaml: resource "x": confg: unknown field'),
        ("step.iac_destroy", "{stack: stacks/app.yaml, targets: [net, nope]}",
         "has no resource 'nope' (targets)"),
        ("step.iac_apply", "{stack: stacks/app.yaml, plan: not-a-plan}",
         "plan 'not-a-plan' is not a saved plan of stack"),
        ("step.iac_apply", "{stack: stacks/other.yaml, plan: '{{ steps.first.plan_id }}'}",
         "is not a saved plan of stack"),
        ("step.iac_apply", "{document: {stack: x, providers: {}, resources: [{name: a}]}}",
         "document: resource"),
        ("step.iac_apply",
         "{stack: stacks/app.yaml, plan: '{{ steps.first.nothing | default(\"\") }}'}",
         "plan rendered to an empty value"),
    ],
)
async def test_bad_input_names_pipeline_step_and_file_and_changes_nothing(
    client: Client, tmp_path: Path, kind: str, config: str, expected: str
) -> None:
    stack = StackFile(tmp_path)
    (tmp_path / "stacks" / "invalid.yaml").write_text(
        "stack: bad\nproviders: {main: {type: test}}\nresources:\n"
        "  - {name: x, type: test.thing, provider: main, confg: {}}\n"
    )
    other = stack.path.read_text().replace(stack.name, "other-" + stack.name)
    (tmp_path / "stacks" / "other.yaml").write_text(
        other.replace("path: state.db", "path: other.db")
    )
    path = pipelines(tmp_path, BAD_INPUT.replace("{kind}", kind).replace("{config}", config))
    async with iac_worker(client) as queue, running_pipelines(client, path, queue) as runs:
        with pytest.raises(WorkflowFailureError) as failure:
            await runs.execute_pipeline("bad")
    message = failure_of(failure.value)
    assert f'{path}: pipeline "bad": step "broken": ' in message, message
    assert expected in message, message
    assert stack.cloud.calls("create") == []


async def test_an_apply_pointed_at_a_plan_of_another_stack_in_the_same_store_is_refused(
    client: Client, tmp_path: Path
) -> None:
    stack = StackFile(tmp_path)
    other = stack.path.read_text().replace(f"stack: {stack.name}", f"stack: o{stack.name}")
    (tmp_path / "stacks" / "other.yaml").write_text(other)
    text = """
pipelines:
  cross:
    steps:
      - name: plan
        type: step.iac_plan
        config: {stack: stacks/other.yaml}
      - name: apply
        type: step.iac_apply
        config: {stack: stacks/app.yaml, plan: "{{ steps.plan.plan_id }}"}
"""
    path = pipelines(tmp_path, text)
    async with iac_worker(client) as queue, running_pipelines(client, path, queue) as runs:
        with pytest.raises(WorkflowFailureError) as failure:
            await runs.execute_pipeline("cross")
    message = failure_of(failure.value)
    assert 'pipeline "cross": step "apply": plan ' in message, message
    assert f'is not a saved plan of stack "{stack.name}" (a plan of another stack' in message
    assert stack.cloud.calls("create") == []


def test_wfctl_validate_and_schema_know_the_iac_steps(tmp_path: Path) -> None:
    good = pipelines(tmp_path, RELEASE)
    done = subprocess.run([sys.executable, "-m", "wfctl", "validate", str(good)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipelines:\n  p:\n    steps:\n      - name: a\n"
                   "        type: step.iac_drift_detect\n"
                   "        config: {stack: s.yaml, document: {stack: s}}\n")
    done = subprocess.run([sys.executable, "-m", "wfctl", "validate", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert 'pipeline "p": step "a"' in done.stderr
    assert "exactly one of `stack` (a stack file) or `document`" in done.stderr
    done = subprocess.run([sys.executable, "-m", "wfctl", "schema", "pipeline"],
                          capture_output=True, text=True, timeout=60)
    schema = json.loads(done.stdout)
    apply = schema["$defs"]["IacApplyConfig"]["properties"]
    assert {"stack", "document", "targets", "parallelism", "rollback", "allow_replace",
            "plan"} <= set(apply)
    steps = json.dumps(schema)
    for name in ("iac_plan", "iac_apply", "iac_destroy", "iac_drift", "iac_drift_detect",
                 "iac_status", "iac_outputs"):
        assert f'"step.{name}"' in steps


def spawn_worker(address: str, config: Path, pipeline_queue: str, iac_queue: str) -> Any:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.pipeline_worker_process", address, str(config),
         pipeline_queue, iac_queue],
        cwd=ROOT,
        env={**os.environ, "WFCTL_PROVIDER_MODULES": "tests.iac_test_provider"},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


INSPECT = """
pipelines:
  deploy:
    steps:
      - name: apply
        type: step.iac_apply
        config: {stack: "{{ stack_file }}", targets: "{{ only }}"}
  inspect:
    steps:
      - name: drift
        type: step.iac_drift_detect
        config: {stack: stacks/app.yaml}
      - name: status
        type: step.iac_status
        config: {stack: stacks/app.yaml}
      - name: destroy
        type: step.iac_destroy
        config: {stack: stacks/app.yaml, targets: [t0, t1]}
      - name: seen
        type: step.set
        config:
          values: {drift: "{{ steps.drift.resources }}", live: "{{ steps.status.resources }}"}
"""


async def test_drift_status_and_destroy_steps_report_what_the_cloud_has(
    client: Client, tmp_path: Path
) -> None:
    stack = StackFile(tmp_path, things=2)
    async with iac_worker(client) as queue, running_pipelines(
        client, pipelines(tmp_path, INSPECT), queue
    ) as runs:
        # Templates choose the stack file and the targets.
        deployed = await runs.execute_pipeline(
            "deploy", {"stack_file": "stacks/app.yaml", "only": ["t0", "t1"]}
        )
        assert deployed["counts"]["create"] == 2 and set(stack.cloud.live()) == {"t0", "t1"}
        stack.cloud.set_config("t0", "size", 2)
        stack.cloud.remove("t1")
        handle = await runs.start_pipeline("inspect")
        result = await handle.result()
        history = await handle.fetch_history()
    assert result["drifted"] is True
    drift = {r["name"]: r for r in result["drift"]}
    assert drift["t0"]["ghost"] is False and drift["t0"]["fields"] == ["config.size"]
    assert drift["t1"] == {"name": "t1", "fields": [], "ghost": True}
    assert {r["name"]: r["status"] for r in result["live"]} == {"t0": "ready", "t1": "deleted"}
    assert sorted(result["destroyed"]) == ["t0", "t1"], result
    assert result["status"] == "applied" and result["errors"] == []
    assert stack.cloud.live() == {} and stack.state() == {}
    await replayer().replay_workflow(history)


RETRIED = """
pipelines:
  patient:
    steps:
      - name: apply
        type: step.iac_apply
        retry: {max_attempts: 100, initial_interval: 0.2s, backoff: 1.0}
        config: {stack: stacks/app.yaml}
  careless:
    steps:
      - name: apply
        type: step.iac_apply
        on_error: continue
        config: {stack: stacks/app.yaml}
"""


async def test_a_busy_stack_obeys_the_steps_retry_and_on_error(
    client: Client, tmp_path: Path
) -> None:
    stack = StackFile(tmp_path, latency=0.3, things=3)
    async with iac_worker(client) as queue, running_pipelines(
        client, pipelines(tmp_path, RETRIED), queue
    ) as runs:
        direct = await start(
            client, "ApplyWorkflow", queue, stack.document(auto_approve=True, parallelism=1)
        )
        careless = await runs.execute_pipeline("careless")
        assert f"workflow stack:{stack.name} holds it" in careless["_error"]
        patient = await runs.start_pipeline("patient")
        assert (await direct.result()).status == "applied"
        # Retried until the wfctl apply let go; by then there is nothing left to do.
        assert (await patient.result())["status"] == "no_changes"
        refused = [
            event for event in (await patient.fetch_history()).events
            if event.HasField("start_child_workflow_execution_failed_event_attributes")
        ]
        assert refused, "the patient pipeline never found the stack busy"
    assert stack.cloud.fresh_creates() == {n: 1 for n in ["net", "db", "t0", "t1", "t2"]}


def test_a_huge_plan_summary_keeps_its_head_and_its_plan_line() -> None:
    lines = [f"  + test.thing r{i}" for i in range(5000)]
    text = "\n".join([*lines, "", "Plan: 5000 to create, 0 to update, 0 to replace, 0 to destroy."])
    cut = bounded_summary(text, limit=1000)
    assert len(cut) < 1200 and cut.startswith("  + test.thing r0\n")
    assert cut.endswith("\nPlan: 5000 to create, 0 to update, 0 to replace, 0 to destroy.")
    shown = cut.count("test.thing")
    assert f"... ({5001 - shown} more lines: `wfctl infra plan` shows them all)" in cut
    assert bounded_summary("No changes.") == "No changes."
