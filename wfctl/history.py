"""The step timeline of a pipeline run, read back from its Temporal history.

This is the project's EventRecorder: Temporal's history is the only store of execution
events. I/O steps are activity events; pure steps are local-activity markers; sleeps and
retry waits are timers; call_pipeline is a child workflow. All carry the summary
"<step> (<type>)" the workflow gave them. Approval decisions are the completed `approve` and
`reject` Updates.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory

from wfctl.codec import decode_payloads_in

LOCAL_ACTIVITY_MARKER = "core_local_activity"
STEP_ACTIVITY = "run_step"


class StepEvent(BaseModel):
    step: str
    type: str
    kind: str  # "activity", "local", "timer", "child" or "approval"
    # scheduled | running | started | completed | failed | timed_out | canceled | terminated,
    # and for approvals: approved | rejected
    status: str
    attempts: int = 1
    started_at: datetime | None = None
    duration_seconds: float | None = None
    error: str = ""


def _summary(event: HistoryEvent, client: Client) -> str:
    if not event.HasField("user_metadata") or not event.user_metadata.HasField("summary"):
        return ""
    value = client.data_converter.payload_converter.from_payload(event.user_metadata.summary, str)
    return value if isinstance(value, str) else ""


def _split_summary(summary: str) -> tuple[str, str]:
    """`check (step.validate)` -> ("check", "step.validate")."""
    name, sep, rest = summary.rpartition(" (")
    if not sep or not rest.endswith(")"):
        return summary, ""
    return name, rest[:-1]


def _failure_message(failure: Failure) -> str:
    # An activity failure wraps the step's own error; the innermost message says most.
    messages = []
    node: Failure | None = failure
    while node is not None and node.message:
        messages.append(node.message)
        node = node.cause if node.HasField("cause") else None
    return messages[-1] if messages else ""


def _has_failure(attrs: Any) -> bool:
    # Canceled activities and failed child starts carry no `failure` field at all.
    return "failure" in attrs.DESCRIPTOR.fields_by_name and attrs.HasField("failure")


def _time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime().replace(tzinfo=None)


def _local_marker(event: HistoryEvent) -> dict[str, Any] | None:
    attrs = event.marker_recorded_event_attributes
    if attrs.marker_name != LOCAL_ACTIVITY_MARKER:
        return None
    data_payloads = attrs.details.get("data")
    if data_payloads is None or not data_payloads.payloads:
        return None
    data: dict[str, Any] = json.loads(data_payloads.payloads[0].data or b"{}")
    return data


def _local_step(
    event: HistoryEvent, data: dict[str, Any], started: datetime | None, client: Client
) -> StepEvent:
    """A pure step's marker. The marker's own schedule time is not usable (it can be later
    than its completion), so a local step's duration runs from the previous local completion
    in the same workflow task, or from the task's start: exact for steps in a row."""
    attrs = event.marker_recorded_event_attributes
    step, step_type = _split_summary(_summary(event, client))
    ended = _marker_time(data.get("complete_time")) or _time(event)
    failed = attrs.HasField("failure")
    return StepEvent(
        step=step,
        type=step_type,
        kind="local",
        status="failed" if failed else "completed",
        attempts=int(data.get("attempt") or 1),
        started_at=started,
        duration_seconds=(ended - started).total_seconds() if started else None,
        error=_failure_message(attrs.failure) if failed else "",
    )


def _marker_time(value: Any) -> datetime | None:
    """Marker data stores protobuf timestamps as {"seconds": s, "nanos": n} or as text."""
    if isinstance(value, dict) and "seconds" in value:
        seconds = float(value["seconds"]) + float(value.get("nanos", 0)) / 1e9
        return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    return None


def step_timeline(history: WorkflowHistory, client: Client) -> list[StepEvent]:
    """Every step execution of the run, in the order it was scheduled."""
    timeline: list[StepEvent] = []
    by_scheduled_id: dict[int, StepEvent] = {}
    scheduled_at: dict[int, datetime] = {}
    opened: dict[int, StepEvent] = {}  # timers and children by their opening event id
    update_names: dict[str, str] = {}
    local_reference: datetime | None = None
    for event in history.events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            local_reference = _time(event)
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            if (data := _local_marker(event)) is None:
                continue
            if data.get("activity_type") == STEP_ACTIVITY:
                timeline.append(_local_step(event, data, local_reference, client))
            local_reference = _marker_time(data.get("complete_time")) or local_reference
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name != STEP_ACTIVITY:
                continue
            step, step_type = _split_summary(_summary(event, client))
            entry = StepEvent(
                step=step, type=step_type, kind="activity", status="scheduled",
                started_at=_time(event),
            )
            by_scheduled_id[event.event_id] = entry
            scheduled_at[event.event_id] = _time(event)
            timeline.append(entry)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if (entry := by_scheduled_id.get(started.scheduled_event_id)) is not None:
                entry.status = "running"
                entry.attempts = started.attempt or 1
        elif (entry := _timer_or_child(event, client, opened)) is not None:
            timeline.append(entry)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            attrs = event.workflow_execution_update_accepted_event_attributes
            update_names[attrs.protocol_instance_id] = attrs.accepted_request.input.name
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            if (decision := _approval(event, client, update_names)) is not None:
                timeline.append(decision)
        else:
            _close_activity(event, by_scheduled_id, scheduled_at)
            _close_timer_or_child(event, opened, timeline)
    return timeline


