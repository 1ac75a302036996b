"""The plan_window and plan_names activities: workflows.iac.window_select over the nodes of
a large plan, which the workflow no longer holds (workflows.iac.window), a page at a time.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

from activities.iac.cache import IacCache, PlanNodes
from activities.iac.planning import PAYLOAD_BUDGET, all_nodes, page_size
from workflows.iac import window_select
from workflows.iac.carry import pack_letters, read_letters
from workflows.iac.models import (
    NamesRequest,
    PlanNames,
    PlanWindow,
    WindowRequest,
)

PAGE_NODES = 2000
# The field names, counts and punctuation of a PlanWindow as JSON, with room to spare.
RESULT_FIELDS = 256

_lock = threading.Lock()
# The dependency order and key index of the last few plans, by node list: computed once per
# worker, not once per page (0.3 s at 100,000 nodes). The lists are held weakly: holding them
# kept a finished apply's 100,000 nodes alive through the planning of the destroy after it.
_orders: OrderedDict[int, tuple[weakref.ref[PlanNodes], tuple[list[int], dict[str, int]]]] = (
    OrderedDict()
)


def _ordered(nodes: PlanNodes) -> tuple[list[int], dict[str, int]]:
    key = id(nodes)
    with _lock:
        found = _orders.get(key)
        if found is not None and found[0]() is nodes:
            return found[1]
    ordered = window_select.dependency_order(nodes)
    # Dropped with its list (the callback runs when the list goes; a plain dict operation,
    # safe in whichever thread lets the list go).
    held = weakref.ref(nodes, lambda _: _orders.pop(key, None))
    with _lock:
        _orders[key] = (held, ordered)
        while len(_orders) > 2:
            _orders.popitem(last=False)
    return ordered


def _letters(request: WindowRequest | NamesRequest, count: int) -> list[str]:
    letters = list(read_letters(request.statuses))
    if len(letters) != count or request.node_count != count:
        raise ValueError(f"statuses are for {len(letters)} actions, plan has {count}")
    return letters


def window(cache: IacCache, request: WindowRequest) -> PlanWindow:
    nodes = all_nodes(cache, request, request.plan_id)
    letters = _letters(request, len(nodes))
    ordered = _ordered(nodes)
    chosen, waiting = window_select.select(
        nodes, letters, request.limit, request.wait_on_failure, ordered
    )
    page = [nodes[i] for i in chosen[request.offset : request.offset + PAGE_NODES]]
    page = [window_select.reduced(node, letters, ordered[1]) for node in page]
    statuses = pack_letters("".join(letters))
    # The whole result stays within the budget, not only its nodes: beside them travel the
    # statuses, and each node's index and letter (the nodes alone filled it, and a window
    # of 100,000 reached 132.6 KB).
    room = PAYLOAD_BUDGET - len(statuses) - RESULT_FIELDS
    per_node = len(str(len(nodes))) + 2  # its index, a comma, its letter
    page = page[: page_size(page, PAGE_NODES, room, per_node)] if page else []
    indices = chosen[request.offset : request.offset + len(page)]
    return PlanWindow(
        statuses=statuses,
        size=len(chosen),
        nodes=page,
        indices=indices,
        letters="".join(letters[i] for i in indices),
        waiting=waiting,
    )


def names(cache: IacCache, request: NamesRequest) -> PlanNames:
    """The first `limit` keys of each status letter and their counts; or, rollback_offset
    set, a page of the rollback's nodes."""
    nodes = all_nodes(cache, request, request.plan_id)
    letters = _letters(request, len(nodes))
    if request.rollback_offset < 0:
        return window_select.outcome_names(nodes, letters, request.limit)
    rollback = window_select.rollback_nodes(nodes, letters)
    page = rollback[request.rollback_offset : request.rollback_offset + PAGE_NODES]
    return PlanNames(rollback=len(rollback), rollback_nodes=page[: page_size(page, PAGE_NODES)])
