"""What one render may compute, enforced inside the template sandbox.

A template is data a pipeline author (or, through `{{ trigger.x }}`, a caller) controls, and
some templates are rendered inside workflow code (`if`, `skip_if`, control-step configs), where
a render that spins holds a workflow thread and Temporal's deadlock detector fails the task
again at every retry. So every limit here is a count of work or size, the same on every replay;
only a render in an activity also gets a wall-clock budget, passed in by the caller.

The checks come *before* the expensive step wherever Python would do it in one C call that no
counter can interrupt (`'%0999999999d' % 1`, `'x'.ljust(10**9)`, `10 ** 10 ** 8`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jinja2.exceptions import SecurityError

# Characters of one string a render produces, and the measured size of a value it returns.
MAX_VALUE_CHARS = 1_000_000
# Characters all strings produced in one render add up to (a `map` over bounded pieces).
MAX_PRODUCED_CHARS = 16 * MAX_VALUE_CHARS
# Bits of an integer result: far beyond any id or amount, far below a stall.
MAX_INT_BITS = 4096
# Work units of one render: loop iterations, calls, items a filter walks, ranges made.
# Worst cases measured at about 0.5 s of CPU, well inside Temporal's 2 s deadlock detection
# for a workflow task; a hand-written loop over a few thousand items costs a few thousand.
MAX_WORK = 100_000


class TemplateLimitError(SecurityError):
    """A render went over one of the limits; `limit` names which."""

    def __init__(self, limit: str, detail: str) -> None:
        self.limit = limit
        super().__init__(f"template limit exceeded ({limit}): {detail}")


@dataclass
class RenderBudget:
    """The work of one render. `deadline` (monotonic seconds) only where a clock is allowed."""

    deadline: float | None = None
    seconds: float | None = None
    work: int = 0
    produced: int = 0
    _clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def charge(self, units: int = 1) -> None:
        self.work += units
        if self.work > MAX_WORK:
            raise TemplateLimitError(
                "work", f"more than {MAX_WORK} loop iterations, calls and items in one render"
            )
        if self.deadline is not None and self._clock() > self.deadline:
            raise TemplateLimitError("time", f"the render took longer than {self.seconds}s")

    def produce(self, text: Any) -> Any:
        """Account for a string a render made; refuse it when too long."""
        if isinstance(text, str | bytes):
            check_length(len(text), "a string")
            self.produced += len(text)
            if self.produced > MAX_PRODUCED_CHARS:
                raise TemplateLimitError(
                    "output size", f"strings of one render add up to more than "
                    f"{MAX_PRODUCED_CHARS} characters"
                )
            self.charge(len(text) // 4096)
        elif isinstance(text, list | tuple | dict):
            check_length(len(text), "a collection")
            self.charge(len(text) // 64)
        return text


_current: ContextVar[RenderBudget | None] = ContextVar("wfctl_render_budget", default=None)


def budget() -> RenderBudget:
    # Outside a render (Jinja folding constants at compile time) the limits still hold.
    return _current.get() or RenderBudget()


def start_render(seconds: float | None) -> Any:
    """Install a fresh budget; returns the token for `end_render`."""
    deadline = None if seconds is None else time.monotonic() + seconds
    return _current.set(RenderBudget(deadline=deadline, seconds=seconds))


def end_render(token: Any) -> None:
    _current.reset(token)


def rendering() -> bool:
    return _current.get() is not None


def check_length(length: int, what: str) -> None:
    if length > MAX_VALUE_CHARS:
        raise TemplateLimitError(
            "output size", f"{what} of {length} characters or items, more than {MAX_VALUE_CHARS}"
        )


def check_width(width: Any, what: str) -> None:
    if isinstance(width, int) and width > MAX_VALUE_CHARS:
        raise TemplateLimitError("output size", f"{what} {width} is more than {MAX_VALUE_CHARS}")


def measure(value: Any) -> int:
    """The size of `value` as text, counting shared parts every time they occur (a list
    repeated by reference is as large as its text). Stops once over the limit."""
    # Most values a template prints are scalars: no walk, no charge.
    if isinstance(value, str | bytes):
        if len(value) > MAX_VALUE_CHARS:
            check_length(len(value), "a string")
        return len(value)
    if value is None or isinstance(value, float | bool) or (
        isinstance(value, int) and value.bit_length() <= MAX_INT_BITS
    ):
        return 8
    size, walked, pending = 0, 0, [value]
    while pending:
        item = pending.pop()
        walked += 1
        if isinstance(item, str | bytes):
            size += len(item)
        elif isinstance(item, Mapping):
            size += 2 + 4 * len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            size += 2 + 2 * len(item)
            pending.extend(item)
        elif isinstance(item, range):
            size += 8 * len(item)
        elif isinstance(item, int):
            size += item.bit_length() // 3 + 1
        else:
            size += 8
        if size > MAX_VALUE_CHARS:
            raise TemplateLimitError(
                "output size", f"a value of more than {MAX_VALUE_CHARS} characters as text"
            )
    budget().charge(walked // 16)
    return size


def work_of(value: Any) -> int:
    """Work units of walking `value` once: its items, or kilobytes of a string."""
    if isinstance(value, str | bytes):
        return len(value) // 1024
    # Only plain containers: len() of an Undefined raises, of a generator does not exist.
    if isinstance(value, list | tuple | dict | set | frozenset | range):
        return len(value)
    return 0


# ---- arithmetic ----

def check_binop(operator: str, left: Any, right: Any) -> None:
    budget().charge()
    if operator == "**":
        _check_power(left, right)
    elif operator == "*":
        _check_product(left, right)
    elif operator == "+" and isinstance(left, str | list | tuple):
        if isinstance(right, str | list | tuple):
            check_length(len(left) + len(right), "a concatenation")
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left, right)


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def _check_power(base: Any, exponent: Any) -> None:
    if not (_is_int(base) and _is_int(exponent)) or exponent <= 0 or abs(base) <= 1:
        return  # floats overflow at once; a negative exponent gives a float
    bits = (abs(base).bit_length() - 1) * exponent
    if bits > MAX_INT_BITS:
        raise TemplateLimitError(
            "integer size", f"{base} ** {exponent} has about {bits} bits, more than {MAX_INT_BITS}"
        )


def _check_product(left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right):
        bits = left.bit_length() + right.bit_length()
        if bits > MAX_INT_BITS:
            raise TemplateLimitError(
                "integer size", f"a product of about {bits} bits, more than {MAX_INT_BITS}"
            )
        return
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and _is_int(count) and count > 0:
            # A repeated list shares its items: its size as text is what grows.
            unit = len(sequence) if isinstance(sequence, str) else measure(sequence)
            check_length(unit * count, "repeating a sequence makes a value")


def check_int(value: Any) -> Any:
    if _is_int(value) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimitError(
            "integer size", f"an integer of {value.bit_length()} bits, more than {MAX_INT_BITS}"
        )
    return value


# ---- formatting ----

# `%(name)-08.3f`: the width and precision of each printf-style conversion.
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")


def check_percent_format(template: str, args: Any) -> None:
    stars = False
    for width, precision in _PERCENT.findall(template):
        for number in (width, precision):
            stars = stars or number == "*"
            if number.isdigit():
                check_width(int(number), "a format width or precision")
    values = args if isinstance(args, tuple) else (args,)
    if stars:
        for value in values:
            check_width(value, "a format width or precision")
    for value in values if not isinstance(args, Mapping) else args.values():
        measure(value)


def check_format_spec(spec: str) -> None:
    """`{:>999999999}` and `{:.999999999f}`: any number in a format spec is a width or
    precision (or a fill character, which is one digit)."""
    for number in _DIGITS.findall(spec):
        check_width(int(number), "a format width or precision")


# ---- str methods and filters ----

def check_str_method(method: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Before `str.<method>(...)` runs: the size it would make."""
    if method in ("center", "ljust", "rjust", "zfill"):
        for width in (*args[:1], kwargs.get("width")):
            check_width(width, f"{method} width")
    elif method == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if _is_int(size):
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
        pad = width if _is_int(width) else len(str(width))
        check_width(width, "indent width")
        check_length(len(str(value)) + lines * pad, "indenting makes a string")
        return original(value, width, *args, **kwargs)

    return indent


