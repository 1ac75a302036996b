"""Runs started before the operator's controls existed go on replaying with them.

tests/histories/iac/*_before_operate.json were recorded with the code of main before this
feature (commit 99bf7e9): an apply cancelled by Temporal mid-run (the old path: cancel the
running actions, release the lock, end as cancelled; the clean cancel with its reconcile is
behind workflow.patched("clean-cancel")) and an apply whose failure skipped a dependent.
continued_before_window.json was recorded with the code before windows (commit 6f79961): the
second run of an apply's continue-as-new chain, resumed from a carry of status letters, that
reads every node of its plan (windows are behind workflow.patched("plan-window")).
paged_plan_before_table.json.gz was recorded with the code before commit 8d92a81: a plan run
of 1,001 actions that reads every page of them (now its table's first page only, behind
workflow.patched("plan-table-page")); gzipped, its node pages are 500 KB as JSON.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.iac import IAC_WORKFLOWS

HISTORIES = Path(__file__).resolve().parent / "histories" / "iac"
RECORDED = sorted([*HISTORIES.glob("*.json"), *HISTORIES.glob("*.json.gz")])


def recording(path: Path) -> dict[str, Any]:
    text = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_text()
    return dict(json.loads(text))


def test_every_recording_is_there() -> None:
    assert [p.name.split(".")[0] for p in RECORDED] == [
        "cancelled_before_operate", "continued_before_window", "failed_before_operate",
        "paged_plan_before_table",
    ]


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name.split(".")[0])
async def test_an_earlier_run_replays(path: Path) -> None:
    recorded = recording(path)
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    replayer = Replayer(workflows=IAC_WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
