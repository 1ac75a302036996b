"""Classification of azure-core failures into wfctl's provider errors, in one place.

Retryable: 429, 5xx, ARM's RetryableError and the "busy" conflicts that clear by themselves,
timeouts and connection failures (Temporal retries them, honouring Retry-After). Everything
else is final and carries ARM's code: InvalidTemplate, AuthorizationFailed, QuotaExceeded,
Conflict... A missing resource (or resource group) is a NotFoundError, so drift calls it a ghost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from interfaces.errors import NotFoundError, ProviderError
from providers.retry_after import retry_after

# Codes ARM answers with while another operation holds the resource or the group: they clear.
RETRYABLE_CODES = frozenset(
    {
        "RetryableError",
        "TooManyRequests",
        "ServerBusy",
        "ServiceUnavailable",
        "InternalServerError",
        "InternalError",
        "GatewayTimeout",
        "AnotherOperationInProgress",
        "OperationNotAllowedWhileUpdating",
        "ResourceGroupBeingDeleted",
        "RetryableErrorDueToAnotherOperation",
    }
)
NOT_FOUND_CODES = frozenset(
    {"ResourceNotFound", "ResourceGroupNotFound", "NotFound", "ParentResourceNotFound"}
)


def classify(error: AzureError, resource_desc: str) -> ProviderError:
    if isinstance(error, HttpResponseError) and error.response is not None:
        return _classify_response(error, resource_desc)
    if isinstance(error, ClientAuthenticationError):
        # No response: the credential chain itself failed (nothing configured, expired login).
        return ProviderError(
            f"{resource_desc}: no usable Azure credential: {error.message}",
            code="NoCredentials",
        )
    if isinstance(error, ServiceRequestError) and "non-TLS" in str(error.message):
        # azure-core refuses to send a bearer token over plain http: no retry will change that.
        return ProviderError(
            f"{resource_desc}: the ARM endpoint must be https ({error.message})",
            code="HttpsRequired",
        )
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return ProviderError(f"{resource_desc}: {error.message}", code="ConnectionError",
                             retryable=True)  # fmt: skip
    return ProviderError(f"{resource_desc}: {error.message}", code=type(error).__name__)


def _classify_response(error: HttpResponseError, resource_desc: str) -> ProviderError:
    status = int(error.status_code or 0)
    code, detail = _code_and_message(error)
    code = code or str(status or "Unknown")
    message = f"{resource_desc}: {detail or error.reason or status}"
    if status == 429 or status >= 500 or code in RETRYABLE_CODES:
        headers = error.response.headers if error.response is not None else {}
        return ProviderError(
            message, code=code, retryable=True, retry_after=retry_after(headers)
        )
    if status == 404 or code in NOT_FOUND_CODES:
        return NotFoundError(message, code=code if code in NOT_FOUND_CODES else "NotFound")
    if status == 401:
        return ProviderError(message, code=code if code != "401" else "AuthenticationFailed")
    # InvalidTemplate, AuthorizationFailed, QuotaExceeded, Conflict and anything unknown:
    # sending the same request again would fail the same way.
    return ProviderError(message, code=code, retryable=False)


def _code_and_message(error: HttpResponseError) -> tuple[str, str]:
    if error.error is not None and error.error.code:
        return str(error.error.code), str(error.error.message or "")
    # A failed long-running operation: its status body is {"status": "Failed", "error": {...}}.
    try:
        body = json.loads(error.response.text()) if error.response is not None else {}
    except (ValueError, TypeError):
        body = {}
    found = body.get("error") if isinstance(body, dict) else None
    if isinstance(found, dict) and found.get("code"):
        return str(found["code"]), str(found.get("message") or "")
    return "", ""


@contextmanager
def azure_errors(resource_desc: str) -> Iterator[None]:
    """Re-raise azure-core failures inside the block as classified ProviderErrors."""
    try:
        yield
    except AzureError as error:
        raise classify(error, resource_desc) from error


def as_plain(value: Any) -> Any:
    """An SDK model (a Mapping over the JSON) as plain dicts and lists."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if isinstance(value, Mapping):
        return {k: as_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_plain(v) for v in value]
    return value
