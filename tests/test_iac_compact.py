"""The worker's compact documents, plans, nodes and states: the same values, in less memory.

A 100,000-resource destroy planned right after its apply took the worker to 1.25 GB; most
of it was one pydantic field-name set per object (activities/iac/compact.py).
"""

from __future__ import annotations

import gc
import os
import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from activities.iac import planning
from activities.iac.cache import IacCache
from activities.iac.compact import compact_document, compact_plan, full_fields, shared
from engine.iac.stack import parse_stack
from interfaces.iac import ResourceState
from providers.registry import MODULES_ENV, load_provider_modules
from workflows.iac.models import PlanNode, PlanRequest

ROOT = Path(__file__).resolve().parent.parent
WHEN = "2026-01-01T00:00:00+00:00"


def stack(tmp_path: Path, size: int) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for i in range(size):
        if i % 10 == 0:
            resources.append({"name": f"net{i:05d}", "type": "test.network",
                              "config": {"cidr": f"10.0.{i % 256}.0/24"}})
        else:
            resources.append({"name": f"vm{i:05d}", "type": "test.thing",
                              "depends_on": [f"net{i - i % 10:05d}"],
                              "config": {"size": "s"}, "lifecycle": {"ignore_changes": []}
                              if i % 7 == 0 else {}})
    for resource in resources:
        if resource.get("lifecycle") == {}:
            del resource["lifecycle"]
    return {
        "stack": "compact",
        "state": {"backend": "sqlite", "path": str(tmp_path / "state.db")},
        "providers": {"main": {"type": "test", "cloud": str(tmp_path / "cloud.db")}},
        "resources": resources,
    }


def held_by(build: Callable[[], Any]) -> tuple[Any, int]:
    """What `build` returns and the bytes it still holds once built."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        value = build()
        gc.collect()
        return value, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_compact_objects_keep_their_values_and_their_copies_stay_apart(tmp_path: Path) -> None:
    raw = stack(tmp_path, 30)
    plain, compact = parse_stack(raw), compact_document(parse_stack(raw))
    assert compact == plain
    assert compact.model_dump_json() == plain.model_dump_json()
    first, second = compact.resources[1], compact.resources[2]
    assert first.model_fields_set is second.model_fields_set  # one set for the model
    # A copy with a change, and a field assigned afterwards, leave the others as they were.
    changed = first.model_copy(update={"config": {"size": "m"}})
    changed.protected = True
    assert (changed.config, changed.protected) == ({"size": "m"}, True)
    assert (first.config, first.protected, second.protected) == ({"size": "s"}, False, False)
    assert first.model_fields_set == set(type(first).model_fields)
    # Resources that declare no lifecycle share one; their copies get their own.
    assert first.lifecycle is second.lifecycle
    copied = first.model_copy(deep=True)
    assert copied.lifecycle is not first.lifecycle and copied.lifecycle == first.lifecycle


def test_a_compact_plan_saves_and_reads_back_as_the_plan_itself(tmp_path: Path) -> None:
    os.environ.setdefault(MODULES_ENV, "tests.iac_test_provider")
    load_provider_modules()
    cache = IacCache()
    raw = stack(tmp_path, 40)
    planning.plan_stack(cache, PlanRequest(document=raw, plan_id="p", created_at=WHEN))
    store = cache.store(planning.target_of(cache.document(raw, "s"), raw))
    saved = store.get_plan("p")
    assert saved is not None
    assert compact_plan(saved.model_copy(deep=True)).model_dump_json() == saved.model_dump_json()
    for action in saved.actions:  # a destroy's entries, as the store lists them
        store.save_resource(ResourceState(id=f"compact/{action.resource.name}",
                                          name=action.resource.name, type=action.resource.type,
                                          provider="main", applied_config=action.resource.config))
    planning.plan_stack(
        cache, PlanRequest(document=raw, plan_id="d", created_at=WHEN, destroy=True)
    )
    destroy = store.get_plan("d")
    assert destroy is not None and {a.action for a in destroy.actions} == {"delete"}
    assert len(destroy.actions) == 40
    # The cached plan is the compact one, and it is the saved one, value for value.
    cached = cache.plan(planning.target_of(cache.document(raw, "s"), raw), "d")
    assert cached.model_dump_json() == destroy.model_dump_json()
    assert cached.actions[0].current is not None
    assert cached.actions[0].current.model_fields_set is full_fields(ResourceState)


def test_the_worker_holds_its_documents_nodes_and_states_in_much_less(tmp_path: Path) -> None:
    """Measured against the same objects as pydantic builds them (2,000 resources)."""
    os.environ.setdefault(MODULES_ENV, "tests.iac_test_provider")
    load_provider_modules()
    raw = stack(tmp_path, 2000)
    _, plain_doc = held_by(lambda: parse_stack(raw))
    _, compact_doc = held_by(lambda: compact_document(parse_stack(raw)))
    assert compact_doc < 0.5 * plain_doc, (compact_doc, plain_doc)

    cache = IacCache()
    planning.plan_stack(cache, PlanRequest(document=raw, plan_id="p", created_at=WHEN))
    target = planning.target_of(cache.document(raw, "s"), raw)
    nodes = cache.nodes(target, "p")
    assert nodes is not None
    dumped = [node.model_dump() for node in nodes]
    _, plain_nodes = held_by(lambda: [PlanNode.model_validate(node) for node in dumped])
    rebuilt, compact_nodes = held_by(
        lambda: planning._nodes(cache.plan(target, "p"), cache.document(raw, "s"), {})
    )
    assert rebuilt == nodes
    assert compact_nodes < 0.6 * plain_nodes, (compact_nodes, plain_nodes)

    store = cache.store(target)
    for node in nodes:
        store.save_resource(ResourceState(id=f"compact/{node.name}", name=node.name,
                                          type=node.type, provider="main",
                                          outputs={"id": node.name}, dependencies=node.depends_on))
    _, plain_states = held_by(lambda: {s.name: s for s in store.list_resources()})
    _, compact_states = held_by(lambda: planning._listed(store))
    assert compact_states < 0.7 * plain_states, (compact_states, plain_states)


def test_nothing_asks_which_fields_were_given() -> None:
    """The shared field-name sets hold every name: a dump that leaves out the fields not
    given (exclude_unset), or code reading model_fields_set, would see all of them as given."""
    asking = re.compile(r"exclude_unset|model_fields_set|__pydantic_fields_set__|__fields_set__")
    found = []
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0] in {".venv", "tests", "bench"} or path.name == "compact.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if asking.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


def test_shared_sets_are_per_model() -> None:
    node = shared(PlanNode(name="a", action="create", type="t", provider="p"))
    assert node.model_fields_set is full_fields(PlanNode)
    assert full_fields(PlanNode) is not full_fields(ResourceState)