APPROVAL_UPDATES = ("approve", "reject")
_APPROVAL_STEP = "step.wait_for_approval"


def _timer_or_child(
    event: HistoryEvent, client: Client, opened: dict[int, StepEvent]
) -> StepEvent | None:
    """A sleep, retry wait, approval deadline or call_pipeline child, opened by this event."""
    if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
        kind = "timer"
    elif event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        kind = "child"
    else:
        return None
    step, step_type = _split_summary(_summary(event, client))
    if not step_type:
        return None  # not a step's (a pipeline timeout, a step timeout)
    entry = StepEvent(
        step=step, type=step_type, kind=kind,
        status="running" if kind == "timer" else "scheduled", started_at=_time(event),
    )
    opened[event.event_id] = entry
    # An approval deadline is listed only if it passes; a decision is listed by its Update.
    return None if step_type == _APPROVAL_STEP else entry


_TIMER_CLOSE = {
    EventType.EVENT_TYPE_TIMER_FIRED: "completed",
    EventType.EVENT_TYPE_TIMER_CANCELED: "canceled",
}
_CHILD_CLOSE = {
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: "started",
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: "completed",
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED: "failed",
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED: "canceled",
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT: "timed_out",
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED: "terminated",
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED: "failed",
}


def _attributes(event: HistoryEvent) -> Any:
    """`timer_fired_event_attributes` and the like, by the event's type."""
    name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()
    return getattr(event, f"{name}_event_attributes")


def _close_timer_or_child(
    event: HistoryEvent, opened: dict[int, StepEvent], timeline: list[StepEvent]
) -> None:
    if (status := _TIMER_CLOSE.get(event.event_type)) is not None:
        attrs = _attributes(event)
        opener = attrs.started_event_id
    elif (status := _CHILD_CLOSE.get(event.event_type)) is not None:
        attrs = _attributes(event)
        opener = attrs.initiated_event_id
    else:
        return
    entry = opened.get(opener)
    if entry is None:
        return
    if entry.type == _APPROVAL_STEP:
        if status == "completed":  # the deadline passed without a decision
            entry.status = "timed_out"
            timeline.append(entry)
        return
    entry.status = status
    if status != "started" and entry.started_at is not None:
        entry.duration_seconds = (_time(event) - entry.started_at).total_seconds()
    if status == "failed" and _has_failure(attrs):
        entry.error = _failure_message(attrs.failure)


def _approval(event: HistoryEvent, client: Client, names: dict[str, str]) -> StepEvent | None:
    attrs = event.workflow_execution_update_completed_event_attributes
    if names.get(attrs.meta.update_id) not in APPROVAL_UPDATES:
        return None
    if not attrs.outcome.HasField("success") or not attrs.outcome.success.payloads:
        return None
    outcome = client.data_converter.payload_converter.from_payload(
        attrs.outcome.success.payloads[0], dict
    )
    if not isinstance(outcome, dict):
        return None
    decision = str(outcome.get("decision", ""))
    return StepEvent(
        step=str(outcome.get("step", "")),
        type=_APPROVAL_STEP,
        kind="approval",
        status=decision,
        started_at=_time(event),
        error=f"{outcome.get('approver', '')}: {outcome.get('comment', '')}"
        if decision == "rejected" else "",
    )


_CLOSE_EVENTS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: ("completed", "activity_task_completed"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: ("failed", "activity_task_failed"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: ("timed_out", "activity_task_timed_out"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: ("canceled", "activity_task_canceled"),
}


def _close_activity(
    event: HistoryEvent,
    by_scheduled_id: dict[int, StepEvent],
    scheduled_at: dict[int, datetime],
) -> None:
    closing = _CLOSE_EVENTS.get(event.event_type)
    if closing is None:
        return
    status, field = closing
    attrs = getattr(event, f"{field}_event_attributes")
    entry = by_scheduled_id.get(attrs.scheduled_event_id)
    if entry is None:
        return
    entry.status = status
    entry.duration_seconds = (_time(event) - scheduled_at[attrs.scheduled_event_id]).total_seconds()
    if status != "completed" and _has_failure(attrs):
        entry.error = _failure_message(attrs.failure)


class TemporalEventRecorder:
    """EventRecorder over Temporal: a run's step events from its history."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def timeline(self, workflow_id: str) -> list[StepEvent]:
        history = await self.client.get_workflow_handle(workflow_id).fetch_history()
        if codec := self.client.data_converter.payload_codec:
            for event in history.events:
                await decode_payloads_in(event, codec)
        return step_timeline(history, self.client)

    async def step_events(self, run_id: str) -> list[dict[str, Any]]:
        return [event.model_dump(mode="json") for event in await self.timeline(run_id)]
