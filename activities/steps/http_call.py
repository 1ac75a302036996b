"""step.http_call: one HTTP request, with failures classified for Temporal's retry policy.

429 and 5xx answers, connection errors and timeouts are retryable (a Retry-After header becomes
the next retry delay); other 4xx answers are not, unless `error_on_status: false` asks for them
as ordinary output.

Every connection passes the worker's egress allow-list (activities.steps.egress); a refused
host is a non-retryable EgressRefused. Every request carries an `Idempotency-Key` that is the
same on each attempt of the step and after a worker crash, so a server can tell a retried POST
from a new one.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import Field, field_validator, model_validator
from temporalio import activity

from activities.steps.egress import EgressRefused, egress_policy, guarded_transport
from engine.durations import parse_duration
from engine.redaction import redact_text, redact_url, url_secrets
from engine.step_registry import StepCall, StepError, StepType
from engine.steps.config import StepConfig, TemplateString, rendered_mapping
from engine.templates import has_template_syntax
from interfaces import StepResult

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DEFAULT_TIMEOUT_SECONDS = 30.0
IDEMPOTENCY_HEADER = "Idempotency-Key"
_BODY_EXCERPT = 200
# Header names whose values must not reach an error message (the Temporal history).
_SECRET_NAME = re.compile(
    r"token|secret|passw|key|auth|sig|credential|session|cookie", re.IGNORECASE
)


class HttpCallConfig(StepConfig):
    method: str = "GET"
    url: str
    headers: dict[str, Any] | TemplateString | None = None
    query: dict[str, Any] | TemplateString | None = None
    # `json` would shadow BaseModel.json; the file still says `json:`.
    json_: Any = Field(default=None, alias="json")
    body: str | None = None
    timeout: float | str = DEFAULT_TIMEOUT_SECONDS
    error_on_status: bool | TemplateString = True
    # Mixed into the Idempotency-Key, for calls one step makes that must not count as one.
    idempotency_key: str | int | None = None

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        if has_template_syntax(method):
            return method
        if method.upper() not in METHODS:
            known = ", ".join(METHODS)
            raise ValueError(f"unknown HTTP method {method!r}; expected one of {known}")
        return method.upper()

    @field_validator("timeout")
    @classmethod
    def _duration(cls, timeout: float | str) -> float | str:
        if isinstance(timeout, str) and has_template_syntax(timeout):
            return timeout
        seconds = parse_duration(timeout).total_seconds()
        if seconds <= 0:
            raise ValueError("timeout must be positive")
        return seconds

    @model_validator(mode="after")
    def _one_body(self) -> HttpCallConfig:
        if self.json_ is not None and self.body is not None:
            raise ValueError("give `json` or `body`, not both")
        return self


async def execute(config: HttpCallConfig, call: StepCall) -> StepResult:
    if not isinstance(config.error_on_status, bool) or not isinstance(config.timeout, float):
        raise StepError(
            "error_on_status must render to a bool and timeout to a duration",
            error_type="ConfigError",
        )
    headers = {
        name: str(value)
        for name, value in rendered_mapping(config.headers or {}, "headers").items()
    }
    query = rendered_mapping(config.query or {}, "query")
    # Query values are masked whatever their name: `?code=` or `?k=` is as good as a token.
    secrets = _secret_values(headers) + _long_enough(
        [*map(str, query.values()), *url_secrets(config.url)]
    )
    where = f"{config.method} {redact_url(config.url)}"
    if not any(name.lower() == IDEMPOTENCY_HEADER.lower() for name in headers):
        headers[IDEMPOTENCY_HEADER] = idempotency_key(call, config.idempotency_key)
    try:
        policy = egress_policy()
    except ValueError as exc:
        raise StepError(f"the worker's egress allow-list: {exc}", error_type="ConfigError") \
            from None
    try:
        async with httpx.AsyncClient(
            timeout=config.timeout, transport=guarded_transport(policy)
        ) as client:
            response = await client.request(
                config.method,
                config.url,
                headers=headers,
                params=query or None,
                json=config.json_,
                content=config.body,
            )
    except EgressRefused as exc:
        raise StepError(f"{where}: {exc}", error_type="EgressRefused") from None
    except httpx.TimeoutException as exc:
        raise StepError(
            f"{where}: timed out after {config.timeout:g}s ({type(exc).__name__})",
            retryable=True,
            error_type="HttpTimeout",
        ) from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise StepError(
            f"{where}: invalid URL: {_scrubbed(str(exc), secrets)}", error_type="InvalidUrl"
        ) from None
    except httpx.TransportError as exc:
        raise StepError(
            f"{where}: {type(exc).__name__}: {_scrubbed(str(exc), secrets)}",
            retryable=True,
            error_type="HttpConnectionError",
        ) from None
    except httpx.HTTPError as exc:  # undecodable content, redirect loops: retrying won't help
        raise StepError(
            f"{where}: {type(exc).__name__}: {_scrubbed(str(exc), secrets)}", error_type="HttpError"
        ) from None
    status = response.status_code
    transient = status == 429 or status >= 500
    if transient or (config.error_on_status and status >= 400):
        raise StepError(
            f"{where} answered {status}: {_excerpt(response.text, secrets)}",
            retryable=transient,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            error_type="HttpError",
        )
    return StepResult(
        output={"status_code": status, "headers": dict(response.headers), "body": _body(response)}
    )


def idempotency_key(call: StepCall, extra: str | int | None) -> str:
    """The step's identity in its run: the workflow id and the activity id (the workflow's
    deterministic sequence number for the step, the same on every attempt and on replay after
    a crash), not the attempt number."""
    if activity.in_activity():
        info = activity.info()
        origin = [info.workflow_id, info.activity_id]
    else:  # run outside a worker (tests, tools): only the step is known
        origin = [call.pipeline]
    parts = [*origin, call.step_name, "" if extra is None else str(extra)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _body(response: httpx.Response) -> Any:
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return response.json()
        except ValueError:  # a server that says JSON and sends something else
            pass
    return response.text


def _secret_values(fields: dict[str, Any]) -> list[str]:
    return _long_enough([str(value) for name, value in fields.items() if _SECRET_NAME.search(name)])


def _long_enough(values: list[str]) -> list[str]:
    # Short values ("1", "on") would blank out unrelated text and protect nothing.
    return [value for value in values if len(value) >= 4]


def _scrubbed(text: str, secrets: list[str]) -> str:
    """Text for an error message: URLs redacted, and no secret of this request left in it."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return redact_text(text)


def _excerpt(text: str, secrets: list[str]) -> str:
    """The start of a response body, minus any secret the server echoed back."""
    flat = " ".join(_scrubbed(text, secrets).split())
    return flat if len(flat) <= _BODY_EXCERPT else flat[:_BODY_EXCERPT] + "..."


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (delta seconds or an HTTP date) as seconds from now."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


HTTP_CALL = StepType(
    name="step.http_call",
    config_model=HttpCallConfig,
    execute=execute,
    io=True,
    description="Make an HTTP request; 429/5xx and connection errors are retried.",
)
