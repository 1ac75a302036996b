"""The worker's cache of parsed stack documents: one parse per content, never a stale one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from activities.iac.cache import IacCache, SizedLru
from activities.iac.planning import plan_stack
from interfaces.errors import ConfigError
from providers.registry import MODULES_ENV, load_provider_modules
from workflows.iac.models import PlanRequest, StackTarget


def document(tmp_path: Path, resources: int = 3, **extra: Any) -> dict[str, Any]:
    return {
        "stack": "cached",
        "state": {"backend": "sqlite", "path": str(tmp_path / "state.db")},
        "providers": {"main": {"type": "test", "cloud": str(tmp_path / "cloud.db")}},
        "resources": [{"name": f"r{i}", "type": "test.thing", **extra} for i in range(resources)],
    }


def test_the_same_content_is_parsed_once(tmp_path: Path) -> None:
    cache = IacCache()
    first = cache.document(document(tmp_path), "stack")
    # Another copy of the same content (as each activity decodes its own input).
    assert cache.document(document(tmp_path), "stack") is first
    assert [r.name for r in first.resources] == ["r0", "r1", "r2"]


def test_changed_content_is_parsed_again(tmp_path: Path) -> None:
    cache = IacCache()
    first = cache.document(document(tmp_path), "stack")
    changed = cache.document(document(tmp_path, config={"size": 2}), "stack")
    assert changed is not first
    assert changed.resources[0].config == {"size": 2}
    assert first.resources[0].config == {}


def test_an_invalid_document_fails_every_time_and_is_not_kept(tmp_path: Path) -> None:
    cache = IacCache()
    bad = {**document(tmp_path), "resources": [{"name": "r0"}]}  # no type
    for _ in range(2):
        with pytest.raises(ConfigError, match="type"):
            cache.document(bad, "stack bad")


def test_documents_are_bounded_by_the_resources_they_hold(tmp_path: Path) -> None:
    budget = 20
    cache = IacCache(size=budget)
    oldest = cache.document(document(tmp_path, resources=1), "stack")
    large = cache.document(document(tmp_path, resources=budget // 2 + 1), "stack")
    assert cache.document(document(tmp_path, resources=1), "stack") is oldest  # room for both
    cache.document(document(tmp_path, resources=budget // 2 + 2), "stack")
    # Two documents of over half the budget do not fit together: the least recently used went.
    assert cache.held()["document_resources"] <= budget
    assert cache.document(document(tmp_path, resources=budget // 2 + 1), "stack") is not large


def test_the_newest_entry_is_kept_however_large() -> None:
    held: SizedLru[str] = SizedLru(budget=10)
    held.put("a", "small", 3)
    held.put("b", "huge", 50)  # over the budget alone: kept, the older one dropped
    assert held.get("b") == "huge" and held.get("a") is None
    assert len(held) == 1 and held.held == 50
    held.put("c", "next", 4)
    assert held.get("b") is None and held.get("c") == "next" and held.held == 4


def test_using_an_entry_keeps_it_over_older_ones() -> None:
    held: SizedLru[str] = SizedLru(budget=10)
    for key in "abc":
        held.put(key, key, 3)
    held.get("a")  # now the most recently used
    held.put("d", "d", 3)  # 12 > 10: the least recently used ("b") goes
    assert held.get("b") is None
    assert [held.get(key) for key in "acd"] == ["a", "c", "d"]
    held.put("a", "a again", 5)  # a replaced entry's old size is not counted twice
    assert held.held <= 10


def test_planning_a_stack_again_drops_its_older_plans_first(tmp_path: Path) -> None:
    """A new plan of a large stack is not built while the last one is still held; a run of
    the older plan still finds it, read back from the store."""
    os.environ.setdefault(MODULES_ENV, "tests.iac_test_provider")
    load_provider_modules()
    cache = IacCache()
    doc = document(tmp_path)
    target = StackTarget(stack="cached", state=doc["state"], providers=doc["providers"])
    when = "2026-01-01T00:00:00+00:00"
    plan_stack(cache, PlanRequest(document=doc, plan_id="first", created_at=when))
    assert cache.held()["plan_actions"] == 3 and cache.nodes(target, "first") is not None
    plan_stack(cache, PlanRequest(document=doc, plan_id="second", created_at=when))
    # The parsed document is kept: the apply's runs, and a destroy planned next, use it.
    assert cache.held() == {"plan_actions": 3, "nodes": 3, "document_resources": 3}
    assert cache.nodes(target, "first") is None
    assert [a.resource.name for a in cache.plan(target, "first").actions] == ["r0", "r1", "r2"]
