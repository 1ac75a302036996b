"""Classification of boto3/botocore failures into wfctl's provider errors, in one place.

Retryable: throttling, 5xx, timeouts and connection failures (each call retries itself first,
see providers/aws/retries.py; then Temporal retries the activity, honouring Retry-After).
Everything else is final: validation, auth, quota, dependency violations carry
the AWS code; a missing resource is a NotFoundError so drift can call it a ghost.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from interfaces.errors import NotFoundError, ProviderError
from providers.retry_after import retry_after

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "PriorRequestNotComplete",
        "ProvisionedThroughputExceededException",
        "BandwidthLimitExceeded",
        "EC2ThrottledException",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "RequestExpired",
    }
)


# Failures before any answer from the service: worth sending the same call again.
RETRYABLE_EXCEPTIONS: tuple[type[Exception], ...] = (
    ConnectTimeoutError,
    ReadTimeoutError,
    EndpointConnectionError,
    ConnectionClosedError,
)


def is_retryable_answer(code: str, status: int) -> bool:
    """Throttling, a transient service error or any 429/5xx: the same request may succeed."""
    return code in THROTTLING_CODES or code in TRANSIENT_CODES or status == 429 or status >= 500


def is_not_found_code(code: str) -> bool:
    """InvalidVpcID.NotFound, DBInstanceNotFound, ResourceNotFoundException, NoSuchBucket..."""
    return "NotFound" in code or code.startswith("NoSuch")


def classify(error: Exception, resource_desc: str) -> ProviderError:
    """The ProviderError a botocore failure means; other exceptions are not ours to classify."""
    if isinstance(error, ProviderError):
        return error
    if isinstance(error, ClientError):
        return _classify_client_error(error, resource_desc)
    if isinstance(error, ConnectTimeoutError | ReadTimeoutError):
        return ProviderError(f"{resource_desc}: {error}", code="Timeout", retryable=True)
    if isinstance(error, EndpointConnectionError | ConnectionClosedError):
        return ProviderError(f"{resource_desc}: {error}", code="ConnectionError", retryable=True)
    if isinstance(error, NoCredentialsError):
        return ProviderError(
            f"{resource_desc}: no AWS credentials found (environment, profile or role)",
            code="NoCredentials",
        )
    if isinstance(error, ResponseParserError):
        # An HTML error page from a proxy or an overloaded endpoint: worth another try.
        return ProviderError(f"{resource_desc}: {error}", code="BadResponse", retryable=True)
    if isinstance(error, ParamValidationError):
        return ProviderError(f"{resource_desc}: {error}", code="ParamValidation")
    return ProviderError(f"{resource_desc}: {error}", code=type(error).__name__)


def _classify_client_error(error: ClientError, resource_desc: str) -> ProviderError:
    body: dict[str, Any] = error.response.get("Error", {})
    meta: dict[str, Any] = error.response.get("ResponseMetadata", {})
    status = int(meta.get("HTTPStatusCode") or 0)
    code = str(body.get("Code") or status or "Unknown")
    message = f"{resource_desc}: {body.get('Message') or error}"
    if is_retryable_answer(code, status):
        return ProviderError(
            message,
            code=code,
            retryable=True,
            retry_after=retry_after(meta.get("HTTPHeaders", {})),
        )
    if is_not_found_code(code) or status == 404:
        # S3's HEAD requests have no body: their code is just "404".
        return NotFoundError(message, code="NotFound" if code == "404" else code)
    # Validation, AccessDenied, quota (*LimitExceeded, *QuotaExceeded), DependencyViolation
    # and anything unknown: retrying the same request would fail the same way.
    return ProviderError(message, code=code, retryable=False)


@contextmanager
def aws_errors(resource_desc: str) -> Iterator[None]:
    """Re-raise botocore failures inside the block as classified ProviderErrors.

    Usable as `with aws_errors("aws infra.vpc net"):` or as a decorator.
    """
    try:
        yield
    except (ClientError, BotoCoreError, ResponseParserError) as error:
        raise classify(error, resource_desc) from error
