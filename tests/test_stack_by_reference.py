"""Stacks by reference: the document stored once by digest, runs carrying the digest.

A 20,000-resource stack's document is about 1.3 MB; inline it was refused by Temporal
(`Blob data size exceeds limit`) on its continue-as-new and activity inputs. By reference,
no payload of its runs passes 256 KB.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from activities.iac_steps import IacStepRequest, prepare
from statestore import documents, open_state_store
from tests.iac_wf_support import Stack, iac_worker, start, wait_for_phase
from tests.payload_sizes import chain, largest_payload
from wfctl.stack_client import StackClient
from workflows.iac import IAC_WORKFLOWS
from workflows.iac.carry import pack, unpack
from workflows.iac.models import ApplyCarry, ApplyOutcome, PlanNode, PlanOutcome

PAYLOAD_WARNING = 256 * 1024


def wide(stack: Stack, count: int) -> Stack:
    """`count` resources, each of the next ten depending on one of a chain of networks."""
    for i in range(count):
        if i % 10 == 0:
            stack.add(f"net{i:05d}", "test.network", config={"cidr": f"10.{i % 250}.0.0/16"})
        else:
            stack.add(f"vm{i:05d}", depends_on=[f"net{i - i % 10:05d}"], config={"size": "s"})
    return stack


def run_input(history: list[Any]) -> dict[str, Any]:
    started = history[0].workflow_execution_started_event_attributes
    return json.loads(started.input.payloads[0].data)


def store_of(stack: Stack) -> Any:
    return open_state_store(stack.state, stack.name)


async def test_a_20000_resource_stack_plans_by_reference_under_256kb(
    client: Client, tmp_path: Path
) -> None:
    stack = wide(Stack(tmp_path), 20_000)
    document = stack.document()
    assert len(json.dumps(document)) > 1024 * 1024  # inline, it was refused
    async with iac_worker(client) as queue:
        stacks = StackClient(client, task_queue=queue)
        handle = await stacks.start("apply", document)
        await wait_for_phase(handle, "approval")
        plan = await handle.query("plan", result_type=PlanOutcome)
        await handle.execute_update("reject", "measured only")
        outcome = await handle.result()
        history = [event async for event in handle.fetch_history_events()]
    assert outcome.status == "rejected"
    assert plan.counts["create"] == 20_000 and plan.plan is None  # too large to inline
    given = run_input(history)
    assert "resources" not in given and given["stack"] == stack.name
    stored = store_of(stack).get_document(given["document_digest"])
    assert json.loads(stored)["resources"] == document["resources"]
    largest = largest_payload(history)
    assert 0 < largest.size < PAYLOAD_WARNING, largest
    reads = [
        e for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name
        in ("plan_nodes", "plan_window")
    ]
    # The run reads its actions a window at a time once it walks: none before the approval.
    assert reads == []


def scheduled(history: list[Any], name: str) -> list[Any]:
    return [
        e.activity_task_scheduled_event_attributes for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == name
    ]


async def test_a_large_plan_run_reads_only_the_first_actions_for_its_table(
    client: Client, tmp_path: Path
) -> None:
    """A plan run held every node of the plan for the web UI's table of 100: at 100,000
    resources, 160 pages and a 21 MB history (Temporal ends a run at 50 MB)."""
    stack = wide(Stack(tmp_path), 3000)  # over the 1,000 actions a plan is inlined up to
    async with iac_worker(client) as queue:
        handle = await StackClient(client, task_queue=queue).start("plan", stack.document())
        plan = await handle.result()
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        history = [event async for event in handle.fetch_history_events()]
    assert plan.counts["create"] == 3000 and plan.plan is None
    pages = scheduled(history, "plan_nodes")
    assert len(pages) == 1, len(pages)
    details = metadata.current_details
    assert "| net00000 | test.network | create |  |" in details
    assert "| vm00099 |" in details and "vm00100" not in details
    assert "… and 2900 more actions (`wfctl infra progress`)" in details
    # The plan is whole in the store: an apply of it walks all 3,000.
    saved = store_of(stack).get_plan(plan.plan_id)
    assert saved is not None and len(saved.actions) == 3000


async def test_an_inline_start_is_stored_and_continues_as_new_by_digest(
    client: Client, tmp_path: Path
) -> None:
    """As `temporal workflow start --input "$(cat stack.json)"` starts it: inline."""
    stack = Stack(tmp_path)
    for i in range(60):
        stack.add(f"r{i}", depends_on=[f"r{i - 1}"] if i % 3 else [])
    async with iac_worker(client) as queue:
        handle = await start(
            client, "ApplyWorkflow", queue,
            stack.document(auto_approve=True, parallelism=5, max_history_events=200),
        )
        result: ApplyOutcome = await handle.result()
        runs = await chain(client, handle.id, handle.result_run_id or "")
    assert result.status == "applied", result.errors
    assert result.counts == {"create": 60}
    assert stack.cloud.fresh_creates() == {f"r{i}": 1 for i in range(60)}
    assert len(runs) >= 2
    first, *later = [run_input(run) for run in runs]
    assert len(first["resources"]) == 60
    digest = documents.save_document(store_of(stack), stack.document())
    for given in later:
        # The rest of the chain names the document the first plan activity stored.
        assert not given["resources"] and given["document_digest"] == digest
        assert given["resume"]["statuses"] and not given["resume"]["done"]
    replayer = Replayer(workflows=IAC_WORKFLOWS, data_converter=pydantic_data_converter)
    for run in runs:
        assert largest_payload(run).size < PAYLOAD_WARNING
        await replayer.replay_workflow(WorkflowHistory(handle.id, run))


async def test_a_run_by_reference_applies_drifts_and_destroys(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path)
    for i in range(8):
        upstream = {"up": f"${{r{i - 1}.outputs.id}}"} if i else {}
        stack.add(f"r{i}", config={"note": "a", **upstream})
    stack.resources[2]["lifecycle"] = {"ignore_changes": ["note"]}
    digest = documents.save_document(store_of(stack), stack.document())
    reference = documents.reference(stack.document(), digest)
    async with iac_worker(client) as queue:
        applied = await (
            await start(client, "ApplyWorkflow", queue, {**reference, "auto_approve": True})
        ).result()
        stack.cloud.set_config("r2", "note", "changed by hand")
        stack.cloud.set_config("r3", "note", "changed by hand")
        drift = await (await start(client, "DriftWorkflow", queue, reference)).result()
        destroyed = await (
            await start(client, "DestroyWorkflow", queue, {**reference, "auto_approve": True})
        ).result()
    assert applied.status == "applied" and applied.counts == {"create": 8}
    assert [r.name for r in drift.results] == ["r3"]  # r2 ignores `note`, as its document says
    assert destroyed.status == "applied" and sorted(destroyed.destroyed) == [
        f"r{i}" for i in range(8)
    ]


@pytest.mark.parametrize("problem", ["unknown", "mismatch", "malformed"])
async def test_a_bad_digest_fails_the_run_at_once_saying_why(
    client: Client, tmp_path: Path, problem: str
) -> None:
    stack = Stack(tmp_path).add("r0")
    digest = documents.save_document(store_of(stack), stack.document())
    reference = documents.reference(stack.document(), digest)
    if problem == "unknown":
        reference["document_digest"] = "0" * 64
    elif problem == "mismatch":  # a provider block changed without storing a new document
        reference["providers"] = {"main": {**stack.provider, "latency": 1}}
    else:
        reference["document_digest"] = "not-a-digest"
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, {**reference, "auto_approve": True})
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.non_retryable
    expected = {
        "unknown": ("UnknownDocument", f"no stored document has digest {'0' * 64}"),
        "mismatch": ("DocumentMismatch", "the run's providers is not the providers of the"),
        "malformed": ("InvalidInput", "document_digest"),
    }[problem]
    assert cause.type == expected[0] and expected[1] in cause.message, cause.message
    assert store_of(stack).lock_info() is None or problem == "malformed"
    assert stack.cloud.calls("create") == []


def test_a_pipeline_step_hands_a_large_stack_on_by_reference(tmp_path: Path) -> None:
    stack = wide(Stack(tmp_path), 3000)
    small = Stack(tmp_path).add("r0")
    request = IacStepRequest(pipeline="p", step="s", source="p.yaml", folder="",
                             document=stack.document())
    prepared = prepare(request)
    assert set(prepared) == {"stack", "state", "providers", "document_digest"}
    stored = json.loads(store_of(stack).get_document(prepared["document_digest"]))
    assert len(stored["resources"]) == 3000
    kept = prepare(IacStepRequest(pipeline="p", step="s", source="p.yaml", folder="",
                                  document=small.document()))
    assert len(kept["resources"]) == 1 and "document_digest" not in kept



@pytest.mark.soak
async def test_a_20000_resource_stack_applies_and_destroys_by_reference(
    client: Client, tmp_path: Path
) -> None:
    """The whole 20,000-resource apply (minutes on 2 cores): every run of its chain stays
    under the event limit and every payload under 256 KB."""
    stack = wide(Stack(tmp_path), 20_000)
    async with iac_worker(client, threads=64) as queue:
        stacks = StackClient(client, task_queue=queue)
        options = {"auto_approve": True, "parallelism": 100}
        for kind in ("apply", "destroy"):
            handle = await stacks.start(kind, stack.document(), **options)
            outcome = await handle.result()
            runs = await chain(client, handle.id, handle.first_execution_run_id or "")
            assert outcome.status == "applied", outcome.errors
            assert len(runs) >= 2 and max(len(run) for run in runs) <= 10_240
            for run in runs:
                assert largest_payload(run).size < PAYLOAD_WARNING
    assert stack.cloud.live() == {}
    assert len(stack.cloud.fresh_creates()) == 20_000


def test_the_carry_of_100000_actions_is_a_few_kb_and_reads_back() -> None:
    nodes = [
        PlanNode(name=f"r{i:06d}", action="create" if i % 3 else "update", type="test.thing",
                 provider="main")
        for i in range(100_000)
    ]
    carry = ApplyCarry(
        plan_id="p", done=[n.key for n in nodes[:60_000]], failed=["r060001"],
        skipped=["r060002", "r099999"], not_started=["r099999"], cancelled=["r060003"],
    )
    packed = pack(carry, nodes)
    assert len(packed.model_dump_json()) < 4096 and packed.done == []
    again = unpack(packed, nodes)
    assert again.done == carry.done and again.failed == ["r060001"]
    assert again.skipped == ["r060002", "r099999"] and again.not_started == ["r099999"]
    assert again.cancelled == ["r060003"]
    assert again.created == [n.name for n in nodes[:60_000] if n.action == "create"]
    with pytest.raises(ApplicationError, match="resume.statuses are for 100000 actions"):
        unpack(packed, nodes[:10])
