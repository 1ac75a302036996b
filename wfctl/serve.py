"""`wfctl serve`: pipelines with an http trigger as HTTP routes (FastAPI on uvicorn).

    pipelines:
      orders:
        trigger: {type: http, path: /orders, method: POST}

A request becomes the run's trigger data: the JSON body's fields at the top level (so the same
pipeline runs from `wfctl pipeline run`), and `request` with method, path, path_params, query,
headers (without credentials) and body. The answer is the run's output with 200, or its
`response_status` / `response_body` / `response_headers` (what step.json_response
sets); 202 with the workflow id for `async: true`; 400 when a validation step (or the
trigger's request_schema) refused the input; 500 for any other failure, with the workflow
id to look the run up and nothing of its internals.

Runs start through PipelineExecutor, so they carry PipelineName and show in
`wfctl pipeline list` and the web UI like any other run.

Before a run starts, a request passes wfctl.request_guard (origin, size, auth, content type,
decoding); CORS preflight is answered only for the origins configured. Every answer is JSON.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from jsonschema import Draft202012Validator
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from engine.pipeline_config import (
    HmacAuth,
    HttpTrigger,
    PipelineDefinition,
)
from interfaces.errors import ConfigError
from wfctl.client import PipelineExecutor
from wfctl.codec import EncryptionKeysMissing
from wfctl.request_guard import RequestGuard, ServeOptions, cors_headers, error, guard_for

log = logging.getLogger("wfctl.serve")

# Request headers that carry credentials never reach the history.
SECRET_HEADER = re.compile(r"auth|cookie|token|secret|api[-_]?key|password|session", re.I)
VALIDATION_STEP = "step.validate"
VALIDATION_ERROR = "ValidationFailed"
# What a step.json_response may set as response headers (RFC 9110 tokens, no line breaks).
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")
_BAD_HEADER_VALUE = re.compile(r"[\r\n\x00]")


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
    guards: dict[str, RequestGuard] = {}
    problems: list[str] = []
    for name, trigger in routes.items():
        try:
            guards[name] = guard_for(name, trigger, options)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    app = FastAPI(
        title="wfctl pipelines",
        description="Each route starts a run of the pipeline named in its summary.",
    )
    for name, trigger in routes.items():
        _add_route(app, name, pipelines[name].spec.description, trigger, executor, guards[name])
    for path in sorted({t.path for t in routes.values()}):
        _add_preflight(app, path, [t for t in routes.values() if t.path == path], options)
    return app


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
            return error(403, f"CORS: origin {origin or 'none'} may not {method or 'call'} "
                               f"{path}")
        return Response(status_code=204, headers={
            **cors_headers(origin),
            "Access-Control-Allow-Methods": method,
            "Access-Control-Allow-Headers": ", ".join(headers),
            "Access-Control-Max-Age": "600",
        })

    app.add_api_route(path, preflight, methods=["OPTIONS"], include_in_schema=False)


def _add_route(
    app: FastAPI,
    name: str,
    description: str,
    trigger: HttpTrigger,
    executor: PipelineExecutor,
    guard: RequestGuard,
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
        except EncryptionKeysMissing as exc:
            # The server's own configuration, not a bug: one line, and the caller is told
            # only that the run happened.
            log.error("%s %s: %s: %s", request.method, request.url.path, handle.id, exc)
            return JSONResponse({"error": "the server cannot read the run's result",
                                 "workflow_id": handle.id}, status_code=500)
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
    run: Callable[[Request], Awaitable[JSONResponse]], guard: RequestGuard
) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The route: CORS headers for an allowed origin, and JSON even when something broke."""

    async def endpoint(request: Request) -> JSONResponse:
        try:
            response = await run(request)
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            response = error(500, "internal error")
        origin = request.headers.get("origin")
        if origin is not None and guard.origin_allowed(origin):
            response.headers.update(cors_headers(origin))
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
        headers = output.get("response_headers") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and _HEADER_NAME.match(k) and isinstance(v, str)
            and not _BAD_HEADER_VALUE.search(v) for k, v in headers.items()
        ):
            return JSONResponse({"error": "the run gave invalid response_headers"},
                                status_code=500)
        return JSONResponse(output.get("response_body"), status_code=code, headers=headers)
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


def application_address(path: Path) -> tuple[str | None, int | None]:
    """(host, port) of an application file's http.server module; (None, None) for a native
    pipeline file or folder, or an application file without one. A bare ":8080" (every
    interface, in the spec engine) gives no host: wfctl binds loopback unless told."""
    from engine.appfile import is_application_file, load_application
    from engine.bounded_yaml import load_yaml, read_document

    if not path.is_file() or not is_application_file(
            load_yaml(read_document(path), str(path))):
        return None, None
    address = load_application(path, skip_unknown=True).http_address
    if not address:
        return None, None
    host, _, port = address.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{path}: http.server address {address!r} has no valid port")
    return host.strip("[]") or None, int(port)


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
