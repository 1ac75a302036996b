"""The pure step types, run the way the step activity runs them: validate the raw config (load
time), render everything but the raw fields, validate again, execute."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import ValidationError

from engine.step_registry import StepCall, StepError, StepRegistry, StepType
from engine.steps import PIPELINE_OUTPUT_KEY, PURE_STEP_TYPES
from engine.templates import TemplateEngine
from interfaces import PipelineContext, StepResult

REGISTRY = StepRegistry()
for _step_type in PURE_STEP_TYPES:
    REGISTRY.add(_step_type)


def context(**current: Any) -> PipelineContext:
    ctx = PipelineContext.new(current, metadata={"pipeline": "orders"})
    ctx.merge_step_output("lookup", {"customer": {"tier": "gold"}})
    return ctx


async def run_step(type_name: str, config: dict[str, Any], ctx: PipelineContext) -> StepResult:
    step_type: StepType = REGISTRY.get(type_name)
    step_type.config_model.model_validate(config)
    engine = TemplateEngine(strict=True)
    rendered = {
        key: value if key in step_type.raw_fields else engine.render(value, ctx)
        for key, value in config.items()
    }
    call = StepCall(
        pipeline="orders",
        step_name="the-step",
        context=ctx,
        render=lambda value: engine.render(value, ctx),
    )
    return await step_type.execute(step_type.config_model.model_validate(rendered), call)


def load_problems(type_name: str, config: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        REGISTRY.get(type_name).config_model.model_validate(config)
    return str(caught.value)


def test_every_pure_step_is_registered_and_pure() -> None:
    assert REGISTRY.names() == [
        "step.conditional",
        "step.fail",
        "step.gate",
        "step.json_response",
        "step.log",
        "step.pipeline_output",
        "step.request_parse",
        "step.response",
        "step.set",
        "step.transform",
        "step.validate",
    ]
    assert not any(step_type.io for step_type in PURE_STEP_TYPES)
    assert all(step_type.description for step_type in PURE_STEP_TYPES)


async def test_set_renders_values_natively() -> None:
    result = await run_step(
        "step.set",
        {"values": {"total": "{{ amount * 2 }}", "label": "order {{ id }}", "fixed": [1]}},
        context(amount=5, id="o-1"),
    )
    assert result == StepResult(output={"total": 10, "label": "order o-1", "fixed": [1]})


async def test_set_config_errors_are_found_at_load_time() -> None:
    assert "values" in load_problems("step.set", {})
    assert "extra" in load_problems("step.set", {"values": {}, "valeus": {}}).lower()
    assert "template" in load_problems("step.set", {"values": "not a mapping"})
    # A whole mapping may come from a template.
    result = await run_step("step.set", {"values": "{{ steps.lookup }}"}, context())
    assert result.output == {"customer": {"tier": "gold"}}


async def test_set_reports_a_template_that_renders_to_text() -> None:
    with pytest.raises(StepError, match="values must render to a mapping"):
        await run_step("step.set", {"values": "{{ text }}"}, context(text="{{ nested }}"))


@pytest.mark.parametrize(
    ("status", "expected"),
    [("paid", "ship"), ("pending", "wait"), ("refunded", "fallback"), (True, "yes"), (200, "ok")],
)
async def test_conditional_routes_by_field(status: Any, expected: str) -> None:
    config = {
        "field": "order.status",
        "routes": {"paid": "ship", "pending": "wait", True: "yes", 200: "ok"},
        "default": "fallback",
    }
    result = await run_step("step.conditional", config, context(order={"status": status}))
    assert result == StepResult(output={}, next_step=expected)


async def test_conditional_field_may_be_a_template() -> None:
    config = {"field": "{{ steps.lookup.customer.tier }}", "routes": {"gold": "vip"}}
    result = await run_step("step.conditional", config, context())
    assert result.next_step == "vip"


async def test_conditional_without_match_or_default_names_value_and_routes() -> None:
    config = {"field": "order.status", "routes": {"paid": "ship", "pending": "wait"}}
    with pytest.raises(StepError) as caught:
        await run_step("step.conditional", config, context(order={"status": "lost"}))
    assert "'lost'" in str(caught.value) and "paid, pending" in str(caught.value)
    assert caught.value.retryable is False
    with pytest.raises(StepError, match="no value"):
        await run_step("step.conditional", config, context(order={}))


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("amount > 100", "big"),
        ("amount < 100", "small"),
        ("{{ amount > 100 }}", "big"),
        ("{% if amount > 100 %}true{% else %}false{% endif %}", "big"),
        (False, "small"),
    ],
)
async def test_conditional_if_then_else(condition: Any, expected: str) -> None:
    config = {"if": condition, "then": "big", "else": "small"}
    result = await run_step("step.conditional", config, context(amount=500))
    assert result.next_step == expected


async def test_conditional_if_with_empty_branch_continues() -> None:
    config = {"if": "amount > 1", "else": "x"}
    assert await run_step("step.conditional", config, context(amount=2)) == StepResult()


def test_conditional_config_errors() -> None:
    assert "either" in load_problems("step.conditional", {"routes": {"a": "b"}})
    assert "either" in load_problems("step.conditional", {"field": "a", "if": "b", "default": "c"})
    assert "routes" in load_problems("step.conditional", {"field": "a"})
    assert "syntax error" in load_problems("step.conditional", {"if": "amount >", "then": "x"})


async def test_conditional_if_undefined_name_is_a_template_error() -> None:
    with pytest.raises(ValueError, match="'nope' is undefined"):
        await run_step("step.conditional", {"if": "nope > 1", "then": "x"}, context())


async def test_log_writes_to_the_pipeline_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wfctl.pipeline")
    config = {"level": "WARNING", "message": "order {{ id }} is late"}
    result = await run_step("step.log", config, context(id="o-9"))
    assert result == StepResult()
    (record,) = [r for r in caplog.records if r.name == "wfctl.pipeline"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "pipeline orders step the-step: order o-9 is late"
    assert (record.pipeline, record.step_name) == ("orders", "the-step")  # type: ignore[attr-defined]


async def test_log_level_defaults_to_info_and_is_checked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wfctl.pipeline")
    await run_step("step.log", {"message": "{{ amount }}"}, context(amount=3))
    assert caplog.records[-1].levelno == logging.INFO
    assert "level" in load_problems("step.log", {"level": "loud", "message": "x"})
    assert "message" in load_problems("step.log", {})


async def test_validate_required_fields() -> None:
    config = {"strategy": "required_fields", "required_fields": ["order.id", "order.lines.0.sku"]}
    ok = context(order={"id": "o-1", "lines": [{"sku": "s"}]})
    assert await run_step("step.validate", config, ok) == StepResult()
    with pytest.raises(StepError) as caught:
        await run_step("step.validate", config, context(order={"id": None, "lines": []}))
    error = caught.value
    assert (error.error_type, error.retryable) == ("ValidationFailed", False)
    assert "'order.id'" in str(error) and "'order.lines.0.sku'" in str(error)
    assert "2 problems" in str(error)


async def test_validate_json_schema_lists_every_problem() -> None:
    schema = {
        "type": "object",
        "required": ["id", "amount"],
        "properties": {
            "amount": {"type": "number", "exclusiveMinimum": 0},
            "email": {"type": "string", "format": "email"},
            "code": {"type": "string", "pattern": "^[A-Z]{2}$"},
        },
    }
    config = {"strategy": "json_schema", "schema": schema}
    valid = context(id=1, amount=3, code="AB")
    assert await run_step("step.validate", config, valid) == StepResult()
    with pytest.raises(StepError) as caught:
        await run_step("step.validate", config, context(amount=-1, email="nope", code="abc"))
    message = str(caught.value)
    assert caught.value.error_type == "ValidationFailed"
    assert "'id' is a required property" in message
    assert "$.amount" in message and "$.email" in message and "$.code" in message


def test_validate_config_errors() -> None:
    assert "invalid JSON Schema" in load_problems(
        "step.validate", {"strategy": "json_schema", "schema": {"type": "nonsense"}}
    )
    assert "needs a `schema`" in load_problems("step.validate", {"strategy": "json_schema"})
    assert "required_fields" in load_problems(
        "step.validate", {"strategy": "required_fields", "required_fields": []}
    )
    assert "strategy" in load_problems("step.validate", {"strategy": "guess", "schema": {}})


async def test_validate_infers_the_strategy() -> None:
    with pytest.raises(StepError, match="'id'"):
        await run_step("step.validate", {"required_fields": ["id"]}, context())
    with pytest.raises(StepError, match=r"\$: must be of type integer"):
        await run_step("step.validate", {"schema": {"type": "integer"}}, context())


async def test_validate_names_path_and_rule_but_never_the_value() -> None:
    """A failure message lands in history and logs: the value may be a password."""
    secret = "hunter2-value-7f3a"
    schema = {
        "type": "object",
        "properties": {
            "pattern": {"pattern": "^[0-9]+$"},
            "long": {"maxLength": 3},
            "typed": {"type": "integer"},
            "listed": {"enum": ["a", "b"]},
            "fixed": {"const": "x"},
            "mail": {"format": "email"},
            "either": {"anyOf": [{"type": "integer"}, {"type": "boolean"}]},
            "nested": {"type": "object", "additionalProperties": False},
        },
    }
    values = {key: secret for key in schema["properties"]}
    values["nested"] = {"extra": secret}
    with pytest.raises(StepError) as caught:
        await run_step("step.validate", {"schema": schema}, context(**values))
    message = str(caught.value)
    assert secret not in message
    for expected in (
        "$.pattern: must match the pattern '^[0-9]+$'",
        "$.long: must be at most 3 characters long",
        "$.typed: must be of type integer",
        "$.listed: must be one of ['a', 'b']",
        "$.fixed: must equal 'x'",
        "$.mail: must be a valid email",
        "$.either: fails the schema's 'anyOf' rule (at properties/either/anyOf)",
        "$.nested: unexpected 'extra'",
    ):
        assert expected in message


async def test_transform_mapping() -> None:
    config = {"mapping": {"tier": "{{ steps.lookup.customer.tier }}", "n": "{{ items | length }}"}}
    result = await run_step("step.transform", config, context(items=[1, 2, 3]))
    assert result.output == {"tier": "gold", "n": 3}


async def test_transform_jmespath_output_shapes() -> None:
    ctx = context(orders=[{"id": "a", "amount": 5}, {"id": "b", "amount": 50}])
    ids = await run_step("step.transform", {"jmespath": "orders[?amount > `10`].id"}, ctx)
    assert ids.output == {"result": ["b"]}
    config = {"jmespath": "orders[0].id", "output_key": "first"}
    named = await run_step("step.transform", config, ctx)
    assert named.output == {"first": "a"}
    as_dict = await run_step("step.transform", {"jmespath": "{total: sum(orders[].amount)}"}, ctx)
    assert as_dict.output == {"total": 55}
    kept = await run_step(
        "step.transform", {"jmespath": "{total: sum(orders[].amount)}", "output_key": "t"}, ctx
    )
    assert kept.output == {"t": {"total": 55}}


async def test_transform_errors() -> None:
    assert "invalid JMESPath" in load_problems("step.transform", {"jmespath": "orders[?"})
    assert "either" in load_problems("step.transform", {})
    assert "either" in load_problems("step.transform", {"mapping": {}, "jmespath": "a"})
    with pytest.raises(StepError, match="jmespath"):
        await run_step("step.transform", {"jmespath": "sum(name)"}, context(name="x"))


async def test_pipeline_output_wraps_rendered_values() -> None:
    config = {"values": {"tier": "{{ steps.lookup.customer.tier }}", "paid": "{{ amount > 0 }}"}}
    result = await run_step("step.pipeline_output", config, context(amount=1))
    assert result.output == {PIPELINE_OUTPUT_KEY: {"tier": "gold", "paid": True}}
    assert PIPELINE_OUTPUT_KEY == "_pipeline_output"


async def test_fail_is_never_retried() -> None:
    with pytest.raises(StepError) as caught:
        await run_step("step.fail", {"message": "order {{ id }} rejected"}, context(id="o-3"))
    error = caught.value
    assert str(error) == "order o-3 rejected"
    assert (error.error_type, error.retryable, error.retry_after) == ("PipelineFailed", False, None)
    assert "message" in load_problems("step.fail", {})
