"""Classification of pydo/azure-core failures into wfctl's provider errors, in one place.

pydo raises `HttpResponseError` for statuses an operation does not declare, but hands back
the JSON body of the ones it does (404 on most reads and deletes, 400 on firewall writes):
`{"id": "not_found", "message": ...}` comes back as a return value. `checked` turns such a
body into the same error the raised form would have been, so every driver sees one shape.

Retryable: 429 (after `ratelimit-reset`, or Retry-After), 5xx, timeouts and connection
failures. Final: 401/403 auth, 422 validation, 409 conflict, quota; 404 is NotFoundError.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from interfaces.errors import NotFoundError, ProviderError

# DigitalOcean's error ids by HTTP status, for bodies that arrive without their status.
RETRYABLE_IDS = frozenset({"too_many_requests", "server_error", "service_unavailable"})
NOT_FOUND_ID = "not_found"


def is_error_body(body: Any) -> bool:
    """DigitalOcean's error shape: {"id": "not_found", "message": "...", "request_id": ...}."""
    return (
        isinstance(body, Mapping)
        and isinstance(body.get("id"), str)
        and "message" in body
        and len(body) <= 3
    )


def checked(body: Any, resource_desc: str) -> Any:
    """`body` unless it is an error body, which is raised as the error it means."""
    if is_error_body(body):
        raise _from_body(body, 0, {}, resource_desc)
    return body


def classify(error: Exception, resource_desc: str) -> ProviderError:
    if isinstance(error, ProviderError):
        return error
    if isinstance(error, HttpResponseError) and error.response is not None:
        response = error.response
        try:
            body = json.loads(response.text() or "{}")
        except ValueError:
            body = {}
        if not is_error_body(body):
            body = {"id": str(response.status_code), "message": str(error.message or error)}
        return _from_body(body, int(response.status_code or 0), response.headers, resource_desc)
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return ProviderError(f"{resource_desc}: {error}", code="ConnectionError", retryable=True)
    return ProviderError(f"{resource_desc}: {error}", code=type(error).__name__)


def _from_body(
    body: Mapping[str, Any], status: int, headers: Mapping[str, str], resource_desc: str
) -> ProviderError:
    code = str(body.get("id") or status or "unknown")
    status_text = f" (HTTP {status})" if status else ""
    message = f"{resource_desc}: {body.get('message') or code}{status_text}"
    if status == 404 or code == NOT_FOUND_ID:
        return NotFoundError(message, code=code)
    if status == 429 or status >= 500 or code in RETRYABLE_IDS:
        return ProviderError(
            message, code=code, retryable=True, retry_after=retry_after(headers)
        )
    # 401 unauthorized, 403 forbidden, 422 unprocessable_entity, 409 conflict, quota (403 or
    # 422 with a limit message) and anything unknown: the same request fails the same way.
    return ProviderError(message, code=code, retryable=False)


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds until DigitalOcean lets us in again: `ratelimit-reset` is a Unix time."""
    lowered = {k.lower(): v for k, v in headers.items()}
    now = time.time() if now is None else now
    reset = lowered.get("ratelimit-reset")
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            pass
    seconds = lowered.get("retry-after")
    if seconds:
        try:
            return max(0.0, float(seconds))
        except ValueError:
            return None
    return None


@contextmanager
def do_errors(resource_desc: str) -> Iterator[None]:
    """Re-raise pydo/azure-core failures inside the block as classified ProviderErrors."""
    try:
        yield
    except AzureError as error:
        raise classify(error, resource_desc) from error
