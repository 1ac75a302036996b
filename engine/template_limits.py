"""What one render may compute, enforced inside the template sandbox.

A template is data a pipeline author (or, through `{{ trigger.x }}`, a caller) controls, and
some templates are rendered inside workflow code (`if`, `skip_if`, control-step configs), where
a render that spins holds a workflow thread and Temporal's deadlock detector fails the task
again at every retry. So every limit here is a count of work or size, the same on every replay;
only a render in an activity also gets a wall-clock budget, passed in by the caller.

The checks come *before* the expensive step wherever Python would do it in one C call that no
counter can interrupt (`'%0999999999d' % 1`, `'x'.ljust(10**9)`, `10 ** (10 ** 8)`).
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


def is_int(value: Any) -> bool:
    return isinstance(value, int)


def _check_power(base: Any, exponent: Any) -> None:
    if not (is_int(base) and is_int(exponent)) or exponent <= 0 or abs(base) <= 1:
        return  # floats overflow at once; a negative exponent gives a float
    bits = (abs(base).bit_length() - 1) * exponent
    if bits > MAX_INT_BITS:
        raise TemplateLimitError(
            "integer size", f"{base} ** {exponent} has about {bits} bits, more than {MAX_INT_BITS}"
        )


def _check_product(left: Any, right: Any) -> None:
    if is_int(left) and is_int(right):
        bits = left.bit_length() + right.bit_length()
        if bits > MAX_INT_BITS:
            raise TemplateLimitError(
                "integer size", f"a product of about {bits} bits, more than {MAX_INT_BITS}"
            )
        return
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and is_int(count) and count > 0:
            # A repeated list shares its items: its size as text is what grows.
            unit = len(sequence) if isinstance(sequence, str) else measure(sequence)
            check_length(unit * count, "repeating a sequence makes a value")


def check_int(value: Any) -> Any:
    if is_int(value) and value.bit_length() > MAX_INT_BITS:
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
