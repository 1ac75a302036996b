"""The built-in pure steps: deterministic, no I/O, run as Temporal local activities."""

from __future__ import annotations

from engine.step_registry import StepType
from engine.steps.conditional import CONDITIONAL
from engine.steps.fail import FAIL
from engine.steps.gate import GATE
from engine.steps.log import LOG
from engine.steps.pipeline_output import PIPELINE_OUTPUT, PIPELINE_OUTPUT_KEY
from engine.steps.request_parse import REQUEST_PARSE
from engine.steps.response import JSON_RESPONSE, RESPONSE
from engine.steps.set import SET
from engine.steps.transform import TRANSFORM
from engine.steps.validate import VALIDATE

PURE_STEP_TYPES: tuple[StepType, ...] = (
    SET,
    CONDITIONAL,
    LOG,
    VALIDATE,
    TRANSFORM,
    PIPELINE_OUTPUT,
    FAIL,
    JSON_RESPONSE,
    RESPONSE,
    REQUEST_PARSE,
    GATE,
)

__all__ = ["PIPELINE_OUTPUT_KEY", "PURE_STEP_TYPES"]
