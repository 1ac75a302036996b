"""Turning the errors drivers and stores raise into Temporal's retry decisions, in one place."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from interfaces.errors import ConfigError, DocumentError, ProviderError, StateLockedError

CLOUD_ERRORS = "cloud_call_errors_total"
# Codes are the cloud's own names ("ThrottlingException"), a bounded set; this bounds a driver
# that puts something longer there.
ERROR_CLASS_LIMIT = 64


class StalePlanError(ConfigError):
    """A saved plan whose state serial has moved: its message is the whole story."""


def application_error(error: Exception, doing: str) -> ApplicationError | None:
    """The ApplicationError for a classified error, or None to let the default retry decide.

    `doing` says what failed ("create test.thing web (test)") so the message stands alone.
    """
    if isinstance(error, ProviderError):
        kind = error.code or type(error).__name__
        message = f"{doing}: {error}"
        if error.retryable:
            delay = timedelta(seconds=error.retry_after) if error.retry_after else None
            return ApplicationError(message, type=kind, next_retry_delay=delay)
        return ApplicationError(message, type=kind, non_retryable=True)
    if isinstance(error, StalePlanError):
        return ApplicationError(str(error), type="StalePlan", non_retryable=True)
    if isinstance(error, DocumentError):
        return ApplicationError(str(error), type=error.kind, non_retryable=True)
    if isinstance(error, StateLockedError):
        return ApplicationError(str(error), type="StateLocked", non_retryable=True)
    if isinstance(error, ConfigError):
        return ApplicationError(f"{doing}: {error}", type="ConfigError", non_retryable=True)
    return None


def count_cloud_error(error: ProviderError, provider: str) -> None:
    """cloud_call_errors_total{provider,error_class,retryable}: one per failed attempt, so
    throttling retries show as the load they are. The activity meter adds namespace,
    task_queue and activity_type (the operation) itself."""
    error_class = (error.code or type(error).__name__)[:ERROR_CLASS_LIMIT]
    activity.metric_meter().create_counter(CLOUD_ERRORS, "classified cloud call errors").add(
        1,
        {
            "provider": provider or "unknown",
            "error_class": error_class,
            "retryable": "true" if error.retryable else "false",
        },
    )
