"""The step timeline of a pipeline run, read back from its Temporal history.

This is the project's EventRecorder: Temporal's history is the only store of execution
events. I/O steps are activity events; pure steps are local-activity markers; sleeps and
retry waits are timers; call_pipeline and the IaC steps are child workflows
(step.iac_outputs is its read-outputs activity). Approval decisions are the completed
`approve` and `reject` Updates.

Steps run as the activity type "<name> (<type>)" with their path in the pipeline
("regions[2].deploy") as summary; runs started before that ran every step as `run_step`
with the summary "<name> (<type>)", and show their steps without paths. Timers and
children carry the summary "<path> (<type>...)". The parallel, foreach and retry steps have
no events of their own: their rows, and one per branch and item, span the steps they ran,
found by walking the definition snapshot that opens the history.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory

from wfctl.codec import decode_payloads_in

LOCAL_ACTIVITY_MARKER = "core_local_activity"
STEP_ACTIVITY = "run_step"
DEFINITION_ACTIVITY = "load_pipeline_definition"
# The step's activity: capped since the result cap, one result of every output before it.
IAC_OUTPUTS_ACTIVITIES = ("iac_recorded_outputs_capped", "iac_recorded_outputs")
IAC_OUTPUTS_STEP = "step.iac_outputs"


class StepEvent(BaseModel):
    step: str
    type: str
    # "activity", "local", "timer", "child", "approval", or "group" for a parallel, foreach
    # or retry step (type step.*), a parallel branch (type "branch") or a foreach item ("item")
    kind: str
    # scheduled | running | started | completed | failed | timed_out | canceled | terminated,
    # and for approvals: approved | rejected
    status: str
    attempts: int = 1
    started_at: datetime | None = None
    duration_seconds: float | None = None
    error: str = ""
    # Where the step ran: "regions[2].deploy", "checks.lint"; its name at the top level.
    path: str = ""
    # The child workflow a call_pipeline or IaC step ran.
    workflow_id: str = ""

    def model_post_init(self, context: Any) -> None:
        self.path = self.path or self.step

    @property
    def ended_at(self) -> datetime | None:
        if self.started_at is None or self.duration_seconds is None:
            return None
        return self.started_at + timedelta(seconds=self.duration_seconds)


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


def _marker_result(event: HistoryEvent, client: Client) -> dict[str, Any]:
    result = event.marker_recorded_event_attributes.details.get("result")
    if result is None or not result.payloads:
        return {}
    value = client.data_converter.payload_converter.from_payload(result.payloads[0], dict)
    return value if isinstance(value, dict) else {}


def _step_identity(activity_type: str, summary: str) -> tuple[str, str, str] | None:
    """(name, path, type) of a step activity, or None for any other activity."""
    if activity_type == STEP_ACTIVITY:
        name, step_type = _split_summary(summary)
        return name, name, step_type
    name, step_type = _split_summary(activity_type)
    if not step_type.startswith("step."):
        return None
    return name, summary or name, step_type


def _local_step(
    event: HistoryEvent,
    identity: tuple[str, str, str],
    data: dict[str, Any],
    started: datetime | None,
    client: Client,
) -> StepEvent:
    """A pure step's marker. The marker's own schedule time is not usable (it can be later
    than its completion): a named step's result carries the activity's own start and end.
    For a `run_step` marker the duration runs from the previous local completion in the same
    workflow task, or from the task's start: exact for steps in a row, and left out when the
    worker's and the server's clocks disagree enough to make it negative."""
    attrs = event.marker_recorded_event_attributes
    name, path, step_type = identity
    failed = attrs.HasField("failure")
    outcome = {} if failed else _marker_result(event, client)
    ended: datetime | None = None
    if "started_at" in outcome and "finished_at" in outcome:
        started = _marker_time(outcome["started_at"])
        ended = _marker_time(outcome["finished_at"])
    elif data.get("activity_type") == STEP_ACTIVITY:
        ended = _marker_time(data.get("complete_time")) or _time(event)
    else:
        started = None  # a named step that failed records no start of its own
    duration = (ended - started).total_seconds() if started and ended else None
    return StepEvent(
        step=name,
        path=path,
        type=step_type,
        kind="local",
        status="failed" if failed else "completed",
        attempts=int(data.get("attempt") or 1),
        started_at=started,
        duration_seconds=duration if duration is not None and duration >= 0 else None,
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
    return _step_timeline(history, client)[0]


def step_rows(history: WorkflowHistory, client: Client) -> list[StepEvent]:
    """The step executions with a row before them for each parallel, branch, foreach, item
    and retry step they ran in: what `wfctl pipeline show` prints."""
    timeline, definition = _step_timeline(history, client)
    if definition is None or not any(event.path != event.step for event in timeline):
        return timeline  # a run without nested steps, or from before steps had paths
    spec = definition.get("spec") or {}
    groups = list(_groups(spec.get("steps", []) + spec.get("compensation", []), "", timeline))
    # Each group's row goes just before the first step it ran, parents before children.
    before: dict[int, list[StepEvent]] = {}
    for path, group_type in groups:
        members = [i for i, event in enumerate(timeline) if _inside(event.path, path)]
        if members:
            row = _group_row(path, group_type, [timeline[i] for i in members])
            before.setdefault(members[0], []).append(row)
    return [row for i, event in enumerate(timeline) for row in (*before.get(i, []), event)]


def _step_timeline(
    history: WorkflowHistory, client: Client
) -> tuple[list[StepEvent], dict[str, Any] | None]:
    timeline: list[StepEvent] = []
    definition: dict[str, Any] | None = None
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
            activity_type = str(data.get("activity_type", ""))
            if activity_type == DEFINITION_ACTIVITY and definition is None:
                definition = _marker_result(event, client)
            identity = _step_identity(activity_type, _summary(event, client))
            if identity is not None:
                timeline.append(_local_step(event, identity, data, local_reference, client))
            local_reference = _marker_time(data.get("complete_time")) or local_reference
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            identity = _step_identity(attrs.activity_type.name, _summary(event, client))
            if attrs.activity_type.name in IAC_OUTPUTS_ACTIVITIES:
                identity = _iac_outputs_identity(_summary(event, client))
            if identity is None:
                continue
            name, path, step_type = identity
            entry = StepEvent(
                step=name, path=path, type=step_type, kind="activity", status="scheduled",
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
    return timeline, definition


def _iac_outputs_identity(summary: str) -> tuple[str, str, str] | None:
    """A step.iac_outputs step has no child workflow: its read-outputs activity is its row.
    Its summary: "<path> (step.iac_outputs stack <name>): read outputs"."""
    head, sep, _ = summary.partition("): ")
    path, step_type = _split_summary(head + ")") if sep else ("", "")
    if not step_type.startswith(IAC_OUTPUTS_STEP):
        return None
    return _name_of(path), path, step_type


def _name_of(path: str) -> str:
    """The step's own name, the last part of its path ("regions[2].deploy" -> "deploy")."""
    return re.split(r"[.\]]", path)[-1] or path


