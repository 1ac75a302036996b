"""The determinism guard: golden pipeline histories (tests/golden_histories.py) replay against
today's PipelineWorkflow; a workflow whose command sequence changed fails that replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.golden_histories import HISTORIES
from worker import workflow_runner
from workflows.pipeline import PipelineWorkflow

GOLDEN = sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    recorded = json.loads(path.read_text())
    return WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])


def replayer(*workflows: type) -> Replayer:
    return Replayer(
        workflows=list(workflows) or [PipelineWorkflow],
        workflow_runner=workflow_runner(),
        data_converter=pydantic_data_converter,
    )


def test_the_golden_set_covers_the_control_steps() -> None:
    # named.json runs its steps as "<name> (<type>)"; the others are from the `run_step` days.
    assert [p.name for p in GOLDEN] == ["child.json", "named.json", "recovery.json", "release.json"]
    text = "".join(p.read_text() for p in GOLDEN)
    for event in ("EVENT_TYPE_TIMER_STARTED", "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED",
                  "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED", "EVENT_TYPE_MARKER_RECORDED",
                  "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"):
        assert event in text


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
async def test_golden_history_replays(path: Path) -> None:
    await replayer().replay_workflow(load(path))


def test_the_named_history_runs_its_steps_by_name() -> None:
    history = load(HISTORIES / "named.json")
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name
                 for e in history.events if e.HasField("activity_task_scheduled_event_attributes")]
    assert scheduled == ["probe (step.db_query)"]


@workflow.defn(name="PipelineWorkflow", sandboxed=False)
class SleepsBeforeLoading(PipelineWorkflow):
    """What a careless edit looks like: one extra timer before the first command."""

    @workflow.run
    async def run(self, input: Any) -> dict[str, Any]:
        await workflow.sleep(0.01)
        return await super().run(input)


async def test_a_changed_command_sequence_fails_replay() -> None:
    with pytest.raises(NondeterminismError):
        await replayer(SleepsBeforeLoading).replay_workflow(load(HISTORIES / "release.json"))
