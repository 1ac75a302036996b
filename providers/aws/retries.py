"""Per-call retries for boto3 clients: a throttled call waits and goes again by itself.

botocore's own modes fall short for an apply: standard mode ignores HTTP's Retry-After (it
reads only `x-amz-retry-after`) and stops retrying once its per-client retry quota is spent,
which a storm spends in a few hundred calls; adaptive mode adds a client-side rate limiter
that blocks in botocore without heartbeating. So botocore's handler is left at one attempt and
this `needs-retry` handler decides instead: what it retries is exactly what errors.py calls
retryable, so a validation, auth, quota or not-found error fails at once, and a retryable
error that survives every attempt reaches the activity classified as before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from providers.aws.errors import RETRYABLE_EXCEPTIONS, is_retryable_answer
from providers.retry_after import call_delay, pause, retry_after

log = logging.getLogger(__name__)


class CallRetry:
    """The `needs-retry` handler of one client; safe to share between threads."""

    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts

    def __call__(
        self,
        *,
        attempts: int,
        operation: Any,
        response: tuple[Any, Mapping[str, Any]] | None = None,
        caught_exception: Exception | None = None,
        **_: Any,
    ) -> float | None:
        """None: the answer stands. A number: botocore sends the call again after sleeping
        that long, which is always 0 here: the wait happened in `pause`, heartbeating."""
        if attempts >= self.max_attempts:
            return None
        reason, server_delay = _retryable(response, caught_exception)
        if reason is None:
            return None
        delay = call_delay(attempts, server_delay)
        if delay is None:
            return None
        name = f"{operation.service_model.service_id.hyphenize()} {operation.name}"
        log.debug("%s: %s, attempt %d of %d in %.2f s", name, reason, attempts + 1,
                  self.max_attempts, delay)  # fmt: skip
        pause(delay, f"waiting {delay:.1f} s to retry {name} ({reason})")
        return 0


def _retryable(
    response: tuple[Any, Mapping[str, Any]] | None, caught: Exception | None
) -> tuple[str | None, float | None]:
    """Why the call is worth sending again (None: it is not), and the server's delay."""
    if response is None:
        return (type(caught).__name__ if isinstance(caught, RETRYABLE_EXCEPTIONS) else None), None
    http_response, parsed = response
    status = int(http_response.status_code)
    code = str((parsed.get("Error") or {}).get("Code") or "")
    if not is_retryable_answer(code, status):
        return None, None
    return code or f"HTTP {status}", _server_delay(http_response.headers)


def _server_delay(headers: Mapping[str, Any]) -> float | None:
    """Retry-After in seconds or as a date; failing that, AWS's own x-amz-retry-after (ms)."""
    seconds = retry_after(headers)
    if seconds is not None:
        return seconds
    millis = next((v for k, v in dict(headers).items() if k.lower() == "x-amz-retry-after"), None)
    try:
        return max(0.0, int(millis) / 1000) if millis is not None else None
    except ValueError:
        return None
