"""Raw payloads a Temporal CLI user can type, and how to tell a run that ended from one whose
workflow task fails and is retried forever."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

# Nested far deeper than any parser's recursion limit.
DEEP = '{"a":' * 3000 + "1" + "}" * 3000


def raw_json(text: str | bytes) -> RawValue:
    """A json/plain payload of exactly these bytes, as `temporal workflow start --input` sends."""
    data = text.encode() if isinstance(text, str) else text
    return RawValue(Payload(metadata={"encoding": b"json/plain"}, data=data))


async def task_failures(handle: WorkflowHandle[Any, Any]) -> list[str]:
    failures = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            failures.append(f"{failure.message} / {failure.cause.message}"[:300])
    return failures


@dataclass
class Ending:
    status: WorkflowExecutionStatus
    result: Any = None
    error: ApplicationError | None = None

    @property
    def error_type(self) -> str:
        return (self.error.type or "") if self.error else ""


async def ending(handle: WorkflowHandle[Any, Any], deadline: float = 60) -> Ending:
    """How the run ended; AssertionError as soon as a workflow task failed, or at `deadline`."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline
    while True:
        failures = await task_failures(handle)
        assert not failures, f"{handle.id}: workflow task failed: {failures[0]}"
        status = (await handle.describe()).status
        if status not in (None, WorkflowExecutionStatus.RUNNING):
            break
        assert loop.time() < give_up, f"{handle.id} still running after {deadline}s"
        await asyncio.sleep(0.1)
    try:
        return Ending(status, result=await handle.result())
    except WorkflowFailureError as failure:
        cause = failure.cause
        while cause is not None and not isinstance(cause, ApplicationError):
            cause = cause.cause
        return Ending(status, error=cause)
