"""Durations as pipeline files write them: "500ms", "10s", "2m", "1h30m", "1d" or bare seconds."""

from __future__ import annotations

import math
import re
from datetime import timedelta

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
# Beyond this a duration is a typo, and past timedelta's range it would be an OverflowError.
MAX_SECONDS = 100 * 365 * 86400.0


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Parse a duration; a number (or numeric string) counts as seconds.

    Raises ValueError naming the text when it is not a non-negative duration.
    """
    if isinstance(value, timedelta):
        return value
    # bool is an int subclass; `timeout: true` is a typo, not one second.
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        return _seconds(value, value)
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}")
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return _seconds(seconds, value)
    total = 0.0
    position = 0
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if not text or position != len(text):
        raise ValueError(
            f"invalid duration {value!r}: expected e.g. 500ms, 10s, 2m, 1h30m or seconds"
        )
    return _seconds(total, value)


def _seconds(seconds: float, original: object) -> timedelta:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {original!r}: must be a finite, non-negative number")
    if seconds > MAX_SECONDS:
        raise ValueError(f"invalid duration {original!r}: more than 100 years")
    return timedelta(seconds=seconds)
