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
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from jsonschema import Draft202012Validator
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from engine.pipeline_config import HttpTrigger, PipelineDefinition
from wfctl.client import PipelineExecutor

# Request headers that carry credentials never reach the history.
SECRET_HEADER = re.compile(r"auth|cookie|token|secret|api[-_]?key|password|session", re.I)
VALIDATION_STEP = "step.validate"
VALIDATION_ERROR = "ValidationFailed"


def http_pipelines(pipelines: dict[str, PipelineDefinition]) -> dict[str, HttpTrigger]:
    return {
        name: d.spec.trigger
        for name, d in sorted(pipelines.items())
        if isinstance(d.spec.trigger, HttpTrigger)
    }


def build_app(pipelines: dict[str, PipelineDefinition], executor: PipelineExecutor) -> FastAPI:
    app = FastAPI(
        title="wfctl pipelines",
        description="Each route starts a run of the pipeline named in its summary.",
    )
    for name, trigger in http_pipelines(pipelines).items():
        _add_route(app, name, pipelines[name].spec.description, trigger, executor)
    return app


def _add_route(
    app: FastAPI, name: str, description: str, trigger: HttpTrigger, executor: PipelineExecutor
) -> None:
    schema = Draft202012Validator(trigger.request_schema) if trigger.request_schema else None

    async def endpoint(request: Request) -> JSONResponse:
        body, problem = await _json_body(request)
        if problem is None and schema is not None:
            problem = _schema_problem(schema, body)
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
        400: {"description": "the input was refused (request_schema or a step.validate)"},
        500: {"description": "the run failed"},
    }
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


async def _json_body(request: Request) -> tuple[Any, str | None]:
    raw = await request.body()
    if not raw.strip():
        return {}, None
    try:
        return json.loads(raw), None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, f"the body is not JSON: {exc}"


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
) -> None:
    import uvicorn

    config = uvicorn.Config(build_app(pipelines, executor), host=host, port=port,
                            log_level="info", lifespan="off")
    await uvicorn.Server(config).serve()
