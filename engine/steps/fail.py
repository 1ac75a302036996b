"""step.fail: end the run with a failure the pipeline author chose."""

from __future__ import annotations

from typing import Any

from engine.step_registry import StepCall, StepError, StepType
from engine.steps.config import StepConfig
from interfaces import StepResult


class FailConfig(StepConfig):
    message: Any


async def execute(config: FailConfig, call: StepCall) -> StepResult:
    raise StepError(str(config.message), retryable=False, error_type="PipelineFailed")


FAIL = StepType(
    name="step.fail",
    config_model=FailConfig,
    execute=execute,
    description="Fail the pipeline with a message (never retried).",
)
