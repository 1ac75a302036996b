"""`wfctl serve`: pipelines with an http trigger as HTTP routes (FastAPI on uvicorn).

    pipelines:
      orders:
        trigger: {type: http, path: /orders, method: POST}

A request becomes the run's trigger data: the JSON body's fields at the top level (so the same
pipeline runs from `wfctl pipeline run`), and `request` with method, path, path_params, query,
headers (without credentials) and body. The answer is the run's output with 200, or its
`response_status` / `response_body`; 202 with the workflow id for `async: true`; 400 when a
validation step (or the trigger's request_schema) refused the input; 500 for any other failure,
with the workflow id to look the run up and nothing of its internals.

Runs start through PipelineExecutor, so they carry PipelineName and show in
`wfctl pipeline list` and the web UI like any other run.

Before a run starts, a request must: come from no browser or from an allowed origin (403; a
page elsewhere cannot start runs with its visitors' browsers), fit in `max_body` bytes (413),
pass the trigger's `auth` checks (401), send JSON as `application/json` (415), and decode:
UTF-8, JSON, no lone surrogates, at most MAX_DEPTH levels deep (400). Every answer is JSON.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from jsonschema import Draft202012Validator
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from engine.pipeline_config import BearerAuth, HmacAuth, HttpTrigger, PipelineDefinition
from interfaces.errors import ConfigError
from wfctl.client import PipelineExecutor

log = logging.getLogger("wfctl.serve")

# Request headers that carry credentials never reach the history.
SECRET_HEADER = re.compile(r"auth|cookie|token|secret|api[-_]?key|password|session", re.I)
VALIDATION_STEP = "step.validate"
VALIDATION_ERROR = "ValidationFailed"
DEFAULT_MAX_BODY = 1024 * 1024
# Deeper bodies are refused before a run starts; no real request nests this far.
MAX_DEPTH = 64
_SIZE = re.compile(r"^\s*(\d+)\s*(|b|k|kb|kib|m|mb|mib)\s*$", re.IGNORECASE)
_JSON_TYPE = re.compile(r"^application/([a-z0-9.+-]*\+)?json$")


@dataclass(frozen=True)
class ServeOptions:
    """What `wfctl serve` is told on its command line."""

    cors_origins: tuple[str, ...] = ()
    max_body: int = DEFAULT_MAX_BODY
    # Where `token_env` / `secret_env` are looked up (the process environment).
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)


def parse_size(text: str) -> int:
    """`1048576`, `512KiB`, `1MiB` (K and M are binary) as bytes."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (like 1048576, 512KiB or 1MiB)")
    unit = match.group(2).lower()[:1]
    return int(match.group(1)) * {"": 1, "b": 1, "k": 1024, "m": 1024 * 1024}[unit]


def http_pipelines(pipelines: dict[str, PipelineDefinition]) -> dict[str, HttpTrigger]:
    return {
        name: d.spec.trigger
        for name, d in sorted(pipelines.items())
        if isinstance(d.spec.trigger, HttpTrigger)
    }


def build_app(
    pipelines: dict[str, PipelineDefinition],
    executor: PipelineExecutor,
    options: ServeOptions | None = None,
) -> FastAPI:
    """The app; raises ConfigError when a secret a trigger's `auth` names is not set."""
    options = options or ServeOptions()
    routes = http_pipelines(pipelines)
    checks = {name: _auth_checks(name, trigger, options.environ)
              for name, trigger in routes.items()}
    problems = [p for found in checks.values() for p in found if isinstance(p, str)]
    if problems:
        raise ConfigError(problems)
    app = FastAPI(
        title="wfctl pipelines",
        description="Each route starts a run of the pipeline named in its summary.",
    )
    for name, trigger in routes.items():
        auth = [c for c in checks[name] if not isinstance(c, str)]
        origins = frozenset((*options.cors_origins, *trigger.cors_origins))
        _add_route(app, name, pipelines[name].spec.description, trigger, executor,
                   _Guard(origins, options.max_body, auth))
    for path in sorted({t.path for t in routes.values()}):
        _add_preflight(app, path, [t for t in routes.values() if t.path == path], options)
    return app


# An auth check answers None when the request passes, else the 401 to send.
AuthCheck = Callable[[Request, bytes], JSONResponse | None]


