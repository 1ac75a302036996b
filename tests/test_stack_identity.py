"""A stack run's workflow id is its stack's: `stack:<name>` for the locking runs, the
`stack:<name>:plan:`/`:status:` forms for the others. A run started under another stack's id
fails at once with InvalidInput, before it touches the lock, the state or the cloud."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from tests.iac_wf_support import Stack, iac_worker, start

# (workflow type, the id it is started under, the id the message asks for); S is the stack.
WRONG_IDS = [
    ("ApplyWorkflow", "stack:S-prod", "stack:S"),
    ("DestroyWorkflow", "stack:S:destroy:1", "stack:S"),
    ("DriftWorkflow", "S", "stack:S"),
    ("ImportWorkflow", "stack:S-prod", "stack:S"),
    ("PlanWorkflow", "stack:S", "stack:S:plan:<suffix>"),
    ("PlanWorkflow", "stack:S-prod:plan:1", "stack:S:plan:<suffix>"),
    ("StatusWorkflow", "stack:S:plan:1", "stack:S:status:<suffix>"),
]


async def test_a_run_under_another_stacks_id_fails_before_taking_anything(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path).add("a")
    doc = stack.document(auto_approve=True)
    doc["resource"] = {"name": "a", "type": "test.thing", "provider": "main", "id": "x"}
    async with iac_worker(client) as queue:
        for workflow, wrong_form, expected_form in WRONG_IDS:
            wrong = wrong_form.replace("S", stack.name)
            expected = expected_form.replace("S", stack.name)
            run_doc = doc if workflow == "ImportWorkflow" else {
                k: v for k, v in doc.items() if k != "resource"
            }
            handle = await start(client, workflow, queue, run_doc, wrong)
            with pytest.raises(WorkflowFailureError) as failure:
                await handle.result()
            cause = failure.value.cause
            assert isinstance(cause, ApplicationError)
            assert cause.type == "InvalidInput" and cause.non_retryable
            assert cause.message == (
                f'workflow id {wrong} does not match stack "{stack.name}": start it as {expected}'
            ), workflow
            # Nothing ran: no activity (lock, plan, state read) was ever scheduled.
            events = [e.event_type async for e in handle.fetch_history_events()]
            assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in events, workflow
            assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events, workflow
        assert stack.cloud.live() == {}
        # The stack's own id works: the lock was never taken by the refused runs.
        applied = await (await start(client, "ApplyWorkflow", queue, stack.document(
            auto_approve=True))).result()
        assert applied.status == "applied"
        planned = await (await start(client, "PlanWorkflow", queue, stack.document())).result()
        assert planned.counts == {"create": 0, "update": 0, "replace": 0, "delete": 0}
