"""Dotted paths into the pipeline state: `order.items.0.sku`."""

from __future__ import annotations

from typing import Any

_MISSING = object()


def lookup(data: Any, path: str) -> tuple[bool, Any]:
    """(found, value) for `path` in nested dicts and lists; list items are addressed by index."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else _MISSING
        else:
            return False, None
        if current is _MISSING:
            return False, None
    return True, current
