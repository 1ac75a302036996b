"""Pipeline-side data types of the spec: the execution context and a step's result."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, Field


class PipelineContext(BaseModel):
    """What a step sees: the trigger data, every earlier step's output, and the merged state."""

    trigger_data: dict[str, Any] = Field(default_factory=dict)
    step_outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    current: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def new(
        cls, trigger_data: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None
    ) -> PipelineContext:
        data = trigger_data or {}
        # Separate copies: a step that mutates `current` must not rewrite the trigger.
        return cls(
            trigger_data=copy.deepcopy(data),
            current=copy.deepcopy(data),
            metadata=dict(metadata or {}),
        )

    def merge_step_output(self, name: str, output: dict[str, Any]) -> None:
        """Record a step's output under its name and shallow-merge it into `current`."""
        self.step_outputs[name] = copy.deepcopy(output)
        self.current.update(copy.deepcopy(output))


class StepResult(BaseModel):
    """A step's output, plus the two control signals a step may give."""

    output: dict[str, Any] = Field(default_factory=dict)
    next_step: str = ""
    stop: bool = False
