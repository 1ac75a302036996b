"""What a user sees of a run's steps: the web UI's timeline (the activity types and summaries
it reads from history) and `wfctl pipeline show` (rows by step path, with the branches,
items and children they ran in)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory

from tests.golden_histories import HISTORIES
from tests.iac_wf_support import iac_worker
from tests.pipeline_harness import EXAMPLES, running_pipelines
from tests.test_pipeline_approval import waiting_steps
from tests.test_pipeline_cli import WFCTL, run_command
from tests.test_pipeline_iac import StackFile, pipelines
from wfctl.history import TemporalEventRecorder, step_rows

NAMED = """
pipelines:
  named:
    timeout: 1m
    steps:
      - name: check
        type: step.validate
        config: {strategy: required_fields, required_fields: [n]}
      - name: probe
        type: step.db_query
        config: {dsn: "sqlite:///:memory:", query: "SELECT 1 AS one", mode: single}
      - name: fan
        type: step.foreach
        config:
          items: [a, b]
          steps: [{name: note, type: step.log, config: {message: "{{ item }}"}}]
      - name: pause
        type: step.sleep
        timeout: 1m
        config: {duration: 10ms}
  late:
    steps:
      - name: nap
        type: step.sleep
        timeout: 200ms
        config: {duration: 1m}
"""


def summary(event: HistoryEvent, client: Client) -> str:
    if not event.user_metadata.HasField("summary"):
        return ""
    text = client.data_converter.payload_converter.from_payload(event.user_metadata.summary, str)
    return str(text)


def local_activities(history: WorkflowHistory) -> list[tuple[HistoryEvent, dict[str, Any]]]:
    """The local activity markers with the data the UI's timeline labels them by."""
    found = []
    for event in history.events:
        attrs = event.marker_recorded_event_attributes
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and attrs.marker_name == (
            "core_local_activity"
        ):
            found.append((event, json.loads(attrs.details["data"].payloads[0].data)))
    return found


