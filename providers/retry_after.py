"""The Retry-After header of a throttled or unavailable cloud API, as seconds to wait.

AWS, Google and ARM all send it in either of HTTP's two forms (delta seconds or an HTTP
date); the seconds become the `retry_after` of a retryable ProviderError, which the activity
turns into Temporal's next_retry_delay. DigitalOcean's ratelimit-reset is its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


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