_CONTAINERS = ("step.parallel", "step.foreach", "step.retry_with_backoff")


def _groups(steps: list[Any], prefix: str, timeline: list[StepEvent]) -> Iterator[tuple[str, str]]:
    """(path, type) of every container step, branch and item that ran, parents first."""
    for step in steps:
        if not isinstance(step, dict) or step.get("type") not in _CONTAINERS:
            continue
        path = f"{prefix}.{step.get('name')}" if prefix else str(step.get("name"))
        config = step.get("config") if isinstance(step.get("config"), dict) else {}
        yield path, str(step["type"])
        if step["type"] == "step.parallel":
            branches = config.get("branches")
            for branch, sub_steps in (branches if isinstance(branches, dict) else {}).items():
                yield f"{path}.{branch}", "branch"
                yield from _groups(_listed(sub_steps), f"{path}.{branch}", timeline)
        elif step["type"] == "step.foreach":
            item = re.compile(re.escape(path) + r"\[(\d+)\]")
            indices = sorted({
                int(found.group(1)) for event in timeline if (found := item.match(event.path))
            })
            for index in indices:
                yield f"{path}[{index}]", "item"
                yield from _groups(_listed(config.get("steps")), f"{path}[{index}]", timeline)
        else:
            yield from _groups(_listed(config.get("steps")), path, timeline)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _inside(path: str, group: str) -> bool:
    return path.startswith((f"{group}.", f"{group}["))


def _group_row(path: str, group_type: str, members: list[StepEvent]) -> StepEvent:
    statuses = {member.status for member in members}
    if group_type == "step.retry_with_backoff":
        # Failed attempts are what it retries; the last one says how it ended.
        statuses = {members[-1].status}
    if statuses & {"failed", "timed_out", "rejected", "terminated"}:
        status = "failed"
    elif statuses & {"scheduled", "running", "started"}:
        status = "running"
    elif "canceled" in statuses:
        status = "canceled"
    else:
        status = "completed"
    starts = [m.started_at for m in members if m.started_at is not None]
    ends = [m.ended_at for m in members]
    started = min(starts) if starts else None
    duration = None
    if started is not None and status != "running" and ends and None not in ends:
        duration = (max(e for e in ends if e is not None) - started).total_seconds()
    return StepEvent(
        step=_name_of(path), path=path, type=group_type, kind="group", status=status,
        started_at=started, duration_seconds=duration,
    )


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
    path, step_type = _split_summary(_summary(event, client))
    if not step_type:
        return None  # not a step's (a pipeline timeout, a step timeout)
    child_id = ""
    if kind == "child":
        child_id = event.start_child_workflow_execution_initiated_event_attributes.workflow_id
    entry = StepEvent(
        step=_name_of(path), path=path, type=step_type, kind=kind,
        status="running" if kind == "timer" else "scheduled", started_at=_time(event),
        workflow_id=child_id,
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
        return step_timeline(await self._history(workflow_id), self.client)

    async def _history(self, workflow_id: str) -> WorkflowHistory:
        history = await self.client.get_workflow_handle(workflow_id).fetch_history()
        if codec := self.client.data_converter.payload_codec:
            for event in history.events:
                await decode_payloads_in(event, codec)
        return history

    async def rows(self, workflow_id: str) -> list[StepEvent]:
        """The timeline with the rows of the parallel, foreach and retry steps, their
        branches and items: what `wfctl pipeline show` prints."""
        return step_rows(await self._history(workflow_id), self.client)

    async def step_events(self, run_id: str) -> list[dict[str, Any]]:
        return [event.model_dump(mode="json") for event in await self.timeline(run_id)]