def _bounded_wordwrap(original: Callable[..., Any]) -> Callable[..., Any]:
    def wordwrap(env: Any, value: Any, width: int = 79, *args: Any, **kwargs: Any) -> Any:
        text = str(value)
        wrapstring = kwargs.get("wrapstring") or (args[1] if len(args) > 1 else None) or "\n"
        if _is_int(width) and width > 0:
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
            if _is_int(count):
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


def check_result(value: Any) -> Any:
    """Every value a call or filter returns: strings accounted for, ints bounded, generators
    counted item by item as they are consumed."""
    if isinstance(value, str | bytes | list | tuple | dict):
        return budget().produce(value)
    if isinstance(value, int):
        return check_int(value)
    if isinstance(value, Iterator):
        return counted(value)
    return value


def weighed(value: Any) -> Any:
    """An operand of a comparison: `a in b` and `a == b` walk their operands."""
    budget().charge(1 + work_of(value))
    return value


def counted(items: Iterable[Any]) -> Iterator[Any]:
    """One work unit per item: a loop over a loop is charged for every inner iteration."""
    for item in items:
        budget().charge()
        yield item


def bounded_range(original: Callable[..., range]) -> Callable[..., range]:
    def range_(*args: int) -> range:
        made = original(*args)
        # Filters walk a range at C speed (`range(n)|sum`), loops pay again per iteration.
        budget().charge(1 + len(made) // 4)
        return made

    return range_
