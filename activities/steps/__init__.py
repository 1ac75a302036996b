"""The built-in I/O steps: they run as Temporal activities, retried by the step's policy."""

from __future__ import annotations

from activities.steps.http_call import HTTP_CALL
from engine.step_registry import StepType

IO_STEP_TYPES: tuple[StepType, ...] = (HTTP_CALL,)

__all__ = ["IO_STEP_TYPES"]
