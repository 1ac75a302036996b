"""An apply walking its plan a window at a time (workflows.iac.window): forced to continue
as new many times, with windows a few nodes wide, it ends as a walk over all nodes would --
same result, counts, skips and cloud -- and the operator's retry and the rollback still find
what failed or was made in an earlier run."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

from temporalio.client import Client

from activities.iac import windows
from activities.iac.cache import IacCache
from activities.iac.planning import PAYLOAD_BUDGET, plan_stack
from providers.registry import MODULES_ENV, load_provider_modules
from statestore import open_state_store
from tests.iac_history import replays
from tests.iac_wf_support import Stack, iac_worker, start
from tests.test_iac_operate import progress_when
from wfctl.stack_client import StackClient
from workflows.iac import window_select
from workflows.iac.carry import pack_letters, read_letters
from workflows.iac.models import NamesRequest, PlanDigest, PlanRequest, WindowRequest

# One action at a time: each takes its own workflow task, so the history fills at the same
# pace however loaded the machine is, and every test's apply continues as new.
SMALL = {"auto_approve": True, "parallelism": 1, "max_history_events": 200, "window_nodes": 5}


async def runs_of(client: Client, workflow_id: str) -> int:
    return len([run async for run in client.list_workflows(f"WorkflowId = '{workflow_id}'")])


def chain_stack(tmp_path: Path, size: int) -> Stack:
    stack = Stack(tmp_path, latency=0.0)
    for i in range(size):
        stack.add(f"r{i:02d}", depends_on=[f"r{i - 1:02d}"] if i % 3 else [])
    return stack


async def test_a_failure_skips_its_dependents_in_later_windows_and_runs(
    client: Client, tmp_path: Path
) -> None:
    stack = chain_stack(tmp_path, 26)
    stack.add("late", depends_on=["r04"])  # last in the plan: windows after r04's
    stack.provider["fail"] = {"r04": "nope"}
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document(**SMALL))
        result = await handle.result()
        runs = await runs_of(client, stack.workflow_id)
        await replays(client, stack.workflow_id)
    assert result.status == "failed"
    assert [e.resource for e in result.errors] == ["r04"]
    assert sorted(result.skipped) == ["late", "r05"]
    assert result.counts == {"create": 24}
    made = {f"r{i:02d}" for i in range(26)} - {"r04", "r05"}
    assert set(stack.cloud.live()) == made
    assert runs >= 2


async def test_retry_of_an_action_failed_in_an_earlier_run(client: Client, tmp_path: Path) -> None:
    stack = Stack(tmp_path, latency=0.0)
    stack.add("net", "test.network", config={"cidr": "10.0.0.0/16"})
    stack.add("app", config={"net": "${net.outputs.id}"})
    for i in range(30):
        stack.add(f"x{i:02d}")
    stack.cloud.break_resource("net", "CIDR overlaps")
    async with iac_worker(client) as queue:
        handle = await start(
            client, "ApplyWorkflow", queue, stack.document(on_failure="wait", **SMALL)
        )
        waited = await progress_when(
            handle, lambda p: bool(p.awaiting_decision_since), "waiting for a decision"
        )
        assert (waited.failed, waited.done, waited.waiting) == (["net"], 30, 1)
        assert await runs_of(client, stack.workflow_id) >= 2  # net failed in the first
        stack.cloud.fix_resource("net")
        await StackClient(client).retry(stack.name, by="ada")
        result = await handle.result()
        await replays(client, stack.workflow_id)
    assert result.status == "applied", result.errors
    assert result.counts == {"create": 32}
    assert len(stack.cloud.live()) == 32


async def test_rollback_deletes_what_earlier_runs_created(client: Client, tmp_path: Path) -> None:
    stack = chain_stack(tmp_path, 30)
    stack.add("bad", depends_on=["r28"])
    stack.provider["fail"] = {"bad": "nope"}
    async with iac_worker(client) as queue:
        handle = await start(
            client, "ApplyWorkflow", queue, stack.document(rollback=True, **SMALL)
        )
        result = await handle.result()
        runs = await runs_of(client, stack.workflow_id)
    assert result.status == "rolled_back"
    assert sorted(result.rolled_back) == sorted([f"r{i:02d}" for i in range(30)] + ["bad"])
    assert stack.cloud.live() == {}
    assert runs >= 2


def planned_chain(tmp_path: Path) -> tuple[IacCache, Stack, PlanDigest, dict[str, Any]]:
    """A 12-resource chain planned in this process ("p1"), and the source its window and
    names requests name it by."""
    os.environ.setdefault(MODULES_ENV, "tests.iac_test_provider")
    load_provider_modules()
    stack = chain_stack(tmp_path, 12)
    cache = IacCache()
    digest = plan_stack(
        cache, PlanRequest(document=stack.document(), plan_id="p1",
                           created_at="2026-01-01T00:00:00+00:00"),
    )
    source: dict[str, Any] = {"target": {"stack": stack.name, "state": stack.state,
                                         "providers": {"main": stack.provider}},
                              "document_digest": digest.document_digest}
    return cache, stack, digest, source


def test_the_window_activity_pages_what_the_workflow_would_choose(tmp_path: Path) -> None:
    """Large plans' windows come from the activity: the same nodes and skips as the workflow
    chooses for a small plan, and the names of the outcome."""
    cache, stack, digest, source = planned_chain(tmp_path)
    nodes = digest.nodes
    letters = ["."] * len(nodes)
    index = {node.key: i for i, node in enumerate(nodes)}
    letters[index["r00"]] = "d"
    letters[index["r03"]] = "f"  # r04, r05 depend on it
    page = windows.window(cache, WindowRequest(
        **source, plan_id="p1", statuses=pack_letters("".join(letters)),
        node_count=len(nodes), limit=4))
    expected = list(letters)
    chosen, waiting = window_select.select(nodes, expected, 4, wait=False)
    assert page.indices == chosen and page.size == 4 and not waiting
    assert [n.key for n in page.nodes] == ["r01", "r02", "r06", "r07"]
    assert page.nodes[0].deps == []  # r00 is done
    after = read_letters(page.statuses)
    assert (after[index["r04"]], after[index["r05"]]) == ("s", "s")
    names = windows.names(cache, NamesRequest(
        **source, plan_id="p1", statuses=page.statuses, node_count=len(nodes), limit=1))
    assert names.counts == {"d": 1, "f": 1, "s": 2, "c": 0, "n": 0}
    assert names.names["s"] == ["r04"] and names.rollback == 2  # r00 made, r03 pending
    store = open_state_store(stack.state, stack.name)
    store.close()


async def test_a_carry_of_name_lists_is_walked_as_before(client: Client, tmp_path: Path) -> None:
    """A run handed a carry of name lists (before the carry packed status letters) reads all
    nodes, as those runs did, and takes over what the lists say is done."""
    stack = chain_stack(tmp_path, 4)
    async with iac_worker(client) as queue:
        planned = await (await start(client, "PlanWorkflow", queue, stack.document())).result()
        resume = {"plan_id": planned.plan_id, "done": ["r00"]}
        handle = await start(client, "ApplyWorkflow", queue, stack.document(
            auto_approve=True, plan_id=planned.plan_id, resume=resume))
        result = await handle.result()
    assert result.status == "applied", result.errors
    assert result.counts == {"create": 3}
    assert set(stack.cloud.live()) == {"r01", "r02", "r03"}


def test_a_plans_window_order_goes_with_its_nodes(tmp_path: Path) -> None:
    """The order the window activity keeps of a plan's nodes does not keep the nodes: a
    finished apply's 100,000 nodes stayed in memory through the planning of its destroy."""
    cache, stack, digest, source = planned_chain(tmp_path)
    request = WindowRequest(**source, plan_id="p1", statuses=pack_letters("." * 12),
                            node_count=12, limit=4)
    first = windows.window(cache, request)
    held = [entry[0]() for entry in windows._orders.values()]
    assert any(nodes is not None and len(nodes) == 12 for nodes in held)
    del held
    cache.forget_plans(stack.name)  # as planning the stack again does
    gc.collect()
    assert all(entry[0]() is None for entry in windows._orders.values())
    # Asked again, the window is the same, from nodes computed again.
    assert windows.window(cache, request) == first