def _auth_checks(
    name: str, trigger: HttpTrigger, environ: Mapping[str, str]
) -> list[AuthCheck | str]:
    """The trigger's checks, or a problem for each secret missing from the environment."""
    found: list[AuthCheck | str] = []
    for spec in trigger.auth:
        variable = spec.token_env if isinstance(spec, BearerAuth) else spec.secret_env
        secret = environ.get(variable, "")
        if not secret:
            found.append(f'pipeline "{name}": trigger: auth {spec.type}: the environment '
                         f"variable {variable} is not set")
        elif isinstance(spec, BearerAuth):
            found.append(_bearer_check(secret))
        else:
            found.append(_hmac_check(spec, secret))
    return found


def _bearer_check(token: str) -> AuthCheck:
    expected = token.encode()

    def check(request: Request, body: bytes) -> JSONResponse | None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
            return None
        return _error(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})

    return check


def _hmac_check(spec: HmacAuth, secret: str) -> AuthCheck:
    key = secret.encode()

    def check(request: Request, body: bytes) -> JSONResponse | None:
        given = request.headers.get(spec.header, "").strip().lower().removeprefix("sha256=")
        expected = hmac.new(key, body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(given.encode(), expected.encode()):
            return None
        return _error(
            401, f"missing or wrong signature in {spec.header} (HMAC-SHA256 of the body, hex)",
            {"WWW-Authenticate": f'HMAC-SHA256 header="{spec.header}"'},
        )

    return check


@dataclass(frozen=True)
class _Guard:
    """What a request must pass before its route looks at it."""

    origins: frozenset[str]
    max_body: int
    auth: list[AuthCheck]

    def origin_allowed(self, origin: str) -> bool:
        return "*" in self.origins or origin in self.origins

    async def admit(self, request: Request) -> tuple[Any, JSONResponse | None]:
        """The decoded body, or the answer that refuses the request."""
        origin = request.headers.get("origin")
        if origin is not None and not (
            self.origin_allowed(origin) or origin == _own_origin(request)
        ):
            return None, _error(403, f"requests from origin {origin} are not allowed "
                                     "(wfctl serve --cors-origin, or the trigger's cors_origins)")
        # A cross-site <img> or link to a GET route sends no Origin; the browser still says.
        if origin is None and request.headers.get("sec-fetch-site") == "cross-site":
            return None, _error(403, "cross-site requests are not allowed")
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
            if not _JSON_TYPE.match(media):
                shown = media or "none"
                return None, _error(415, f"the body must be JSON sent as Content-Type: "
                                         f"application/json (got {shown})")
        body, problem = decode_body(raw)
        if problem is not None:
            return None, _error(400, problem)
        return body, None


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes | JSONResponse:
    too_big = _error(413, f"the body is larger than {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            return _error(400, f"invalid Content-Length {declared!r}")
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


def _add_preflight(
    app: FastAPI, path: str, triggers: list[HttpTrigger], options: ServeOptions
) -> None:
    """CORS preflight for the path: an answer only for an allowed origin and method."""
    allowed = {t.method: frozenset((*options.cors_origins, *t.cors_origins)) for t in triggers}
    headers = sorted({"Content-Type", "Authorization",
                      *(a.header for t in triggers for a in t.auth if isinstance(a, HmacAuth))})

    async def preflight(request: Request) -> Response:
        origin = request.headers.get("origin", "")
        method = request.headers.get("access-control-request-method", "").upper()
        origins = allowed.get(method, frozenset())
        if not origin or not ("*" in origins or origin in origins):
            return _error(403, f"CORS: origin {origin or 'none'} may not {method or 'call'} "
                               f"{path}")
        return Response(status_code=204, headers={
            **_cors_headers(origin),
            "Access-Control-Allow-Methods": method,
            "Access-Control-Allow-Headers": ", ".join(headers),
            "Access-Control-Max-Age": "600",
        })

    app.add_api_route(path, preflight, methods=["OPTIONS"], include_in_schema=False)


def _cors_headers(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _add_route(
    app: FastAPI,
    name: str,
    description: str,
    trigger: HttpTrigger,
    executor: PipelineExecutor,
    guard: _Guard,
) -> None:
    schema = Draft202012Validator(trigger.request_schema) if trigger.request_schema else None

    async def run(request: Request) -> JSONResponse:
        body, refused = await guard.admit(request)
        if refused is not None:
            return refused
        problem = _schema_problem(schema, body) if schema is not None else None
        if problem is not None:
            return JSONResponse({"error": problem}, status_code=400)
        data = trigger_data(request, body)
        try:
            handle = await executor.start_pipeline(name, data)
        except RPCError:
            return JSONResponse({"error": "cannot start the run now"}, status_code=503)
        if trigger.async_:
            return JSONResponse({"workflow_id": handle.id}, status_code=202)
        try:
            output = await asyncio.wait_for(handle.result(), trigger.timeout.total_seconds())
        except TimeoutError:
            return JSONResponse(
                {"error": f"no answer within {trigger.timeout}; the run goes on",
                 "workflow_id": handle.id},
                status_code=504,
            )
        except WorkflowFailureError as exc:
            return _failure_response(exc, handle.id)
        return _output_response(output)

    endpoint = _answering_json(run, guard)

    extra: dict[str, Any] = {}
    params = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
        for p in trigger.path_params()
    ]
    if params:
        extra["parameters"] = params
    if trigger.request_schema is not None:
        extra["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": trigger.request_schema}},
        }
    responses: dict[int | str, dict[str, Any]] = {
        400: {"description": "the input was refused (undecodable, request_schema or a "
                             "step.validate)"},
        403: {"description": "a browser request from an origin that is not allowed"},
        413: {"description": "the body is too large"},
        415: {"description": "the body is not sent as application/json"},
        500: {"description": "the run failed"},
    }
    if trigger.auth:
        responses[401] = {"description": "the request did not pass the trigger's auth"}
    if trigger.async_:
        responses[202] = {"description": "started; the body holds the workflow id"}
    app.add_api_route(
        trigger.path,
        endpoint,
        methods=[trigger.method],
        name=name,
        operation_id="run_" + re.sub(r"\W", "_", name),
        summary=f"Run pipeline {name}",
        description=description or None,
        responses=responses,
        status_code=202 if trigger.async_ else 200,
        openapi_extra=extra or None,
        tags=["pipelines"],
    )


