"""step.pipeline_output: declare what the pipeline run returns."""

from __future__ import annotations

from typing import Any

from engine.step_registry import StepCall, StepType
from engine.steps.config import StepConfig, TemplateString, rendered_mapping
from interfaces import StepResult

# The key under which the run's result travels in the step output; the workflow picks it up.
PIPELINE_OUTPUT_KEY = "_pipeline_output"


class PipelineOutputConfig(StepConfig):
    values: dict[str, Any] | TemplateString
    # Answer now and end the run successfully (StepResult.stop), skipping the steps after.
    stop: bool = False


async def execute(config: PipelineOutputConfig, call: StepCall) -> StepResult:
    output = {PIPELINE_OUTPUT_KEY: rendered_mapping(config.values, "values")}
    return StepResult(output=output, stop=config.stop)


PIPELINE_OUTPUT = StepType(
    name="step.pipeline_output",
    config_model=PipelineOutputConfig,
    execute=execute,
    description="Set the result the pipeline run returns.",
)