def test_a_window_page_stays_within_the_payload_budget_as_a_whole(tmp_path: Path) -> None:
    """The nodes alone were bounded: with their indices, letters and the statuses beside
    them, a window of 100,000 reached 132.6 KB against the 128 KB budget."""
    os.environ.setdefault(MODULES_ENV, "tests.iac_test_provider")
    load_provider_modules()
    stack = Stack(tmp_path)
    for i in range(3000):
        stack.add(f"a-resource-with-a-long-descriptive-name-{i:05d}",
                  depends_on=[f"a-resource-with-a-long-descriptive-name-{i - 1:05d}"] if i % 7
                  else [])
    cache = IacCache()
    digest = plan_stack(cache, PlanRequest(document=stack.document(), plan_id="p1",
                                           created_at="2026-01-01T00:00:00+00:00"))
    source: dict[str, Any] = {"target": {"stack": stack.name, "state": stack.state,
                                         "providers": {"main": stack.provider}},
                              "document_digest": digest.document_digest}
    letters = "".join("d" if i % 3 == 0 else "." for i in range(3000))  # statuses that vary
    offset, pages = 0, []
    while True:
        page = windows.window(cache, WindowRequest(
            **source, plan_id="p1", statuses=pack_letters(letters), node_count=3000,
            limit=3000, offset=offset))
        pages.append(page)
        offset += len(page.indices)
        if offset >= page.size:
            break
    assert len(pages) >= 2  # the budget cut the window into pages
    assert max(len(page.model_dump_json()) for page in pages) <= PAYLOAD_BUDGET
    assert offset == pages[0].size == 2000  # every node not done, each once
