"""Runs started before the operator's controls existed go on replaying with them.

tests/histories/iac/*_before_operate.json were recorded with the code of main before this
feature (commit 99bf7e9): an apply cancelled by Temporal mid-run (the old path: cancel the
running actions, release the lock, end as cancelled; the clean cancel with its reconcile is
behind workflow.patched("clean-cancel")) and an apply whose failure skipped a dependent.
continued_before_window.json was recorded with the code before windows (commit 6f79961): the
second run of an apply's continue-as-new chain, resumed from a carry of status letters, that
reads every node of its plan (windows are behind workflow.patched("plan-window")).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.iac import IAC_WORKFLOWS

RECORDED = sorted((Path(__file__).resolve().parent / "histories" / "iac").glob("*.json"))


def test_both_recordings_are_there() -> None:
    assert [p.stem for p in RECORDED] == [
        "cancelled_before_operate", "continued_before_window", "failed_before_operate"
    ]


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
async def test_an_earlier_apply_replays(path: Path) -> None:
    recorded = json.loads(path.read_text())
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    replayer = Replayer(workflows=IAC_WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
