"""step.json_response (and its alias step.response): the HTTP answer of the run, then stop.

The spec's step writes to the HTTP connection; ours ends the run with an output that
`wfctl serve` turns into the answer (status, headers, JSON body), so the same pipeline run
from `wfctl pipeline run` or the Temporal CLI shows the answer it would have given.
Strings that render to a JSON object or array are sent as that JSON, not as a string, and
`body_from` / a `{_from: path}` value inject raw data from the state, as the spec does.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import Field

from engine.step_registry import StepCall, StepError, StepType
from engine.steps.config import StepConfig, TemplateString
from engine.steps.paths import lookup
from engine.steps.pipeline_output import PIPELINE_OUTPUT_KEY
from interfaces import PipelineContext, StepResult

# The keys `wfctl serve` reads from a run's output (wfctl.serve._output_response).
RESPONSE_STATUS, RESPONSE_BODY, RESPONSE_HEADERS = (
    "response_status", "response_body", "response_headers")
_HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$"
# How deep `_from` maps and JSON-looking strings are looked for inside a body.
_MAX_BODY_DEPTH = 64


class JsonResponseConfig(StepConfig):
    status: Annotated[int, Field(ge=100, le=599)] | TemplateString = 200
    # A path into the state ("steps.check.code") whose number is the status; falls back to
    # `status` when it is not a valid code, as the spec's does.
    status_from: str = ""
    # A value that renders to a number or bool (`{{ .count }}`) is sent as its text.
    headers: dict[Annotated[str, Field(pattern=_HEADER_NAME)], str | int | float | bool] = Field(
        default_factory=dict)
    body: Any = None
    # A path into the state: "steps.fetch.rows", "steps.fetch", "order", or "." (all of it).
    body_from: str = ""


def resolve_path(path: str, ctx: PipelineContext) -> Any:
    """The spec's resolveBodyFrom: `steps.<name>...` in step outputs, else the state."""
    if path == ".":
        return dict(ctx.current)
    head, _, rest = path.partition(".")
    if head == "steps" and rest:
        name, _, inner = rest.partition(".")
        if name not in ctx.step_outputs:
            return None
        output = ctx.step_outputs[name]
        return output if not inner else lookup(output, inner)[1]
    return lookup(ctx.current, path)[1]


def _decoded(value: Any, ctx: PipelineContext, depth: int = 0) -> Any:
    if depth > _MAX_BODY_DEPTH:
        raise StepError(f"body is nested more than {_MAX_BODY_DEPTH} deep",
                        error_type="ConfigError")
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("_from"), str):
            return resolve_path(value["_from"], ctx)
        return {key: _decoded(item, ctx, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_decoded(item, ctx, depth + 1) for item in value]
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _status(config: JsonResponseConfig, ctx: PipelineContext) -> int:
    if config.status_from:
        found = resolve_path(config.status_from, ctx)
        if isinstance(found, int | float) and not isinstance(found, bool) \
                and found == int(found) and 100 <= found <= 599:
            return int(found)
    if not isinstance(config.status, int) or not 100 <= config.status <= 599:
        raise StepError(f"status must be an HTTP status code (100-599), got {config.status!r}",
                        error_type="ConfigError")
    return config.status


def _header_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def execute(config: JsonResponseConfig, call: StepCall) -> StepResult:
    ctx = call.context
    status = _status(config, ctx)
    if config.body_from:
        body = resolve_path(config.body_from, ctx)
    else:
        body = _decoded(config.body, ctx)
    headers = {name: _header_text(value) for name, value in config.headers.items()}
    for name, value in headers.items():
        if re.search(r"[\r\n\x00]", value):
            raise StepError(f"header {name} holds a line break", error_type="ConfigError")
    answer = {RESPONSE_STATUS: status, RESPONSE_BODY: body, RESPONSE_HEADERS: headers}
    return StepResult(output={PIPELINE_OUTPUT_KEY: answer, "status": status}, stop=True)


def _response_type(name: str) -> StepType:
    return StepType(
        name=name,
        config_model=JsonResponseConfig,
        execute=execute,
        raw_fields=frozenset({"body_from", "status_from"}),
        description="Answer the HTTP request (status, headers, JSON body) and end the run.",
    )


JSON_RESPONSE = _response_type("step.json_response")
RESPONSE = _response_type("step.response")
