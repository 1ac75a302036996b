"""Reading an apply's history as an operator's tests need it: action spans, Update events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.iac import IAC_WORKFLOWS


@dataclass
class Span:
    scheduled_id: int
    summary: str  # the action's static summary, "create test.thing r1 (test)"
    started: datetime | None = None
    ended: datetime | None = None
    ended_id: int = 0


async def events(client: Client, workflow_id: str, run_id: str | None = None) -> list[HistoryEvent]:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    return [event async for event in handle.fetch_history_events()]


def update_identities(history: list[HistoryEvent], name: str) -> list[str]:
    """The caller identity Temporal recorded on each accepted Update called `name`."""
    return [
        event.workflow_execution_update_accepted_event_attributes.accepted_request.meta.identity
        for event in history
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        == name
    ]


def action_spans(history: list[HistoryEvent]) -> list[Span]:
    """Every apply_action activity of the history, with its start and end times."""
    spans: dict[int, Span] = {}
    for event in history:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "apply_action":
                summary = event.user_metadata.summary.data.decode(errors="replace")
                spans[event.event_id] = Span(event.event_id, summary.strip('"'))
        for field in (
            "activity_task_started_event_attributes",
            "activity_task_completed_event_attributes",
            "activity_task_failed_event_attributes",
            "activity_task_canceled_event_attributes",
            "activity_task_timed_out_event_attributes",
        ):
            if event.HasField(field):  # type: ignore[arg-type]
                span = spans.get(getattr(event, field).scheduled_event_id)
                if span is None:
                    continue
                if field.startswith("activity_task_started"):
                    span.started = event.event_time.ToDatetime()
                else:
                    span.ended = event.event_time.ToDatetime()
                    span.ended_id = event.event_id
    return list(spans.values())


def max_concurrent(spans: list[Span]) -> int:
    marks = sorted(
        [(s.started, 1) for s in spans if s.started]
        + [(s.ended, -1) for s in spans if s.ended]
    )
    running = peak = 0
    for _, step in marks:
        running += step
        peak = max(peak, running)
    return peak


def update_event_ids(history: list[HistoryEvent], name: str) -> list[tuple[int, int]]:
    """(accepted event id, completed event id) of each accepted Update called `name`."""
    accepted: dict[str, int] = {}
    pairs = []
    for event in history:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            attrs = event.workflow_execution_update_accepted_event_attributes
            if attrs.accepted_request.input.name == name:
                accepted[attrs.accepted_request.meta.update_id] = event.event_id
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            attrs = event.workflow_execution_update_completed_event_attributes
            if attrs.meta.update_id in accepted:
                pairs.append((accepted.pop(attrs.meta.update_id), event.event_id))
    return pairs


def scheduled_between(history: list[HistoryEvent], after: int, before: int) -> list[str]:
    """Summaries of the actions scheduled between two event ids."""
    return [
        span.summary for span in action_spans(history) if after < span.scheduled_id < before
    ]


async def replays(client: Client, workflow_id: str) -> None:
    """The run's history replays against today's workflow code (determinism)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    replayer = Replayer(workflows=IAC_WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