def _answering_json(
    run: Callable[[Request], Awaitable[JSONResponse]], guard: _Guard
) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The route: CORS headers for an allowed origin, and JSON even when something broke."""

    async def endpoint(request: Request) -> JSONResponse:
        try:
            response = await run(request)
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            response = _error(500, "internal error")
        origin = request.headers.get("origin")
        if origin is not None and guard.origin_allowed(origin):
            response.headers.update(_cors_headers(origin))
        return response

    return endpoint


def _schema_problem(schema: Draft202012Validator, body: Any) -> str | None:
    errors = sorted(schema.iter_errors(body), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    return "request body: " + "; ".join(f"{e.json_path}: {e.message}" for e in errors)


def trigger_data(request: Request, body: Any) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        query[key] = values[0] if len(values) == 1 else values
    headers = {k: v for k, v in request.headers.items() if not SECRET_HEADER.search(k)}
    described = {
        "method": request.method,
        "path": request.url.path,
        "path_params": dict(request.path_params),
        "query": query,
        "headers": headers,
        "body": body,
    }
    fields = body if isinstance(body, dict) else {}
    return {**fields, "request": described}


def _output_response(output: Any) -> JSONResponse:
    if isinstance(output, dict) and ("response_status" in output or "response_body" in output):
        status = output.get("response_status", 200)
        try:
            code = int(status)
        except (TypeError, ValueError):
            code = 0
        if not 100 <= code <= 599:
            return JSONResponse({"error": "the run gave an invalid response_status"},
                                status_code=500)
        return JSONResponse(output.get("response_body"), status_code=code)
    return JSONResponse(output, status_code=200)


def _failure_response(exc: WorkflowFailureError, workflow_id: str) -> JSONResponse:
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.details:
        details = cause.details[0]
        if isinstance(details, dict) and (
            details.get("step_type") == VALIDATION_STEP
            or details.get("error_type") == VALIDATION_ERROR
        ):
            return JSONResponse(
                {"error": details.get("reason", cause.message), "step": details.get("step"),
                 "workflow_id": workflow_id},
                status_code=400,
            )
    return JSONResponse({"error": "the pipeline run failed", "workflow_id": workflow_id},
                        status_code=500)


async def serve_http(
    pipelines: dict[str, PipelineDefinition],
    executor: PipelineExecutor,
    host: str,
    port: int,
    options: ServeOptions | None = None,
) -> None:
    import uvicorn

    config = uvicorn.Config(build_app(pipelines, executor, options), host=host, port=port,
                            log_level="info", lifespan="off")
    await uvicorn.Server(config).serve()
