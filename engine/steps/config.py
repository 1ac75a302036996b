"""What every step config model shares.

A config model checks a step twice: on the raw file when the pipeline loads (templates still
unrendered) and on the rendered values just before the step runs. A field that a template may
fill is therefore typed "the real thing, or a template string"; a plain string where a mapping
belongs is still reported at load time.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

from engine.step_registry import StepError
from engine.templates import has_template_syntax


def _must_be_template(value: str) -> str:
    if not has_template_syntax(value):
        raise ValueError("expected a template ({{ ... }}) here, got a plain string")
    return value


TemplateString = Annotated[str, AfterValidator(_must_be_template)]


class StepConfig(BaseModel):
    # A misspelt key is an error when the file loads, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


def rendered_mapping(value: dict[str, Any] | str, field: str) -> dict[str, Any]:
    """The mapping a templated field rendered to; a template that gave text is the step's error."""
    if not isinstance(value, dict):
        raise StepError(
            f"{field} must render to a mapping, got {value!r}", error_type="ConfigError"
        )
    return value


def rendered_list(value: list[Any] | str, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise StepError(f"{field} must render to a list, got {value!r}", error_type="ConfigError")
    return value
