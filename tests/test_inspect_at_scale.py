"""Status and drift of a 20,000-resource stack: the runs end, every payload stays small.

Uncapped, one state listing of 20,000 entries (~2 MB) or a report listing every drifted
resource passed Temporal's payload limit: the completion was refused and the workflow task
retried forever, holding the stack's id. The state and the fake cloud are written directly
(one transaction each) so the test pays for the reads, not for 20,000 creates.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import yaml
from temporalio.client import Client

from activities.iac_steps import OUTPUTS_LIMIT, OutputsQuery, capped_outputs
from interfaces.iac import ResourceState
from statestore import open_state_store
from tests.iac_wf_support import Stack, iac_worker, start
from tests.payload_sizes import largest_payload
from tests.test_iac_wf_cli import wfctl
from wfctl.stack_client import StackClient
from workflows.iac.apply import RESULT_NAMES_LIMIT
from workflows.iac.models import DriftReport, StatusReport

PAYLOAD_WARNING = 256 * 1024
SIZE = 20_000
GONE = {f"r{i:05d}" for i in range(0, SIZE, 400)}  # 50 ghosts
NOT_READY = {f"r{i:05d}" for i in range(7, SIZE, 500)}  # 40 still creating


def words(text: str) -> str:
    """The text with its line wrapping undone (the console wraps at its width)."""
    return " ".join(text.split())


def seeded(tmp_path: Path, size: int = SIZE) -> Stack:
    """`size` resources recorded with size "s"; the cloud has every one at size "m" (all
    drifted), GONE deleted from it and NOT_READY not ready yet."""
    stack = Stack(tmp_path, ready_after=1)
    open_state_store(stack.state, stack.name).close()  # creates the state file's tables
    states, rows = [], []
    for i in range(size):
        name, provider_id = f"r{i:05d}", f"t-{i:012d}"
        state = ResourceState(
            id=f"{stack.name}/{name}", name=name, type="test.thing", provider="main",
            provider_id=provider_id, applied_config={"size": "s"},
            outputs={"id": provider_id, "size": "s"},
        )
        states.append((stack.name, name, state.model_dump_json()))
        polls = 0 if name in NOT_READY else 100
        rows.append((provider_id, name, "test.thing", '{"size":"m"}', polls, int(name in GONE)))
    with sqlite3.connect(stack.state["path"]) as conn:
        conn.executemany("INSERT INTO wfctl_resources (stack, name, body) VALUES (?, ?, ?)", states)
    with sqlite3.connect(stack.cloud.path) as conn:
        conn.executemany("INSERT INTO resources VALUES (?, ?, ?, ?, ?, ?)", rows)
    return stack


async def test_status_and_drift_of_20000_resources_end_with_exact_counts_under_256kb(
    client: Client, tmp_path: Path
) -> None:
    stack = seeded(tmp_path)
    document = stack.document(parallelism=8)
    async with iac_worker(client) as queue:
        status_handle = await start(client, "StatusWorkflow", queue, document)
        status: StatusReport = await status_handle.result()
        status_history = [e async for e in status_handle.fetch_history_events()]
        drift_handle = await start(client, "DriftWorkflow", queue, document)
        drift: DriftReport = await drift_handle.result()
        drift_history = [e async for e in drift_handle.fetch_history_events()]

    assert status.total == SIZE
    assert status.counts == {
        "ready": SIZE - len(GONE) - len(NOT_READY),
        "deleted": len(GONE),
        "creating": len(NOT_READY),
    }
    assert len(status.resources) == RESULT_NAMES_LIMIT
    assert status.left_out == {"resources": SIZE - RESULT_NAMES_LIMIT}
    # The ones an operator looks for come first, every one of them.
    problems = {e.name for e in status.resources if e.status.value != "ready"}
    assert problems == GONE | NOT_READY

    assert drift.checked == SIZE and drift.drifted
    assert drift.drifted_count == SIZE and drift.ghost_count == len(GONE)
    assert len(drift.results) == RESULT_NAMES_LIMIT
    assert drift.left_out == {"results": SIZE - RESULT_NAMES_LIMIT}
    assert set(drift.ghosts) == GONE
    changed = next(r for r in drift.results if r.name not in GONE)
    assert changed.fields == ["config.size"], changed
    # Every result, listed or not, is read back from the state store (`drift --all`).
    every = StackClient.drift_results(document, drift)
    assert len(every) == SIZE and len({r.name for r in every}) == SIZE
    assert {r.name for r in every if r.fields == ["(deleted)"]} == GONE

    for history in (status_history, drift_history):
        largest = largest_payload(history)
        assert 0 < largest.size < PAYLOAD_WARNING, largest
    assert len(json.dumps(status.model_dump(mode="json"))) < PAYLOAD_WARNING


def test_a_pipeline_outputs_step_lists_1000_resources_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    stack = seeded(tmp_path)
    found = capped_outputs(OutputsQuery(document=stack.document()))
    assert found.total == SIZE and found.left_out == SIZE - OUTPUTS_LIMIT
    assert list(found.outputs) == [f"r{i:05d}" for i in range(OUTPUTS_LIMIT)]
    assert found.outputs["r00001"] == {"id": "t-000000000001", "size": "s"}


async def test_wfctl_says_what_a_capped_report_leaves_out_and_drift_all_lists_every_one(
    client: Client, tmp_path: Path
) -> None:
    size = RESULT_NAMES_LIMIT + 100
    stack = seeded(tmp_path, size)
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(stack.document()))
    async with iac_worker(client) as queue:
        status = await wfctl(client, queue, "status", "-f", str(path))
        drift = await wfctl(client, queue, "drift", "-f", str(path))
        every = await wfctl(client, queue, "drift", "-f", str(path), "--all")
    assert status.exit_code == 0, status.output
    ready = size - 3 - 3  # r00000, r00400, r00800 gone; r00007, r00507, r01007 creating
    assert (
        f"... and 100 more (those not ready are listed first). {size:,} resources: "
        f"3 creating, 3 deleted, {ready:,} ready." in words(status.stdout)
    ), status.stdout[-600:]
    assert drift.exit_code == 2, drift.output
    assert drift.stdout.count(" drifted:") + drift.stdout.count("gone from the cloud") == 1000
    assert (
        f"... and 100 more drifted resources not listed ({size:,} drifted, 3 of them gone, of "
        f"{size:,} checked); `wfctl infra drift --all` lists every one." in words(drift.stdout)
    ), drift.stdout[-600:]
    assert every.exit_code == 2, every.output
    assert every.stdout.count(" drifted:") == size - 3
    assert every.stdout.count("gone from the cloud") == 3
    assert "more drifted resources not listed" not in every.stdout
