"""Jinja's filters, `str` methods and `range`, bounded: what each may make is checked before
it runs (widths, counts, the size of a replace or a join), and every filter is charged for the
items it walks and has its result accounted for (engine.template_limits)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.template_limits import (
    budget,
    check_length,
    check_percent_format,
    check_result,
    check_width,
    is_int,
    measure,
    work_of,
)


def check_str_method(method: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Before `str.<method>(...)` runs: the size it would make."""
    if method in ("center", "ljust", "rjust", "zfill"):
        for width in (*args[:1], kwargs.get("width")):
            check_width(width, f"{method} width")
    elif method == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if is_int(size):
            check_length(len(text) + text.count("\t") * size, "expanding tabs makes a string")
    elif method == "replace" and len(args) >= 2:
        _check_replace(text, args[0], args[1])
    elif method == "join" and args:
        _check_join(text, args[0])


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = text.count(old) if old else len(text) + 1
        check_length(len(text) + hits * len(new), "a replace makes a string")


def _check_join(separator: Any, items: Any) -> None:
    size = measure(items)
    count = len(items) if hasattr(items, "__len__") else 0
    check_length(size + count * len(str(separator)), "a join makes a string")


def _bounded_center(original: Callable[..., Any]) -> Callable[..., Any]:
    def center(value: Any, width: int = 80) -> Any:
        check_width(width, "center width")
        return original(value, width)

    return center


def _bounded_indent(original: Callable[..., Any]) -> Callable[..., Any]:
    def indent(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> Any:
        lines = str(value).count("\n") + 1
        pad = width if is_int(width) else len(str(width))
        check_width(width, "indent width")
        check_length(len(str(value)) + lines * pad, "indenting makes a string")
        return original(value, width, *args, **kwargs)

    return indent


def _bounded_wordwrap(original: Callable[..., Any]) -> Callable[..., Any]:
    def wordwrap(env: Any, value: Any, width: int = 79, *args: Any, **kwargs: Any) -> Any:
        text = str(value)
        wrapstring = kwargs.get("wrapstring") or (args[1] if len(args) > 1 else None) or "\n"
        if is_int(width) and width > 0:
            lines = len(text) // width + text.count("\n") + 1
            check_length(len(text) + lines * len(str(wrapstring)), "wrapping makes a string")
        return original(env, value, width, *args, **kwargs)

    wordwrap.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return wordwrap


def _bounded_format(original: Callable[..., Any]) -> Callable[..., Any]:
    def format(value: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A001 - the filter's name
        check_percent_format(str(value), kwargs or args)
        return original(value, *args, **kwargs)

    return format


def _bounded_replace(original: Callable[..., Any]) -> Callable[..., Any]:
    def replace(env: Any, value: Any, old: Any, new: Any, count: Any = None) -> Any:
        _check_replace(str(value), old, new)
        return original(env, value, old, new, count)

    replace.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return replace


def _bounded_join(original: Callable[..., Any]) -> Callable[..., Any]:
    def join(ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        if attribute is None:
            _check_join(d, value)
        return original(ctx, value, d, attribute)

    join.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return join


def _bounded_count(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`batch(10**9, fill)` pads to that many items, `slice(10**9)` loops that often."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def bounded(value: Any, count: Any, *args: Any, **kwargs: Any) -> Any:
            check_width(count, f"{name} size")
            if is_int(count):
                budget().charge(max(count, 0))
            return original(value, count, *args, **kwargs)

        return bounded

    return wrap


def _measured_first(original: Callable[..., Any]) -> Callable[..., Any]:
    """Filters that turn a whole value into text: measure it before."""
    pass_arg = getattr(original, "jinja_pass_arg", None)

    def measured(*args: Any, **kwargs: Any) -> Any:
        measure(args[1] if pass_arg is not None else args[0])
        return original(*args, **kwargs)

    if pass_arg is not None:
        measured.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return measured


_PRECHECKS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "center": _bounded_center,
    "indent": _bounded_indent,
    "wordwrap": _bounded_wordwrap,
    "format": _bounded_format,
    "replace": _bounded_replace,
    "join": _bounded_join,
    "batch": _bounded_count("batch"),
    "slice": _bounded_count("slice"),
    **{name: _measured_first for name in (
        "string", "pprint", "tojson", "urlencode", "xmlattr", "escape", "e", "forceescape",
        "safe", "list", "striptags", "urlize",
    )},
}


# Filters that look at a value without walking it: charged one unit, like any call.
_CONSTANT_TIME = frozenset({"length", "count", "first", "last", "default", "d", "attr", "safe"})


def bounded_filters(filters: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Every filter charged for the items it walks, its result checked for size; the ones
    that can make a value far larger than their input also checked before."""
    return {
        name: _charged(_PRECHECKS.get(name, _same)(f), walks=name not in _CONSTANT_TIME)
        for name, f in filters.items()
    }


def _same(original: Callable[..., Any]) -> Callable[..., Any]:
    return original


def _charged(original: Callable[..., Any], walks: bool) -> Callable[..., Any]:
    pass_arg = getattr(original, "jinja_pass_arg", None)

    def charged(*args: Any, **kwargs: Any) -> Any:
        subject = args[1] if pass_arg is not None and len(args) > 1 else args[0] if args else None
        budget().charge(1 + (work_of(subject) if walks else 0))
        return check_result(original(*args, **kwargs))

    if pass_arg is not None:
        charged.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return charged


def bounded_range(original: Callable[..., range]) -> Callable[..., range]:
    def range_(*args: int) -> range:
        made = original(*args)
        # Filters walk a range at C speed (`range(n)|sum`), loops pay again per iteration.
        budget().charge(1 + len(made) // 4)
        return made

    return range_
