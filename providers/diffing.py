"""When a live resource differs from its spec: the field diff every provider's drivers share.

The engine plans from `DiffResult`s, so what counts as a change must mean the same on every
cloud: only fields the driver manages, never a reference still unresolved at plan time, and a
replacement when a force-new field changed. What counts as *equal* is partly per cloud (GCP
self links, ARM enum case), hence the `scalar` hook of `canonical`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from interfaces import DiffResult, FieldChange


def unresolved(value: Any) -> bool:
    """A `${...}` reference the engine has not resolved yet: no opinion on it."""
    return "${" in json.dumps(value, default=str)


def canonical(value: Any, scalar: Callable[[Any], Any] = str) -> Any:
    """Equal when they mean the same: the order of lists and numbers-as-strings do not matter;
    `scalar` normalises the leaves (text by default)."""
    if isinstance(value, Mapping):
        return {str(k): canonical(v, scalar) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [canonical(v, scalar) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return None
    return scalar(value)


def field_diff(
    desired: Mapping[str, Any],
    live: Mapping[str, Any],
    same: Callable[[str, Any, Any], bool],
    forces_new: Callable[[str, Any, Any], bool],
) -> DiffResult:
    """The changes from `live` (what read reports) to `desired` (the managed fields a spec
    sets), key by key in sorted order."""
    changes: list[FieldChange] = []
    for key, want in sorted(desired.items()):
        # A reference not resolved yet (plan time) or a field read cannot see: no opinion.
        if key not in live or unresolved(want):
            continue
        have = live[key]
        if not same(key, want, have):
            changes.append(
                FieldChange(path=key, old=have, new=want, force_new=forces_new(key, want, have))
            )
    return DiffResult(
        needs_update=bool(changes),
        needs_replace=any(change.force_new for change in changes),
        changes=changes,
    )
