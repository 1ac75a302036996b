"""Schedule triggers: a pipeline's `trigger: {type: schedule, ...}` as a Temporal Schedule.

`sync_schedules` makes the server match the config: it creates missing schedules, updates
changed ones and deletes the ones whose pipeline lost its trigger (or is gone). It only
touches schedules it made for the same task queue: their note says "wfctl <queue> <digest>",
and the digest tells a changed trigger from an unchanged one without comparing specs.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleListDescription,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from engine.pipeline_config import PipelineDefinition, ScheduleTrigger
from workflows import task_queues
from workflows.pipeline import PipelineRunInput
from workflows.search_attributes import PIPELINE_NAME

SCHEDULE_PREFIX = "pipeline:"
SCHEDULE_SUFFIX = ":schedule"
_OVERLAP = {
    "skip": ScheduleOverlapPolicy.SKIP,
    "buffer_one": ScheduleOverlapPolicy.BUFFER_ONE,
    "allow_all": ScheduleOverlapPolicy.ALLOW_ALL,
}


def schedule_id(pipeline: str) -> str:
    return f"{SCHEDULE_PREFIX}{pipeline}{SCHEDULE_SUFFIX}"


def pipeline_of(schedule: str) -> str:
    return schedule.removeprefix(SCHEDULE_PREFIX).removesuffix(SCHEDULE_SUFFIX)


class ScheduleChange(BaseModel):
    schedule_id: str
    pipeline: str
    action: Literal["created", "updated", "deleted", "unchanged"]


class ScheduleRow(BaseModel):
    schedule_id: str
    pipeline: str
    task_queue: str
    spec: str
    paused: bool
    next_run: datetime | None = None
    last_run: datetime | None = None


def _note(task_queue: str, pipeline: str, trigger: ScheduleTrigger) -> str:
    """"wfctl <queue> <digest> <when>": the server turns a cron into calendars, so the note
    keeps the spec as the config wrote it."""
    # `timezone` came later: left out when unset, so the schedules made before it keep
    # their digest and are not all "updated" once.
    dumped = trigger.model_dump(mode="json")
    if dumped.get("timezone") is None:
        dumped.pop("timezone", None)
    content = json.dumps([pipeline, task_queue, dumped], sort_keys=True)
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    when = trigger.cron if trigger.cron is not None else f"every {trigger.interval}"
    return f"wfctl {task_queue} {digest} {when}"


def _note_parts(note: str | None) -> tuple[str, str] | None:
    """(queue, when) of a note wfctl wrote; None for anything else."""
    parts = (note or "").split(" ", 3)
    return (parts[1], parts[3]) if len(parts) == 4 and parts[0] == "wfctl" else None


def build_schedule(pipeline: str, trigger: ScheduleTrigger, task_queue: str) -> Schedule:
    if trigger.cron is not None:
        spec = ScheduleSpec(cron_expressions=[trigger.cron], time_zone_name=trigger.timezone)
    else:
        assert trigger.interval is not None  # the model requires one of the two
        spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=trigger.interval)])
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "PipelineWorkflow",
            PipelineRunInput(pipeline=pipeline, data=trigger.data),
            # Temporal appends the scheduled time: pipeline:<name>:scheduled-2025-01-01T...
            id=f"pipeline:{pipeline}:scheduled",
            task_queue=task_queue,
            typed_search_attributes=TypedSearchAttributes(
                [SearchAttributePair(PIPELINE_NAME, pipeline)]
            ),
            static_summary=f"pipeline {pipeline} (scheduled)",
        ),
        spec=spec,
        policy=SchedulePolicy(overlap=_OVERLAP[trigger.overlap]),
        state=ScheduleState(note=_note(task_queue, pipeline, trigger)),
    )


async def _managed(client: Client, task_queue: str) -> dict[str, ScheduleListDescription]:
    found: dict[str, ScheduleListDescription] = {}
    async for entry in await client.list_schedules():
        parts = _note_parts(entry.schedule.state.note if entry.schedule else None)
        if entry.id.startswith(SCHEDULE_PREFIX) and parts and parts[0] == task_queue:
            found[entry.id] = entry
    return found


async def sync_schedules(
    client: Client,
    pipelines: dict[str, PipelineDefinition],
    task_queue: str = task_queues.PIPELINES,
) -> list[ScheduleChange]:
    """Create, update and delete this queue's schedules to match the pipelines' triggers."""
    existing = await _managed(client, task_queue)
    changes: list[ScheduleChange] = []
    wanted: set[str] = set()
    for name in sorted(pipelines):
        trigger = pipelines[name].spec.trigger
        if not isinstance(trigger, ScheduleTrigger):  # none, or served by `wfctl serve`
            continue
        sid = schedule_id(name)
        wanted.add(sid)
        schedule = build_schedule(name, trigger, task_queue)
        current = existing.get(sid)
        if current is not None and current.schedule.state.note == schedule.state.note:
            changes.append(ScheduleChange(schedule_id=sid, pipeline=name, action="unchanged"))
            continue
        if current is None:
            try:
                await client.create_schedule(sid, schedule)
                changes.append(ScheduleChange(schedule_id=sid, pipeline=name, action="created"))
                continue
            except ScheduleAlreadyRunningError:
                pass  # made moments ago and not listed yet, or made by hand: take it over

        def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=new)

        await client.get_schedule_handle(sid).update(replace)
        changes.append(ScheduleChange(schedule_id=sid, pipeline=name, action="updated"))
    for sid in sorted(set(existing) - wanted):
        try:
            await client.get_schedule_handle(sid).delete()
        except RPCError as exc:
            # The list lags behind deletes: one deleted by an earlier sync may still show.
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            continue
        changes.append(ScheduleChange(schedule_id=sid, pipeline=pipeline_of(sid), action="deleted"))
    return changes


async def list_schedules(client: Client, task_queue: str | None = None) -> list[ScheduleRow]:
    """The schedules wfctl made (for one task queue, or all)."""
    rows: list[ScheduleRow] = []
    async for entry in await client.list_schedules():
        parts = _note_parts(entry.schedule.state.note if entry.schedule else None)
        if not entry.id.startswith(SCHEDULE_PREFIX) or parts is None:
            continue
        queue, when = parts
        if task_queue is not None and queue != task_queue:
            continue
        info = entry.info
        rows.append(ScheduleRow(
            schedule_id=entry.id,
            pipeline=pipeline_of(entry.id),
            task_queue=queue,
            spec=when,
            paused=entry.schedule.state.paused,
            next_run=info.next_action_times[0] if info and info.next_action_times else None,
            last_run=info.recent_actions[-1].started_at
            if info and info.recent_actions else None,
        ))
    return sorted(rows, key=lambda row: row.schedule_id)
