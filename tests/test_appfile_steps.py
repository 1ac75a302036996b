"""The spec's step types as pure steps: step.json_response, step.request_parse, step.gate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from engine.step_registry import StepCall, StepError
from engine.steps.gate import GATE, GateConfig, GateWindow
from engine.steps.request_parse import REQUEST_PARSE, RequestParseConfig
from engine.steps.response import JSON_RESPONSE, JsonResponseConfig
from interfaces import PipelineContext


def call(ctx: PipelineContext) -> StepCall:
    return StepCall(pipeline="p", step_name="s", context=ctx, render=lambda v: v)


def state() -> PipelineContext:
    ctx = PipelineContext.new({"order": {"id": "A-1"}}, {})
    ctx.merge_step_output("fetch", {"rows": [{"n": 1}], "code": 404})
    return ctx


async def respond(**config: Any) -> dict[str, Any]:
    result = await JSON_RESPONSE.execute(JsonResponseConfig(**config), call(state()))
    assert result.stop is True  # the run ends at a json_response
    return result.output["_pipeline_output"]


async def test_json_response_bodies_and_status_as_the_spec_resolves_them() -> None:
    assert (await respond(body_from="steps.fetch.rows"))["response_body"] == [{"n": 1}]
    assert (await respond(body_from="steps.fetch"))["response_body"] == {
        "rows": [{"n": 1}], "code": 404}
    assert (await respond(body_from="order.id"))["response_body"] == "A-1"
    assert (await respond(body_from="steps.ghost"))["response_body"] is None
    nested = await respond(body={"rows": {"_from": "steps.fetch.rows"}, "raw": "[1, 2]",
                                 "text": "[not json", "n": 3})
    assert nested["response_body"] == {"rows": [{"n": 1}], "raw": [1, 2], "text": "[not json",
                                       "n": 3}
    assert (await respond(status_from="steps.fetch.code", status=200))["response_status"] == 404
    # Not a status code: the static status, as in the spec.
    assert (await respond(status_from="order.id", status=201))["response_status"] == 201
    headers = await respond(headers={"X-N": 2, "X-Ok": True})
    assert headers["response_headers"] == {"X-N": "2", "X-Ok": "true"}


async def test_json_response_refuses_what_would_break_the_answer() -> None:
    with pytest.raises(StepError, match="header X-A holds a line break"):
        await respond(headers={"X-A": "a\r\nSet-Cookie: x=1"})
    with pytest.raises(ValidationError):
        JsonResponseConfig(headers={"Bad Header": "x"})
    with pytest.raises(ValidationError):
        JsonResponseConfig(status=700)
    deep: Any = "x"
    for _ in range(80):
        deep = [deep]
    with pytest.raises(StepError, match="nested more than"):
        await respond(body=deep)


async def test_request_parse_picks_the_parts_asked_for() -> None:
    ctx = PipelineContext.new({"name": "ann", "request": {
        "path_params": {"id": "7", "other": "x"}, "query": {"q": "a", "empty": ""},
        "headers": {"x-tenant": "t"}, "body": {"name": "ann", "query": "no"}}}, {})
    config = RequestParseConfig(path_params=["id", "missing"], query_params=["q", "empty"],
                                parse_headers=["X-Tenant", "X-None"], format="json",
                                merge_body=True)
    output = (await REQUEST_PARSE.execute(config, call(ctx))).output
    assert output == {"path_params": {"id": "7"}, "query": {"q": "a"},
                      "headers": {"X-Tenant": "t", "X-None": ""},
                      "body": {"name": "ann", "query": "no"}, "name": "ann"}
    # Started without HTTP: empty parts, and the trigger data's own body.
    plain = PipelineContext.new({"body": {"k": 1}}, {})
    output = (await REQUEST_PARSE.execute(
        RequestParseConfig(path_params=["id"], parse_body=True), call(plain))).output
    assert output == {"path_params": {}, "body": {"k": 1}}


async def test_gates_give_a_verdict_and_manual_ones_are_approvals() -> None:
    ctx = PipelineContext.new({"env": "prod", "checks": {"green": True}}, {})
    passed = await GATE.execute(GateConfig(
        type="automated", auto_approve_conditions=["checks.green == true", "env == prod"]),
        call(ctx))
    assert passed.output["gate_result"] == {"passed": True, "type": "automated",
                                            "reason": "all conditions met"}
    failed = await GATE.execute(GateConfig(
        type="automated", auto_approve_conditions=["env == staging"]), call(ctx))
    assert failed.output["gate_result"]["reason"] == "condition not met: env == staging"
    open_all_day = await GATE.execute(GateConfig(type="scheduled"), call(ctx))
    assert open_all_day.output["gate_result"]["passed"] is True
    window = GateWindow(weekdays=["mon", "Tuesday"], start_hour=22, end_hour=6)
    assert window.contains(datetime(2026, 12, 1, 23))  # a Tuesday night, across midnight
    assert not window.contains(datetime(2026, 12, 1, 12))
    assert not window.contains(datetime(2026, 12, 2, 23))  # a Wednesday
    with pytest.raises(ValidationError, match="is a step.wait_for_approval"):
        GateConfig(type="manual")
    with pytest.raises(ValidationError, match="not a weekday"):
        GateWindow(weekdays=["someday"])
