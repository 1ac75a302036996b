"""An apply or destroy walking its plan a window at a time (behind patch "plan-window").

The run keeps one status letter per plan node (workflows.iac.carry: d, f, s, c, n, '.')
and walks the next window of nodes not run yet (activities.iac.windows), writing the walk's
outcome back by plan index; a window done, the next is read, until nothing is left or the
history is near its limit (then the run continues as new with the letters). A run start
costs a few pages of one window instead of every node of the plan, and the workflow holds
one window's nodes instead of all of them: at 100,000 resources the chain's run starts were
quadratic (bench/README.md "IaC at scale").
"""

from __future__ import annotations

from collections import Counter

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.iac import window_select
    from workflows.iac.calls import call
    from workflows.iac.carry import pack_letters, read_letters
    from workflows.iac.models import (
        ApplyCarry,
        NamesRequest,
        PlanDigest,
        PlanNames,
        PlanNode,
        PlanWindow,
        StackRunInput,
        WindowRequest,
        document_source,
    )
    from workflows.iac.walk import CANCELLED, DONE, FAILED, SKIPPED

LETTER_OF = {DONE: "d", FAILED: "f", SKIPPED: "s", CANCELLED: "c"}


class Window:
    """The letters of every node, and the window being walked (keys -> plan indices)."""

    def __init__(self, letters: str) -> None:
        self.letters = list(letters)
        self.index: dict[str, int] = {}
        # The window holds only what waits on failures: blocked, it waits for a decision
        # (else it stops, and the next window takes what else there is to do).
        self.waiting = False
        # Letters outside the window: the counts a progress answer adds to the walk's own.
        self.outside: Counter[str] = Counter(self.letters)

    def take(self, indices: list[int], nodes: list[PlanNode]) -> None:
        self.index = {node.key: i for node, i in zip(nodes, indices, strict=True)}
        self.outside = Counter(self.letters)
        self.outside.subtract(self.letters[i] for i in indices)

    def write_back(self, status: dict[str, str], not_started: list[str]) -> None:
        left = set(not_started)
        for key, i in self.index.items():
            found = status.get(key)
            if found is not None:
                self.letters[i] = "n" if key in left else LETTER_OF[found]
        self.index = {}
        self.outside = Counter(self.letters)

    def stop_the_rest(self) -> None:
        """Aborted: what never started is not started."""
        self.letters = ["n" if letter == "." else letter for letter in self.letters]
        self.outside = Counter(self.letters)

    def left(self) -> bool:
        return "." in self.letters

    def packed(self) -> str:
        return pack_letters("".join(self.letters))


async def read_window(
    request: StackRunInput, digest: PlanDigest, window: Window, wait_on_failure: bool
) -> list[PlanNode]:
    """The next window's nodes, in pages; the letters take the skips it found."""
    if _inline(digest, window):
        ordered = window_select.dependency_order(digest.nodes)
        chosen, window.waiting = window_select.select(
            digest.nodes, window.letters, request.window_nodes, wait_on_failure, ordered
        )
        nodes = [window_select.reduced(digest.nodes[i], window.letters, ordered[1])
                 for i in chosen]
        window.take(chosen, nodes)
        return nodes
    nodes: list[PlanNode] = []
    indices: list[int] = []
    statuses = window.packed()
    while True:
        page = await call(
            "plan_window",
            WindowRequest(
                **document_source(request),
                plan_id=digest.plan_id,
                statuses=statuses,
                node_count=len(window.letters),
                limit=request.window_nodes,
                offset=len(nodes),
                wait_on_failure=wait_on_failure,
            ),
            PlanWindow,
            f"read plan {digest.plan_id}: next actions from {len(nodes) + 1}",
        )
        nodes.extend(page.nodes)
        indices.extend(page.indices)
        if not page.nodes or len(nodes) >= page.size:
            break
    window.letters = list(read_letters(page.statuses))
    window.waiting = page.waiting
    window.take(indices, nodes)
    return nodes


async def names_of(
    request: StackRunInput, digest: PlanDigest, window: Window, limit: int
) -> PlanNames:
    if _inline(digest, window):
        return window_select.outcome_names(digest.nodes, window.letters, limit)
    return await call(
        "plan_names",
        NamesRequest(
            **document_source(request),
            plan_id=digest.plan_id,
            statuses=window.packed(),
            node_count=len(window.letters),
            limit=limit,
        ),
        PlanNames,
        f"read plan {digest.plan_id}: names of the outcome",
    )


async def rollback_nodes(
    request: StackRunInput, digest: PlanDigest, window: Window, total: int
) -> list[PlanNode]:
    if _inline(digest, window):
        return window_select.rollback_nodes(digest.nodes, window.letters)
    nodes: list[PlanNode] = []
    while len(nodes) < total:
        page = await call(
            "plan_names",
            NamesRequest(
                **document_source(request),
                plan_id=digest.plan_id,
                statuses=window.packed(),
                node_count=len(window.letters),
                limit=0,
                rollback_offset=len(nodes),
            ),
            PlanNames,
            f"read plan {digest.plan_id}: rollback actions from {len(nodes) + 1}",
        )
        if not page.rollback_nodes:
            break
        nodes.extend(page.rollback_nodes)
    return nodes


def window_carry(carry: ApplyCarry, window: Window) -> ApplyCarry:
    """What the walk of the window starts from: the failed in it (waiting for an operator)."""
    failed = [key for key, i in window.index.items() if window.letters[i] == "f"]
    return carry.model_copy(
        update={"done": [], "failed": failed, "skipped": [], "cancelled": [],
                "not_started": [], "created": []}
    )


def _inline(digest: PlanDigest, window: Window) -> bool:
    """A small plan's nodes came with it: the window is chosen here, without an activity."""
    return bool(digest.nodes) and len(digest.nodes) == len(window.letters)
