"""Error types shared across packages, so callers can catch them without importing backends."""

from __future__ import annotations


class WfctlError(Exception):
    """Base of every error wfctl raises on purpose."""


class ConfigError(WfctlError):
    """A document (pipeline config, stack) is invalid; the message says where and why."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class DocumentError(ConfigError):
    """A stack document given by digest that cannot be used: `kind` is UnknownDocument (not
    in the state store) or DocumentMismatch (its text, stack, state or providers are not the
    run's)."""

    def __init__(self, kind: str, problem: str) -> None:
        self.kind = kind
        super().__init__(problem)


class StateLockedError(WfctlError):
    """The stack's state lock is held by someone else."""

    def __init__(self, stack: str, holder: str, expires_at: str) -> None:
        self.stack, self.holder, self.expires_at = stack, holder, expires_at
        super().__init__(f"state of stack {stack!r} is locked by {holder} until {expires_at}")


class ProviderError(WfctlError):
    """A classified cloud error. `retryable` decides the Temporal retry; `code` is the cloud's."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.code, self.retryable, self.retry_after = code, retryable, retry_after
        super().__init__(f"{code}: {message}" if code else message)


class NotFoundError(ProviderError):
    """The resource does not exist in the cloud (drift reports it as a ghost)."""

    def __init__(self, message: str, *, code: str = "NotFound") -> None:
        super().__init__(message, code=code, retryable=False)


class UnsupportedOperationError(ProviderError):
    """An operation the driver does not offer for its type (for example scale of a VPC)."""
