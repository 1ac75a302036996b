"""Classification of Google API failures into wfctl's provider errors, in one place.

Three SDK families reach Google here: the GAPIC clients (compute, redis) raise
google.api_core exceptions, the discovery client (Cloud SQL) raises HttpError, and a
long-running operation can end DONE with an error in its body. All of them become a
ProviderError: throttling, 5xx, timeouts and `UNAVAILABLE` are retryable (honouring
Retry-After), quota, validation, auth and conflicts are final and carry Google's code,
and a missing resource is a NotFoundError so drift can call it a ghost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import google.auth.exceptions
import httplib2
import requests
from google.api_core import exceptions as core_exceptions
from googleapiclient.errors import HttpError

from interfaces.errors import NotFoundError, ProviderError
from providers.retry_after import retry_after

# Reasons (REST error bodies) and operation error codes that say "try again later".
RETRYABLE_REASONS = frozenset(
    {
        "rateLimitExceeded",
        "userRateLimitExceeded",
        "backendError",
        "internalError",
        "RATE_LIMIT_EXCEEDED",
        "INTERNAL_ERROR",
        "UNAVAILABLE",
        "SERVICE_UNAVAILABLE",
        "RESOURCE_NOT_READY",
        "RESOURCE_OPERATION_RATE_EXCEEDED",
        "OPERATION_CANCELED_BY_USER",
        "DEADLINE_EXCEEDED",
        "ABORTED",
    }
)
NOT_FOUND_REASONS = frozenset({"notFound", "RESOURCE_NOT_FOUND", "NOT_FOUND"})
# gRPC status codes (long-running operations of the newer APIs report these).
RETRYABLE_RPC_CODES = {4: "DEADLINE_EXCEEDED", 10: "ABORTED", 13: "INTERNAL", 14: "UNAVAILABLE"}
RPC_CODE_NAMES = {
    3: "INVALID_ARGUMENT",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    16: "UNAUTHENTICATED",
    **RETRYABLE_RPC_CODES,
}


def classify(error: BaseException, what: str) -> ProviderError:
    """The ProviderError `error` means for the resource described by `what`."""
    if isinstance(error, ProviderError):
        return error
    if isinstance(error, core_exceptions.GoogleAPICallError):
        response = getattr(error, "response", None)
        headers = getattr(response, "headers", None) or {}
        reason = error.reason or _first_reason(getattr(error, "errors", None) or [])
        return from_status(int(error.code or 0), reason, error.message, what, headers)
    if isinstance(error, HttpError):
        body = _json(error.content)
        details = body.get("error", {}) if isinstance(body.get("error"), dict) else {}
        reason = _first_reason(details.get("errors", [])) or str(details.get("status", ""))
        message = str(details.get("message") or error.reason or error)
        return from_status(int(error.resp.status), reason, message, what, error.resp)
    if isinstance(error, core_exceptions.RetryError | requests.Timeout | TimeoutError):
        return ProviderError(f"{what}: {error}", code="Timeout", retryable=True)
    if isinstance(error, requests.ConnectionError | httplib2.HttpLib2Error | ConnectionError):
        return ProviderError(f"{what}: {error}", code="ConnectionError", retryable=True)
    if isinstance(error, google.auth.exceptions.TransportError):
        return ProviderError(f"{what}: {error}", code="AuthTransport", retryable=True)
    if isinstance(error, google.auth.exceptions.GoogleAuthError):
        return ProviderError(f"{what}: {error}", code="Unauthenticated")
    return ProviderError(f"{what}: {error}", code=type(error).__name__)


def from_status(
    status: int, reason: str, message: str, what: str, headers: Mapping[str, Any]
) -> ProviderError:
    code = reason or str(status)
    text = f"{what}: {message}"
    if status == 404 or reason in NOT_FOUND_REASONS:
        return NotFoundError(text, code=code or "NotFound")
    quota = "quota" in reason.lower() or "QUOTA" in message
    if not quota and (status == 429 or status >= 500 or reason in RETRYABLE_REASONS):
        return ProviderError(text, code=code, retryable=True, retry_after=retry_after(headers))
    # Quota, validation (400), auth (401/403), conflicts (409), preconditions (412).
    return ProviderError(text, code=code, retryable=False)


def operation_error(
    errors: list[tuple[str, str]], http_status: int, what: str
) -> ProviderError:
    """A compute/Cloud SQL operation that ended with `errors` ([(code, message)])."""
    codes = [code for code, _ in errors] or [str(http_status or "OperationFailed")]
    # The first code prefixes the whole message (ProviderError); later ones name themselves.
    parts = [text if i == 0 else f"{code}: {text}" for i, (code, text) in enumerate(errors)]
    text = f"{what}: {'; '.join(parts) or 'operation failed'}"
    if any(code in NOT_FOUND_REASONS for code in codes):
        return NotFoundError(text, code=codes[0])
    retryable = not any("QUOTA" in code for code in codes) and (
        any(code in RETRYABLE_REASONS for code in codes) or http_status >= 500
    )
    return ProviderError(text, code=codes[0], retryable=retryable)


def rpc_error(code: int, message: str, what: str) -> ProviderError:
    """A long-running operation (Memorystore) that ended with google.rpc.Status `code`."""
    name = RPC_CODE_NAMES.get(code, f"RPC_{code}")
    text = f"{what}: {name}: {message}"
    if code == 5:
        return NotFoundError(text, code=name)
    return ProviderError(text, code=name, retryable=code in RETRYABLE_RPC_CODES)


SDK_ERRORS: tuple[type[BaseException], ...] = (
    core_exceptions.GoogleAPIError,
    HttpError,
    requests.RequestException,
    httplib2.HttpLib2Error,
    google.auth.exceptions.GoogleAuthError,
    OSError,
)


@contextmanager
def gcp_errors(what: str) -> Iterator[None]:
    """Re-raise Google SDK failures inside the block as classified ProviderErrors."""
    try:
        yield
    except SDK_ERRORS as error:
        raise classify(error, what) from error


def _first_reason(errors: list[Any]) -> str:
    for item in errors:
        if isinstance(item, Mapping) and item.get("reason"):
            return str(item["reason"])
    return ""


def _json(content: bytes | str | None) -> dict[str, Any]:
    try:
        value = json.loads(content or b"{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
