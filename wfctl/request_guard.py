"""What a request to `wfctl serve` must pass before its route looks at it.

A browser page of another origin cannot start runs through its visitors' browsers (403), a
body fits in `max_body` bytes (413), the trigger's `auth` checks pass (401; secrets come from
the environment and are compared in constant time), JSON comes as `application/json` (415),
and the body decodes into something a run can take: UTF-8, JSON without NaN, no lone
surrogates, at most MAX_DEPTH levels deep (400). Every refusal is a JSON `{"error": ...}`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import JSONResponse

from engine.pipeline_config import ORIGIN_PATTERN, BearerAuth, HmacAuth, HttpTrigger
from interfaces.errors import ConfigError

DEFAULT_MAX_BODY = 1024 * 1024
# Deeper bodies are refused before a run starts; no real request nests this far.
MAX_DEPTH = 64
_SIZE = re.compile(r"^\s*(\d+)\s*(|b|k|kb|kib|m|mb|mib)\s*$", re.IGNORECASE)
_JSON_TYPE = re.compile(r"^application/([a-z0-9.+-]*\+)?json$")
_FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 1000


@dataclass(frozen=True)
class ServeOptions:
    """What `wfctl serve` is told on its command line."""

    cors_origins: tuple[str, ...] = ()
    max_body: int = DEFAULT_MAX_BODY
    # Where `token_env` / `secret_env` are looked up (the process environment).
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def __post_init__(self) -> None:
        for origin in self.cors_origins:
            if not re.match(ORIGIN_PATTERN, origin):
                raise ValueError(f"--cors-origin {origin!r} is not an origin "
                                 "(scheme://host[:port], or *)")


def parse_size(text: str) -> int:
    """`1048576`, `512KiB`, `1MiB` (K and M are binary) as bytes."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (like 1048576, 512KiB or 1MiB)")
    unit = match.group(2).lower()[:1]
    return int(match.group(1)) * {"": 1, "b": 1, "k": 1024, "m": 1024 * 1024}[unit]


# An auth check answers None when the request passes, else the 401 to send.
AuthCheck = Callable[[Request, bytes], JSONResponse | None]


def guard_for(name: str, trigger: HttpTrigger, options: ServeOptions) -> RequestGuard:
    """The route's guard; ConfigError names every secret missing from the environment."""
    checks: list[AuthCheck] = []
    problems: list[str] = []
    for spec in trigger.auth:
        variable = spec.token_env if isinstance(spec, BearerAuth) else spec.secret_env
        secret = options.environ.get(variable, "")
        if not secret:
            problems.append(f'pipeline "{name}": trigger: auth {spec.type}: the environment '
                            f"variable {variable} is not set")
        elif isinstance(spec, BearerAuth):
            checks.append(_bearer_check(secret))
        else:
            checks.append(_hmac_check(spec, secret))
    if problems:
        raise ConfigError(problems)
    origins = frozenset((*options.cors_origins, *trigger.cors_origins))
    return RequestGuard(origins, options.max_body, checks, form=trigger.form)


def _bearer_check(token: str) -> AuthCheck:
    expected = token.encode()

    def check(request: Request, body: bytes) -> JSONResponse | None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
            return None
        return error(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})

    return check