async def test_the_web_ui_timeline_reads_each_steps_name_and_type(client: Client) -> None:
    async with running_pipelines(client, NAMED) as executor:
        handle = await executor.start_pipeline("named", {"n": 1})
        await handle.result()
    history = await handle.fetch_history()
    # The UI labels a local activity by the activity type in its marker's data, nothing else.
    markers = [
        (data["activity_type"], summary(event, client))
        for event, data in local_activities(history)
        if data["activity_type"] != "load_pipeline_definition"
    ]
    assert sorted(markers) == [
        ("check (step.validate)", "check"),
        ("note (step.log)", "fan[0].note"),
        ("note (step.log)", "fan[1].note"),
    ]
    # A regular activity reads "<type> • <summary>" there: the same type, the path after it.
    scheduled = [
        (e.activity_task_scheduled_event_attributes.activity_type.name, summary(e, client))
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled == [("probe (step.db_query)", "probe")]
    # No timer is left as a bare number: the timeouts are named too.
    timers = {
        summary(e, client) for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    }
    assert timers == {
        "timeout of pipeline named after 0:01:00",
        "timeout of step pause after 0:01:00",
        "pause (step.sleep)",
    }
    # A step that produces nothing still has a result that says which step ran, and when.
    check = next(e for e, data in local_activities(history)
                 if data["activity_type"] == "check (step.validate)")
    result = json.loads(check.marker_recorded_event_attributes.details["result"].payloads[0].data)
    assert result["step"] == "check" and result["output"] == {}
    assert datetime.fromisoformat(result["started_at"]) <= datetime.fromisoformat(
        result["finished_at"]
    )


async def test_a_step_timeout_is_a_named_timer_that_fails_the_step(client: Client) -> None:
    async with running_pipelines(client, NAMED) as executor:
        handle = await executor.start_pipeline("late", {})
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert failed.value.cause.message == (  # type: ignore[union-attr]
        'step "nap" failed: timed out after 0:00:00.200000'
    )
    history = await handle.fetch_history()
    fired = {e.timer_fired_event_attributes.started_event_id for e in history.events
             if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED}
    assert [summary(e, client) for e in history.events if e.event_id in fired] == [
        "timeout of step nap after 0:00:00.200000"
    ]


def table_rows(text: str) -> list[list[str]]:
    """The body rows of a rich table, cell by cell."""
    rows = []
    for line in text.splitlines():
        if line.startswith(("│", "┃")):
            rows.append([cell.strip() for cell in re.split("[│┃]", line.strip("│┃"))])
    return rows


async def test_pipeline_show_lists_branches_items_and_children(client: Client) -> None:
    address = client.service_client.config.target_host
    async with running_pipelines(client, EXAMPLES / "release-train.yaml") as executor:
        data = {"version": "2.4.0", "services": ["api", "web", "worker"], "rollout": "10ms"}
        handle = await executor.start_pipeline("release-train", data, run="shown")
        await waiting_steps(executor, handle.id)
        await executor.approve(handle.id, "ada", "ship it")
        await handle.result()
    code, out, err = await run_command(
        *WFCTL, "--address", address, "pipeline", "show", handle.id, env={"COLUMNS": "250"}
    )
    assert code == 0, err
    rows = table_rows(out)
    assert rows[0] == ["step", "type", "status", "attempts", "duration"]
    shown = [(path, kind, status, attempts) for path, kind, status, attempts, _ in rows[1:]]
    # The two branches run side by side: either may be listed first.
    assert shown[0] == ("checks", "step.parallel", "completed", "")
    assert sorted(shown[1:5]) == [
        ("checks.inputs", "branch", "completed", ""),
        ("checks.inputs.required", "step.validate", "completed", "1"),
        ("checks.notes", "branch", "completed", ""),
        ("checks.notes.notes", "step.set", "completed", "1"),
    ]
    assert shown[5:] == [
        ("go-no-go", "step.wait_for_approval", "approved", "1"),
        ("deploy", "step.foreach", "completed", ""),
        ("deploy[0]", "item", "completed", ""),
        ("deploy[0].deploy-service", "step.call_pipeline deploy-service", "completed", "1"),
        ("deploy[1]", "item", "completed", ""),
        ("deploy[1].deploy-service", "step.call_pipeline deploy-service", "completed", "1"),
        ("deploy[2]", "item", "completed", ""),
        ("deploy[2].deploy-service", "step.call_pipeline deploy-service", "completed", "1"),
        ("summary", "step.pipeline_output", "completed", "1"),
    ]
    # Which child each call ran, whole, under the table: the id `pipeline show` takes.
    assert out.splitlines()[-3:] == [
        f"deploy[{i}].deploy-service -> pipeline:deploy-service:shown.deploy[{i}].deploy-service"
        for i in range(3)
    ]
    durations = [row[4] for row in rows[1:] if row[4]]
    assert durations and all(re.fullmatch(r"\d+ ms|\d+\.\d s", d) for d in durations), durations
    # Each item spans its child, so it lasts at least the child's rollout pause.
    items = [row for row in rows[1:] if row[1] == "item"]
    assert all(int(row[4].removesuffix(" ms")) >= 10 for row in items), items


IAC = """
pipelines:
  ship:
    steps:
      - name: apply
        type: step.iac_apply
        config: {stack: stacks/app.yaml}
      - name: outs
        type: step.iac_outputs
        config: {stack: stacks/app.yaml}
"""


async def test_pipeline_show_has_a_row_for_every_iac_step(client: Client, tmp_path: Path) -> None:
    stack = StackFile(tmp_path)
    async with iac_worker(client) as queue, running_pipelines(
        client, pipelines(tmp_path, IAC), queue
    ) as runs:
        handle = await runs.start_pipeline("ship")
        await handle.result()
    rows = await TemporalEventRecorder(client).rows(handle.id)
    assert [(r.path, r.type, r.kind, r.status, r.workflow_id) for r in rows] == [
        ("apply", f"step.iac_apply stack {stack.name}", "child", "completed",
         f"stack:{stack.name}"),
        ("outs", f"step.iac_outputs stack {stack.name}", "activity", "completed", ""),
    ]


async def test_a_run_from_before_the_step_names_still_shows_without_negative_durations(
    client: Client,
) -> None:
    recorded = json.loads((HISTORIES / "release.json").read_text())
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    rows = step_rows(history, client)
    assert [(r.path, r.type) for r in rows] == [
        ("plan", "step.set"), ("plan", "step.set"), ("plan", "step.set"),
        ("probe", "step.db_query"), ("lint", "step.set"),
        ("child", "step.call_pipeline"), ("gate", "step.wait_for_approval"),
        ("settle", "step.sleep"), ("done", "step.pipeline_output"),
    ]
    assert all(r.duration_seconds is None or r.duration_seconds >= 0 for r in rows)
