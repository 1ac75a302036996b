"""Waiting out a throttled or unavailable cloud API call before the SDK sends it again.

`retry_after` reads the Retry-After header, which AWS, Google and ARM send in either of HTTP's
two forms (delta seconds or an HTTP date); DigitalOcean's ratelimit-reset is its own. The
seconds become the wait before the same call is sent again inside the activity (`call_delay`,
`pause`), or, beyond what a call waits for, the `retry_after` of a retryable ProviderError,
which the activity turns into Temporal's next_retry_delay.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import CancelledError

# Full-jitter exponential backoff: the first retry waits up to BASE_DELAY, doubling to MAX_DELAY.
BASE_DELAY = 0.5
MAX_DELAY = 20.0
# A Retry-After longer than this is not waited out inside a call: the call fails (retryable,
# with the server's delay) and Temporal schedules the activity again after it.
MAX_CALL_WAIT = 60.0
# A heartbeat at least this often while waiting, well inside any sane heartbeat timeout.
HEARTBEAT_EVERY = 5.0

_jitter = random.Random()


def retry_after(headers: Mapping[str, Any]) -> float | None:
    """Seconds from now, never negative; None when absent or unreadable. Header names are
    matched case-insensitively whatever mapping the SDK hands over."""
    value = next((str(v) for k, v in dict(headers).items() if k.lower() == "retry-after"), "")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def call_delay(attempt: int, server_delay: float | None) -> float | None:
    """Seconds to wait before sending a call again after its `attempt`-th try failed, or None
    when the server asks for longer than a call waits (the activity's retry takes over).

    The server's Retry-After is a floor, never shortened; the jitter spreads the callers of a
    throttled API so they do not all come back at once.
    """
    backoff = _jitter.uniform(0, min(MAX_DELAY, BASE_DELAY * 2 ** max(attempt - 1, 0)))
    if server_delay is None:
        return backoff
    if server_delay > MAX_CALL_WAIT:
        return None
    return max(server_delay, backoff)


def pause(seconds: float, describe: str) -> None:
    """Sleep `seconds` between attempts of one call. Inside an activity it stops at once when
    the activity is cancelled: it heartbeats, which is how a cancellation reaches a
    synchronous activity, and sleeps on the cancellation event."""
    if not activity.in_activity():
        time.sleep(seconds)
        return
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        activity.heartbeat(describe)
        activity.wait_for_cancelled_sync(min(remaining, HEARTBEAT_EVERY))
        if activity.is_cancelled():
            raise CancelledError(f"cancelled while {describe}")
