"""A provider block's `heartbeat_timeout`: its actions' heartbeat timeout (how soon a dead
worker's action runs again elsewhere), the run's 30 s for everything else; a bad value is
refused with the input, as one line naming the provider."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError

from engine.iac.stack import parse_stack
from interfaces.errors import ConfigError
from tests.iac_wf_support import Stack, iac_worker, start


async def test_the_providers_heartbeat_timeout_is_its_actions(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path, heartbeat_timeout=2.5)
    stack.add("a").add("b", depends_on=["a"])
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await handle.result()).status == "applied"
    timeouts: dict[str, list[timedelta]] = {}
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            timeouts.setdefault(scheduled.activity_type.name, []).append(
                scheduled.heartbeat_timeout.ToTimedelta()
            )
    assert timeouts["apply_action"] == [timedelta(seconds=2.5)] * 2
    assert timeouts["plan_stack"] == [timedelta(seconds=30)]


@pytest.mark.parametrize(
    ("value", "reason"),
    [("soon", "a valid number"), (0, "greater than 0"), (10**6, "less than or equal to 86400")],
)
async def test_a_bad_heartbeat_timeout_fails_the_run_at_once(
    client: Client, tmp_path: Path, value: object, reason: str
) -> None:
    stack = Stack(tmp_path, heartbeat_timeout=value)
    stack.add("a")
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    message = str(failure.value.cause)
    assert f"providers.main.heartbeat_timeout: Input should be {reason}" in message, message
    assert stack.cloud.fresh_creates() == {}
    # A stack file says the same before anything starts.
    with pytest.raises(ConfigError) as refused:
        parse_stack(stack.document(), "stack.yaml")
    assert "heartbeat_timeout" in str(refused.value) and reason in str(refused.value)
