"""Every payload of a workflow's history, measured: inputs, results, details, summaries.

Walks the history events' protobuf messages, so no payload-bearing field is overlooked
(activity inputs and results, continue-as-new inputs, query-visible details, memos).
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

PAYLOAD = "temporal.api.common.v1.Payload"


@dataclass
class Largest:
    size: int = 0
    where: str = ""  # the event type holding it


def payload_sizes(message: Message) -> list[int]:
    """Sizes of every Payload inside `message`, at any depth."""
    if message.DESCRIPTOR.full_name == PAYLOAD:
        return [message.ByteSize()]
    sizes: list[int] = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if isinstance(value, Message):
            sizes.extend(payload_sizes(value))
            continue
        # A repeated field or a map of messages.
        items = value.values() if hasattr(value, "values") else value
        for item in items:
            if isinstance(item, Message):
                sizes.extend(payload_sizes(item))
    return sizes


def largest_payload(history: list[HistoryEvent]) -> Largest:
    largest = Largest()
    for event in history:
        for size in payload_sizes(event):
            if size > largest.size:
                largest = Largest(size, EventType.Name(event.event_type))
    return largest


async def chain(client: Client, workflow_id: str, first_run_id: str) -> list[list[HistoryEvent]]:
    """The histories of every run of a continue-as-new chain, first run first."""
    histories, run_id = [], first_run_id
    while run_id:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        history = [event async for event in handle.fetch_history_events()]
        histories.append(history)
        last = history[-1]
        run_id = ""
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return histories