def _hmac_check(spec: HmacAuth, secret: str) -> AuthCheck:
    key = secret.encode()

    def check(request: Request, body: bytes) -> JSONResponse | None:
        given = request.headers.get(spec.header, "").strip().lower().removeprefix("sha256=")
        expected = hmac.new(key, body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(given.encode(), expected.encode()):
            return None
        return error(
            401, f"missing or wrong signature in {spec.header} (HMAC-SHA256 of the body, hex)",
            {"WWW-Authenticate": f'HMAC-SHA256 header="{spec.header}"'},
        )

    return check


@dataclass(frozen=True)
class RequestGuard:
    """What a request must pass before its route looks at it."""

    origins: frozenset[str]
    max_body: int
    auth: list[AuthCheck]
    # The trigger's `form: true`: url-encoded form bodies are taken too.
    form: bool = False

    def origin_allowed(self, origin: str) -> bool:
        return "*" in self.origins or origin in self.origins

    async def admit(self, request: Request) -> tuple[Any, JSONResponse | None]:
        """The decoded body, or the answer that refuses the request."""
        origin = request.headers.get("origin")
        if origin is not None and not (
            self.origin_allowed(origin) or _same_host(origin, request)
        ):
            return None, error(403, f"requests from origin {origin} are not allowed "
                                     "(wfctl serve --cors-origin, or the trigger's cors_origins)")
        # A cross-site <img> or link to a GET route sends no Origin; the browser still says.
        if origin is None and request.headers.get("sec-fetch-site") == "cross-site":
            return None, error(403, "cross-site requests are not allowed")
        raw = await _read_body(request, self.max_body)
        if isinstance(raw, JSONResponse):
            return None, raw
        for check in self.auth:
            unauthorized = check(request, raw)
            if unauthorized is not None:
                return None, unauthorized
        content_type = request.headers.get("content-type")
        if content_type is not None or raw.strip():
            media = (content_type or "").split(";")[0].strip().lower()
            if self.form and media == _FORM_TYPE:
                form, problem = decode_form(raw)
                return (None, error(400, problem)) if problem is not None else (form, None)
            if not _JSON_TYPE.match(media):
                shown = media or "none"
                return None, error(415, f"the body must be JSON sent as Content-Type: "
                                         f"application/json (got {shown})")
        body, problem = decode_body(raw)
        if problem is not None:
            return None, error(400, problem)
        return body, None


def _same_host(origin: str, request: Request) -> bool:
    """A page of this server (/docs). Host only: behind a TLS proxy the scheme differs."""
    host = request.headers.get("host")
    return host is not None and origin.partition("://")[2] == host


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes | JSONResponse:
    too_big = error(413, f"the body is larger than {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            return error(400, f"invalid Content-Length {declared!r}")
        if int(declared) > limit:
            return too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return too_big
        chunks.append(chunk)
    return b"".join(chunks)


def decode_body(raw: bytes) -> tuple[Any, str | None]:
    """The body as JSON, or why it is not one a run can take."""
    if not raw.strip():
        return {}, None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"the body is not UTF-8: {exc.reason} at byte {exc.start}"
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        return None, f"the body is nested more than {MAX_DEPTH} levels deep"
    except ValueError as exc:
        return None, f"the body is not JSON: {exc}"
    return value, _undecodable(value)


def decode_form(raw: bytes) -> tuple[dict[str, Any], str | None]:
    """A url-encoded form as {name: value}, a repeated name as a list of its values."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=MAX_FORM_FIELDS, errors="strict")
    except UnicodeDecodeError as exc:
        return {}, f"the form is not UTF-8: {exc.reason} at byte {exc.start}"
    except ValueError:
        return {}, f"the form has more than {MAX_FORM_FIELDS} fields"
    form: dict[str, Any] = {}
    for name, value in pairs:
        if name in form:
            form[name] = [*form[name], value] if isinstance(form[name], list) \
                else [form[name], value]
        else:
            form[name] = value
    return form, _undecodable(form)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _undecodable(value: Any) -> str | None:
    """What in a decoded body a run could not take: absurd nesting, lone surrogates."""
    stack: list[tuple[Any, str, int]] = [(value, "$", 1)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"the body is nested more than {MAX_DEPTH} levels deep (at {path[:80]}...)"
        if isinstance(node, str):
            bad = _lone_surrogate(node)
            if bad is not None:
                return f"{path}: {bad}"
        elif isinstance(node, dict):
            for key, item in node.items():
                bad = _lone_surrogate(key)
                if bad is not None:
                    return f"{path}: a key holds {bad}"
                stack.append((item, f"{path}.{key}", depth + 1))
        elif isinstance(node, list):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node))
    return None


def _lone_surrogate(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"a lone surrogate (\\u{ord(text[exc.start]):04x}), which is not Unicode text"
    return None


def cors_headers(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
