"""Polling until a cloud resource reaches a state, heartbeating when inside an activity.

Cloud-neutral: every provider waits through `wait_until`, so a long wait is seen by Temporal
(heartbeats), is cancellable, and ends in a retryable error rather than hanging forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import CancelledError

from interfaces.errors import ProviderError

T = TypeVar("T")


def wait_until(
    check: Callable[[], T | None], *, timeout: float, interval: float, describe: str
) -> T:
    """Call `check` every `interval` seconds until it returns something other than None.

    Raises a retryable ProviderError (code "WaitTimeout") after `timeout` seconds, so the
    activity's retry policy decides whether to keep waiting. Errors raised by `check`
    propagate unchanged.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProviderError(
                f"timed out after {timeout:g}s waiting for {describe}",
                code="WaitTimeout",
                retryable=True,
            )
        _pause(min(interval, remaining), describe)


def _pause(seconds: float, describe: str) -> None:
    if not activity.in_activity():
        time.sleep(seconds)
        return
    activity.heartbeat(describe)
    # Sleeping on the cancellation event lets a cancelled apply stop mid-wait.
    activity.wait_for_cancelled_sync(seconds)
    if activity.is_cancelled():
        raise CancelledError(f"cancelled while waiting for {describe}")
