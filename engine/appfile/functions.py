"""The spec engine's template functions (its template_func_registry), pure and bounded.

Application files call them as `${ upper(name) }` or `{{ .name | upper }}`; the translated
templates (engine.appfile.expressions) call them as `_wf.upper(name)`, a global of every
template engine, so a pipeline key named `upper` cannot shadow them. Argument order is the
spec's (Go's): `replace old new s`, `trimPrefix prefix s`, so a piped value comes last.

Everything here runs inside the template sandbox: each call is charged there and its result
measured (engine.template_limits); functions that walk a collection charge for its items.
The spec's `uuid`, `now` and `config` are not here: the first two differ on every replay of a
workflow, the last needs a config provider (the translator refuses them by name).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus

from jinja2 import Undefined, pass_context

from engine.template_limits import budget, check_length, measure

RESERVED = ("steps", "trigger", "meta")


def _text(value: Any) -> str:
    if value is None or isinstance(value, Undefined):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        budget().charge(len(value))
        return list(value)
    raise TypeError(f"expected a list, got {type(value).__name__}")


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            return float(text)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _empty(value: Any) -> bool:
    # A missing key (lenient templates) is empty, as Go's zero value is.
    return value is None or isinstance(value, Undefined) or value == ""


def _default(fallback: Any, value: Any = None) -> Any:
    return fallback if _empty(value) else value


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if not _empty(v)), None)


def _replace(old: Any, new: Any, text: Any) -> str:
    text, old, new = _text(text), _text(old), _text(new)
    hits = text.count(old) if old else len(text) + 1
    check_length(len(text) + hits * len(new), "a replace makes a string")
    return text.replace(old, new)


def _join(separator: Any, items: Any) -> str:
    parts = [_text(item) for item in _items(items)]
    check_length(sum(map(len, parts)) + len(parts) * len(_text(separator)), "a join")
    return _text(separator).join(parts)


def _split(separator: Any, text: Any) -> list[str]:
    parts = _text(text).split(_text(separator)) if separator else list(_text(text))
    budget().charge(len(parts))
    return parts


def _json(value: Any) -> str:
    measure(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def _length(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else 0


def _to_int(value: Any) -> int:
    try:
        return int(_number(value))
    except (TypeError, ValueError):
        return 0


def _to_float(value: Any) -> float:
    try:
        return float(_number(value))
    except (TypeError, ValueError):
        return 0.0


def _div(a: Any, b: Any) -> float:
    divisor = _number(b)
    return 0.0 if divisor == 0 else _number(a) / divisor


def _field(item: Any, keys: tuple[Any, ...]) -> Any:
    return item.get(keys[0]) if keys and isinstance(item, Mapping) else item


def _numbers(items: Any, keys: tuple[Any, ...]) -> list[int | float]:
    return [_number(_field(item, keys)) for item in _items(items)]


def _sum(items: Any, *keys: Any) -> int | float:
    return sum(_numbers(items, keys))


def _min(items: Any, *keys: Any) -> Any:
    values = _numbers(items, keys)
    return min(values) if values else None


def _max(items: Any, *keys: Any) -> Any:
    values = _numbers(items, keys)
    return max(values) if values else None


def _pluck(items: Any, key: Any) -> list[Any]:
    return [item.get(key) if isinstance(item, Mapping) else None for item in _items(items)]


def _flatten(items: Any) -> list[Any]:
    flat: list[Any] = []
    for item in _items(items):
        flat.extend(_items(item) if isinstance(item, list | tuple) else [item])
    return flat


def _unique(items: Any, *keys: Any) -> list[Any]:
    # Each item's mark as canonical JSON in a set: linear, however alike the items are.
    seen: set[str] = set()
    kept: list[Any] = []
    for item in _items(items):
        mark = _field(item, keys)
        budget().charge(measure(mark) // 256)
        text = json.dumps(mark, sort_keys=True, default=str)
        if text not in seen:
            seen.add(text)
            kept.append(item)
    return kept


def _group_by(items: Any, key: Any) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for item in _items(items):
        groups.setdefault(_text(_field(item, (key,))), []).append(item)
    return groups


def _sort_by(items: Any, key: Any) -> list[Any]:
    def order(item: Any) -> tuple[int, Any]:
        value = _field(item, (key,))
        return (0, value) if isinstance(value, int | float) else (1, _text(value))

    return sorted(_items(items), key=order)


def _first(items: Any) -> Any:
    values = _items(items)
    return values[0] if values else None


def _last(items: Any) -> Any:
    values = _items(items)
    return values[-1] if values else None


def _dig(value: Any, keys: tuple[Any, ...]) -> Any:
    for key in keys:
        if isinstance(value, Mapping):
            value = value.get(key)
        elif isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value):
            value = value[key]
        else:
            return None
    return value


@pass_context
def _step(context: Any, name: Any, *keys: Any) -> Any:
    return _dig(context.get("steps") or {}, (name, *keys))


@pass_context
def _trigger(context: Any, *keys: Any) -> Any:
    return _dig(context.get("trigger") or {}, keys)


@pass_context
def _current(context: Any) -> dict[str, Any]:
    """The state as the spec's `current` / Go's `.`: the run's keys, not the namespaces."""
    return {
        key: value for key, value in context.get_all().items()
        if key not in RESERVED and key not in context.environment.globals
    }


