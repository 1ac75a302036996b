"""The worker's cache of parsed stack documents: one parse per content, never a stale one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from activities.iac.cache import MAX_DOCUMENTS, IacCache
from interfaces.errors import ConfigError


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


def test_the_cache_is_bounded(tmp_path: Path) -> None:
    cache = IacCache()
    oldest = cache.document(document(tmp_path, resources=1), "stack")
    for size in range(2, MAX_DOCUMENTS + 2):
        cache.document(document(tmp_path, resources=size), "stack")
    assert cache.document(document(tmp_path, resources=1), "stack") is not oldest
