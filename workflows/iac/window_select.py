"""Which nodes a windowed walk takes next, and the names behind its status letters: pure
functions of the plan's nodes and the letters, shared by the plan_window / plan_names
activities (large plans) and the workflow itself (plans small enough to travel inline).

Dependents of a failure are settled here as the walk over all nodes would have settled
them: skipped, or, in a run with on_failure wait, kept waiting and walked with the failed
nodes only once nothing else is left to do (the walk over all nodes blocks only then).
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.iac.graph import topological_order
    from workflows.iac.models import PlanNames, PlanNode

_DEAD = "scn"  # skipped, cancelled, not started: what depends on them is skipped


def dependency_order(nodes: Sequence[PlanNode]) -> tuple[list[int], dict[str, int]]:
    """The plan indices in dependency order (ties in plan order), and key -> index."""
    index = {node.key: i for i, node in enumerate(nodes)}
    order = [index[key] for key in topological_order({node.key: node.deps for node in nodes})]
    return order, index


def select(
    nodes: Sequence[PlanNode],
    letters: list[str],
    limit: int,
    wait: bool,
    ordered: tuple[list[int], dict[str, int]] | None = None,
) -> tuple[list[int], bool]:
    """The window's plan indices in plan order, and whether it holds only what waits on
    failures (with the failed); `letters` updated with the skips it found."""
    order, index = ordered or dependency_order(nodes)
    waits_on_failure = bytearray(len(nodes))
    free: list[int] = []
    waiting: list[int] = []
    for i in order:
        if letters[i] != ".":
            continue
        dead = waits = False
        for need in nodes[i].deps:
            j = index.get(need)
            if j is None:
                continue
            letter = letters[j]
            if letter in _DEAD or (letter == "f" and not wait):
                dead = True
                break
            if letter == "f" or waits_on_failure[j]:
                waits = True
        if dead:
            letters[i] = "s"
        elif waits:
            waits_on_failure[i] = 1
            if len(waiting) < limit:
                waiting.append(i)
        elif len(free) < limit:
            free.append(i)
    # A node listed depends only on nodes listed before it or done: the order is topological
    # and each list stops growing once full.
    chosen = free or waiting
    if wait:
        # The failed stay in every window: an operator's retry or skip finds them.
        chosen = chosen + [i for i, letter in enumerate(letters) if letter == "f"]
    return sorted(chosen), not free


def reduced(node: PlanNode, letters: list[str], index: dict[str, int]) -> PlanNode:
    """The node waiting only on what is not done (outside the plan: never waited on)."""
    deps = [need for need in node.deps if need in index and letters[index[need]] != "d"]
    return node if deps == node.deps else node.model_copy(update={"deps": deps})


def outcome_names(nodes: Sequence[PlanNode], letters: Sequence[str], limit: int) -> PlanNames:
    """The first `limit` keys of each status letter, their counts, and the rollback's size."""
    found: dict[str, list[str]] = {letter: [] for letter in "dfscn"}
    counts = dict.fromkeys("dfscn", 0)
    for node, letter in zip(nodes, letters, strict=True):
        if letter == ".":
            continue
        counts[letter] += 1
        if len(found[letter]) < limit:
            found[letter].append(node.key)
    return PlanNames(names=found, counts=counts, rollback=len(made(nodes, letters)))


def made(nodes: Sequence[PlanNode], letters: Sequence[str]) -> list[str]:
    """What a rollback deletes, as workflows.iac.stack_run.roll_back orders it: the creates
    done, then the failed creates and replaces (their pending entries), in plan order."""
    created = [n.name for n, letter in zip(nodes, letters, strict=True)
               if letter == "d" and n.action == "create"]
    kinds = {node.name: node.action for node in nodes if node.part != "old"}
    failed = [n.key for n, letter in zip(nodes, letters, strict=True) if letter == "f"]
    return created + [key for key in failed if kinds.get(key) in ("create", "replace")]


def rollback_nodes(nodes: Sequence[PlanNode], letters: Sequence[str]) -> list[PlanNode]:
    """The rollback's deletes, dependents first, each waiting on what it was made for."""
    names = made(nodes, letters)
    by_name = {node.name: node for node in nodes if node.part != "old"}
    failed = {n.key for n, letter in zip(nodes, letters, strict=True) if letter == "f"}
    wanted = set(names)
    users: dict[str, list[str]] = {name: [] for name in names}
    for other in names:
        for need in by_name[other].depends_on:
            if need in wanted:
                users[need].append(other)
    return [
        by_name[name].model_copy(
            update={"action": "delete", "deps": sorted(users[name]),
                    "pending_only": name in failed}
        )
        for name in reversed(names)
    ]
