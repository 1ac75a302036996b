"""`${<resource>.outputs.<key>}` references between resources of a stack.

A reference that is the whole string keeps the output's native type (a list stays a list);
one embedded in a longer string is rendered into it (strings as-is, anything else as JSON).
The key may be dotted into nested outputs (`${db.outputs.endpoint.host}`); a numeric part
indexes a list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from interfaces.errors import ConfigError

# The resource part stops at the first `.outputs.`; neither part may hold `}` or whitespace.
REFERENCE = re.compile(r"\$\{\s*([^\s{}]+?)\.outputs\.([^\s{}]+?)\s*\}")

# `${name.anything}`: when `name` is a resource, the author meant a reference.
_LOOKS_LIKE_REFERENCE = re.compile(r"\$\{\s*([A-Za-z0-9_-]+)\.[^{}]*\}")

_MISSING = object()


class UnresolvedReference(ConfigError):
    """A referenced output is not (yet) known."""

    def __init__(self, resource: str, key: str, reason: str = "") -> None:
        self.resource, self.key = resource, key
        detail = reason or f'resource "{resource}" has no output "{key}"'
        super().__init__(f"reference ${{{resource}.outputs.{key}}}: {detail}")


def find_references(value: Any) -> set[tuple[str, str]]:
    """Every (resource, key) referenced anywhere in a nested config value."""
    found: set[tuple[str, str]] = set()
    for text in _strings(value):
        found.update((m.group(1), m.group(2)) for m in REFERENCE.finditer(text))
    return found


def malformed_references(value: Any, resources: Collection[str]) -> list[str]:
    """Texts like `${net.output.id}` that name a resource but are not a valid reference."""
    found = []
    for text in _strings(value):
        for match in _LOOKS_LIKE_REFERENCE.finditer(text):
            if match.group(1) in resources and not REFERENCE.fullmatch(match.group(0)):
                found.append(match.group(0))
    return found


def resolve_references(value: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """A copy of `value` with every reference replaced by its output.

    Raises UnresolvedReference naming the resource and key of the first missing output.
    """
    return _resolve(value, outputs, strict=True)


def resolve_known(value: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """Like resolve_references, but references to unknown outputs stay in place.

    Planning uses it: an output that does not exist yet is "known after apply".
    """
    return _resolve(value, outputs, strict=False)


def lookup_output(outputs: Mapping[str, Mapping[str, Any]], resource: str, key: str) -> Any:
    """The output `key` (dotted into nested values) of `resource`, or raise UnresolvedReference."""
    value = _lookup(outputs, resource, key)
    if value is _MISSING:
        if resource not in outputs:
            raise UnresolvedReference(
                resource, key, f'resource "{resource}" has no recorded outputs'
            )
        raise UnresolvedReference(resource, key)
    return value


def _strings(value: Any) -> Iterator[str]:
    """Every string in a nested value that may hold a reference."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "${" in item:
                yield item
        elif isinstance(item, Mapping):
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)


def _resolve(value: Any, outputs: Mapping[str, Mapping[str, Any]], *, strict: bool) -> Any:
    if isinstance(value, str):
        return _resolve_string(value, outputs, strict=strict) if "${" in value else value
    if isinstance(value, Mapping):
        return {k: _resolve(v, outputs, strict=strict) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_resolve(v, outputs, strict=strict) for v in value]
    return value


def _resolve_string(text: str, outputs: Mapping[str, Mapping[str, Any]], *, strict: bool) -> Any:
    whole = REFERENCE.fullmatch(text)
    if whole:
        value = _output(outputs, whole.group(1), whole.group(2), strict=strict)
        return text if value is _MISSING else value

    def substitute(match: re.Match[str]) -> str:
        value = _output(outputs, match.group(1), match.group(2), strict=strict)
        if value is _MISSING:
            return match.group(0)
        return value if isinstance(value, str) else json.dumps(value, default=str)

    return REFERENCE.sub(substitute, text)


def _output(
    outputs: Mapping[str, Mapping[str, Any]], resource: str, key: str, *, strict: bool
) -> Any:
    if strict:
        return lookup_output(outputs, resource, key)
    return _lookup(outputs, resource, key)


def _lookup(outputs: Mapping[str, Mapping[str, Any]], resource: str, key: str) -> Any:
    current: Any = outputs.get(resource, _MISSING)
    if current is _MISSING:
        return _MISSING
    # An output whose own name holds dots wins over descending into nested values.
    if isinstance(current, Mapping) and key in current:
        return current[key]
    for part in key.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list | tuple) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current
