"""step.set: put values into the pipeline state."""

from __future__ import annotations

from typing import Any

from engine.step_registry import StepCall, StepType
from engine.steps.config import StepConfig, TemplateString, rendered_mapping
from interfaces import StepResult


class SetConfig(StepConfig):
    values: dict[str, Any] | TemplateString


async def execute(config: SetConfig, call: StepCall) -> StepResult:
    return StepResult(output=rendered_mapping(config.values, "values"))


SET = StepType(
    name="step.set",
    config_model=SetConfig,
    execute=execute,
    description="Set values (templates rendered) in the pipeline state.",
)
