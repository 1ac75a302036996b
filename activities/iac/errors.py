"""Turning the errors drivers and stores raise into Temporal's retry decisions, in one place."""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from interfaces.errors import ConfigError, ProviderError, StateLockedError


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
    if isinstance(error, StateLockedError):
        return ApplicationError(str(error), type="StateLocked", non_retryable=True)
    if isinstance(error, ConfigError):
        return ApplicationError(f"{doing}: {error}", type="ConfigError", non_retryable=True)
    return None
