"""What the web UI shows of a stack run: every activity row has a result that says what it
did, and every activity, timer and marker row a summary, including the lock's own rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.iac_wf_support import Stack, iac_worker, start, wait_for_plan
from tests.pipeline_harness import running_pipelines
from tests.test_pipeline_iac import APPLY_ONLY, StackFile, pipelines
from worker import workflow_runner
from workflows.iac import IAC_WORKFLOWS

LABELLED = (
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_MARKER_RECORDED,
)


def summary(event: HistoryEvent) -> str:
    if not event.user_metadata.HasField("summary"):
        return ""
    return str(pydantic_data_converter.payload_converter.from_payload(event.user_metadata.summary))


def unlabelled(history: WorkflowHistory) -> list[tuple[str, int]]:
    """The rows the web UI would show without a summary. A patch marker is left out: the SDK
    gives `workflow.patched` no summary, and the UI names it by its patch id."""
    return [
        (EventType.Name(e.event_type), e.event_id)
        for e in history.events
        if e.event_type in LABELLED
        and e.marker_recorded_event_attributes.marker_name != "core_patch"
        and not summary(e)
    ]


def results(history: WorkflowHistory) -> dict[str, list[Any]]:
    """Each activity type's decoded results, None for a null one, in history order."""
    types = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    found: dict[str, list[Any]] = {}
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            continue
        attrs = event.activity_task_completed_event_attributes
        payloads = attrs.result.payloads
        value = (
            pydantic_data_converter.payload_converter.from_payload(payloads[0])
            if payloads
            else None
        )
        found.setdefault(types[attrs.scheduled_event_id], []).append(value)
    return found


def as_before_the_labels(history: WorkflowHistory) -> WorkflowHistory:
    """The same run as a worker before these labels recorded it: the lock activities'
    results null, the timers without a summary."""
    events = []
    lock_ids = {
        e.event_id
        for e in history.events
        if e.activity_task_scheduled_event_attributes.activity_type.name
        in ("lock_state", "unlock_state")
    }
    for original in history.events:
        event = HistoryEvent()
        event.CopyFrom(original)
        attrs = event.activity_task_completed_event_attributes
        if attrs.scheduled_event_id in lock_ids:
            del attrs.result.payloads[:]
            attrs.result.payloads.append(Payload(metadata={"encoding": b"binary/null"}))
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            event.ClearField("user_metadata")
        events.append(event)
    return WorkflowHistory(history.workflow_id, events)


async def test_every_row_of_an_apply_has_a_label_and_a_result(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path)
    stack.add("net", "test.network", config={"cidr": "10.0.0.0/16"})
    stack.add("app", config={"net": "${net.outputs.id}"})
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document(lock_ttl=90))
        plan = await wait_for_plan(handle)
        await handle.execute_update("approve", plan.plan_id)
        assert (await handle.result()).status == "applied"
    history = await handle.fetch_history()

    assert unlabelled(history) == []
    timers = {summary(e) for e in history.events
              if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED}  # fmt: skip
    assert timers == {
        f"hold lock of {stack.name}: renew in 30s",
        f"approval of stack {stack.name} (times out after 3600s)",
    }

    done = results(history)
    assert [k for k, values in done.items() if None in values] == []
    assert sorted(done) == ["apply_action", "lock_state", "plan_stack", "unlock_state"]
    (held,) = done["lock_state"]
    assert held["stack"] == stack.name and held["taken_over_from"] == ""
    assert held["holder"] == f"stack:{stack.name}@{handle.first_execution_run_id}"
    started = history.events[0].event_time.ToDatetime(tzinfo=UTC)
    assert datetime.fromisoformat(held["expires_at"]) > started
    assert done["unlock_state"] == [
        {"stack": stack.name, "holder": held["holder"], "released": True}
    ]

    # A run recorded before the lock results existed replays on today's workflow.
    old = as_before_the_labels(history)
    assert None in results(old)["lock_state"]
    replayer = Replayer(
        workflows=IAC_WORKFLOWS,
        workflow_runner=workflow_runner(),
        data_converter=pydantic_data_converter,
    )
    await replayer.replay_workflow(old)


async def test_a_pipelines_apply_step_and_its_stack_run_are_labelled_throughout(
    client: Client, tmp_path: Path
) -> None:
    stack = StackFile(tmp_path)
    async with iac_worker(client) as queue, running_pipelines(
        client, pipelines(tmp_path, APPLY_ONLY), queue
    ) as runs:
        handle = await runs.start_pipeline("deploy")
        await handle.result()
    parent = await handle.fetch_history()
    child = await client.get_workflow_handle(f"stack:{stack.name}").fetch_history()
    for history in (parent, child):
        assert unlabelled(history) == []
        assert [k for k, values in results(history).items() if None in values] == []
    markers = {e.marker_recorded_event_attributes.marker_name for e in parent.events}
    assert "core_local_activity" in markers  # the pipeline's local activities were checked
    assert results(child)["unlock_state"][0]["released"] is True


async def test_a_lock_taken_over_from_an_ended_run_says_whose_it_was(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path)
    stack.add("a")
    async with iac_worker(client) as queue:
        waiting = await start(client, "ApplyWorkflow", queue, stack.document())
        await wait_for_plan(waiting)
        await waiting.terminate("operator gave up")
        again = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await again.result()).status == "applied"
    (held,) = results(await again.fetch_history())["lock_state"]
    assert held["taken_over_from"] == f"stack:{stack.name}@{waiting.first_execution_run_id}"
    assert held["holder"] == f"stack:{stack.name}@{again.first_execution_run_id}"
