"""The step timeline of a pipeline run, read back from its Temporal history.

This is the project's EventRecorder: Temporal's history is the only store of execution
events. I/O steps are activity events; pure steps are local-activity markers. Both carry the
summary "<step> (<type>)" the workflow gave them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory

LOCAL_ACTIVITY_MARKER = "core_local_activity"
STEP_ACTIVITY = "run_step"


class StepEvent(BaseModel):
    step: str
    type: str
    kind: str  # "activity" or "local"
    status: str  # scheduled | running | completed | failed | timed_out | canceled
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


def _time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime().replace(tzinfo=None)


def _local_step(event: HistoryEvent, client: Client) -> StepEvent | None:
    attrs = event.marker_recorded_event_attributes
    if attrs.marker_name != LOCAL_ACTIVITY_MARKER:
        return None
    data_payloads = attrs.details.get("data")
    if data_payloads is None or not data_payloads.payloads:
        return None
    data: dict[str, Any] = json.loads(data_payloads.payloads[0].data or b"{}")
    if data.get("activity_type") != STEP_ACTIVITY:
        return None
    step, step_type = _split_summary(_summary(event, client))
    started = _marker_time(data.get("original_schedule_time"))
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
        return datetime.utcfromtimestamp(seconds)
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    return None


def step_timeline(history: WorkflowHistory, client: Client) -> list[StepEvent]:
    """Every step execution of the run, in the order it was scheduled."""
    timeline: list[StepEvent] = []
    by_scheduled_id: dict[int, StepEvent] = {}
    scheduled_at: dict[int, datetime] = {}
    for event in history.events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            if (local := _local_step(event, client)) is not None:
                timeline.append(local)
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
        else:
            _close_activity(event, by_scheduled_id, scheduled_at)
    return timeline


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
    if status != "completed" and attrs.HasField("failure"):
        entry.error = _failure_message(attrs.failure)


class TemporalEventRecorder:
    """EventRecorder over Temporal: a run's step events from its history."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def timeline(self, workflow_id: str) -> list[StepEvent]:
        history = await self.client.get_workflow_handle(workflow_id).fetch_history()
        return step_timeline(history, self.client)

    async def step_events(self, run_id: str) -> list[dict[str, Any]]:
        return [event.model_dump(mode="json") for event in await self.timeline(run_id)]
