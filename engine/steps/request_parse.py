"""step.request_parse: the parts of the HTTP request a pipeline asks for, as step output.

`wfctl serve` records the request in the trigger data (`trigger.request`: path_params, query,
headers without credentials, body), so this step only picks from it; a run started any other
way has no request and gets empty parts (and the trigger data's own `body`, if any).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from engine.step_registry import StepCall, StepType
from engine.steps.config import StepConfig
from interfaces import StepResult

_RESERVED = ("body", "headers", "path_params", "query")


class RequestParseConfig(StepConfig):
    path_params: list[str] = Field(default_factory=list)
    query_params: list[str] = Field(default_factory=list)
    parse_headers: list[str] = Field(default_factory=list)
    parse_body: bool = False
    # The spec's aliases of parse_body: true.
    format: Literal["json", "form"] | None = None
    # Also put the body's fields at the top of the output (never over the parts above).
    merge_body: bool = False


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def execute(config: RequestParseConfig, call: StepCall) -> StepResult:
    trigger = call.context.trigger_data
    request = _mapping(trigger.get("request"))
    output: dict[str, Any] = {}
    if config.path_params:
        params = _mapping(request.get("path_params"))
        output["path_params"] = {n: params[n] for n in config.path_params if n in params}
    if config.query_params:
        query = _mapping(request.get("query"))
        output["query"] = {n: query[n] for n in config.query_params if query.get(n) not in
                           (None, "")}
    if config.parse_headers:
        lowered = {str(k).lower(): v for k, v in _mapping(request.get("headers")).items()}
        output["headers"] = {n: lowered.get(n.lower(), "") for n in config.parse_headers}
    if config.parse_body or config.format is not None:
        body = next((b for b in (request.get("body"), trigger.get("body"),
                                 call.context.current.get("body")) if isinstance(b, dict)), None)
        if body is not None:
            output["body"] = body
            if config.merge_body:
                for key, value in body.items():
                    if key not in _RESERVED and key not in output:
                        output[key] = value
    return StepResult(output=output)


REQUEST_PARSE = StepType(
    name="step.request_parse",
    config_model=RequestParseConfig,
    execute=execute,
    description="Pick path parameters, query, headers and body of the HTTP request.",
)
