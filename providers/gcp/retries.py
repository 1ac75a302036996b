"""Per-call retries under both Google client families: a throttled call waits and goes again.

google-api-core retries only a 503/504 of compute's reads (not a 429, not an insert), with no
Retry-After and no heartbeat; the discovery client (Cloud SQL) retries nothing unless asked.
So the retry sits in the HTTP layer both use: a requests adapter under the GAPIC REST
transports (compute, Memorystore) and an httplib2.Http under the discovery client. What it
retries is what errors.py calls retryable, from the same status, reason and message (so a
quota error is final even as a 429); the wait honours Retry-After and heartbeats (`pause`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httplib2
import requests
from requests.adapters import HTTPAdapter

from providers.gcp.errors import from_status
from providers.retry_after import call_delay, pause


def verdict(status: int, headers: Mapping[str, Any], content: bytes) -> tuple[bool, float | None]:
    """Whether an answer is worth sending the call again for, and the server's Retry-After."""
    if status < 400:
        return False, None
    try:
        body = json.loads(content or b"{}")
    except ValueError:
        body = {}
    details = body.get("error") if isinstance(body, dict) else None
    details = details if isinstance(details, dict) else {}
    reasons = [e.get("reason", "") for e in details.get("errors") or [] if isinstance(e, dict)]
    reason = next(filter(None, reasons), "") or str(details.get("status") or "")
    error = from_status(status, reason, str(details.get("message") or ""), "", headers)
    return error.retryable, error.retry_after


class RetryingAdapter(HTTPAdapter):
    """Mounted on the AuthorizedSession of a GAPIC REST transport."""

    def __init__(self, max_attempts: int) -> None:
        super().__init__()
        self.max_attempts = max_attempts

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        what = f"{request.method} {str(request.url).split('?')[0]}"
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = super().send(request, *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as error:
                if attempt == self.max_attempts:
                    raise
                wait, reason = call_delay(attempt, None), type(error).__name__
            else:
                retryable, asked = verdict(
                    response.status_code, response.headers, response.content
                )
                wait = call_delay(attempt, asked) if retryable else None
                if wait is None or attempt == self.max_attempts:
                    return response
                reason = f"HTTP {response.status_code}"
                response.close()
            pause(wait, f"waiting {wait:.1f} s to retry {what} ({reason})")
        raise AssertionError("unreachable: the last attempt returns or raises")


class RetryingHttp(httplib2.Http):
    """The httplib2.Http under the Cloud SQL discovery client."""

    def __init__(self, max_attempts: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_attempts = max_attempts

    def request(self, uri: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        what = f"{method} {uri.split('?')[0]}"
        for attempt in range(1, self.max_attempts + 1):
            try:
                response, content = super().request(uri, method, *args, **kwargs)
            except (httplib2.HttpLib2Error, OSError) as error:
                if attempt == self.max_attempts:
                    raise
                wait, reason = call_delay(attempt, None), type(error).__name__
            else:
                retryable, asked = verdict(response.status, response, content)
                wait = call_delay(attempt, asked) if retryable else None
                if wait is None or attempt == self.max_attempts:
                    return response, content
                reason = f"HTTP {response.status}"
            pause(wait, f"waiting {wait:.1f} s to retry {what} ({reason})")
        raise AssertionError("unreachable: the last attempt returns or raises")
