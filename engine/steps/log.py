"""step.log: write a message to the worker's log."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import field_validator

from engine.step_registry import StepCall, StepError, StepType
from engine.steps.config import StepConfig, TemplateString
from engine.templates import has_template_syntax
from interfaces import StepResult

logger = logging.getLogger("wfctl.pipeline")

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class LogConfig(StepConfig):
    level: Literal["debug", "info", "warning", "error"] | TemplateString = "info"
    message: Any

    @field_validator("level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, str) and not has_template_syntax(value):
            return value.lower()
        return value


async def execute(config: LogConfig, call: StepCall) -> StepResult:
    level = _LEVELS.get(config.level)
    if level is None:
        raise StepError(
            f"level rendered to {config.level!r}; expected one of {', '.join(_LEVELS)}",
            error_type="ConfigError",
        )
    logger.log(
        level,
        "pipeline %s step %s: %s",
        call.pipeline,
        call.step_name,
        config.message,
        extra={"pipeline": call.pipeline, "step_name": call.step_name},
    )
    return StepResult()


LOG = StepType(
    name="step.log",
    config_model=LogConfig,
    execute=execute,
    description="Log a message at debug, info, warning or error level.",
)
