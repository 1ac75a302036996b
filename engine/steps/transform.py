"""step.transform: reshape data, with a mapping of templates or a JMESPath expression."""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import field_validator, model_validator

from engine.step_registry import StepCall, StepError, StepType
from engine.steps.config import StepConfig, TemplateString, rendered_mapping
from interfaces import StepResult


class TransformConfig(StepConfig):
    mapping: dict[str, Any] | TemplateString | None = None
    jmespath: str | None = None
    output_key: str | None = None

    @field_validator("jmespath")
    @classmethod
    def _compiles(cls, expression: str | None) -> str | None:
        if expression is not None:
            try:
                jmespath.compile(expression)
            except JMESPathError as exc:
                raise ValueError(f"invalid JMESPath expression {expression!r}: {exc}") from None
        return expression

    @model_validator(mode="after")
    def _one_shape(self) -> TransformConfig:
        if (self.mapping is None) == (self.jmespath is None):
            raise ValueError("give either `mapping` or `jmespath`")
        if self.mapping is not None and self.output_key is not None:
            raise ValueError("`output_key` goes with `jmespath`, not with `mapping`")
        return self


async def execute(config: TransformConfig, call: StepCall) -> StepResult:
    if config.jmespath is None:
        return StepResult(output=rendered_mapping(config.mapping or {}, "mapping"))
    try:
        result = jmespath.search(config.jmespath, call.context.current)
    except JMESPathError as exc:  # e.g. a function applied to the wrong type at run time
        raise StepError(
            f"jmespath {config.jmespath!r}: {exc}", error_type="TransformFailed"
        ) from None
    if config.output_key is None and isinstance(result, dict):
        return StepResult(output=result)
    return StepResult(output={config.output_key or "result": result})


TRANSFORM = StepType(
    name="step.transform",
    config_model=TransformConfig,
    execute=execute,
    # JMESPath has its own braces (`{id: id}`); it must not go through Jinja first.
    raw_fields=frozenset({"jmespath"}),
    description="Build output from a mapping of templates or a JMESPath expression.",
)