def _request_part(context: Any, part: str) -> Mapping[str, Any]:
    # A step.request_parse output (merged into the state) wins over the raw request.
    parsed = context.get(part)
    if isinstance(parsed, Mapping):
        return parsed
    request = (context.get("trigger") or {}).get("request") or {}
    found = request.get(part) if isinstance(request, Mapping) else None
    return found if isinstance(found, Mapping) else {}


@pass_context
def _header(context: Any, name: Any) -> Any:
    """`.headers.X-Request-Id`: HTTP header names match whatever their case."""
    wanted = _text(name).lower()
    for key, value in _request_part(context, "headers").items():
        if str(key).lower() == wanted:
            return value
    return None


@pass_context
def _query(context: Any, name: Any) -> Any:
    return _request_part(context, "query").get(_text(name))


SPEC_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "lower": lambda s: _text(s).lower(),
    "upper": lambda s: _text(s).upper(),
    "title": lambda s: _text(s).title(),
    "default": _default,
    "trimPrefix": lambda prefix, s: _text(s).removeprefix(_text(prefix)),
    "trimSuffix": lambda suffix, s: _text(s).removesuffix(_text(suffix)),
    "trimSpace": lambda s: _text(s).strip(),
    "json": _json,
    "replace": _replace,
    "contains": lambda sub, s: _text(sub) in _text(s),
    "hasPrefix": lambda prefix, s: _text(s).startswith(_text(prefix)),
    "hasSuffix": lambda suffix, s: _text(s).endswith(_text(suffix)),
    "split": _split,
    "join": _join,
    "urlEncode": lambda s: quote_plus(_text(s)),
    "b64": lambda s: base64.b64encode(_text(s).encode()).decode(),
    "add": lambda a, b: _number(a) + _number(b),
    "sub": lambda a, b: _number(a) - _number(b),
    "mul": lambda a, b: _number(a) * _number(b),
    "div": _div,
    "toInt": _to_int,
    "toFloat": _to_float,
    "toString": _text,
    "length": _length,
    "coalesce": _coalesce,
    "sum": _sum,
    "pluck": _pluck,
    "flatten": _flatten,
    "unique": _unique,
    "groupBy": _group_by,
    "sortBy": _sort_by,
    "first": _first,
    "last": _last,
    "min": _min,
    "max": _max,
    "step": _step,
    "trigger": _trigger,
    # Not spec functions: what the translator's output calls for `current`, `.`, headers.
    "current": _current,
    "header": _header,
    "query": _query,
}

# Named in the spec but refused, with why.
REFUSED_FUNCTIONS = {
    "uuid": "gives a new value on every replay of the workflow; use meta.run_id",
    "uuidv4": "gives a new value on every replay of the workflow; use meta.run_id",
    "now": "reads the clock, which differs on replay; use meta.started_at",
    "config": "needs a config.provider module, which wfctl does not have",
}
