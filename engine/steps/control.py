"""Steps the workflow runs itself: they wait, branch or loop, so they cannot be one activity.

Their configs are validated like any step's when the file loads (sub-step lists included);
the workflow renders the templated fields and runs each sub-step as its own (local) activity,
timer, child workflow or Update wait, so every piece is in the run's history.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from engine.durations import parse_duration
from engine.pipeline_config import NAME_PATTERN, Duration, StepSpec
from engine.step_registry import StepCall, StepError, StepType
from engine.steps.config import StepConfig, TemplateString
from engine.templates import has_template_syntax
from interfaces import StepResult


def duration_or_template(value: Any) -> Any:
    """A duration checked at load time, or a template checked once rendered."""
    if isinstance(value, str) and has_template_syntax(value):
        return value
    return parse_duration(value)


class ForeachConfig(StepConfig):
    items: list[Any] | TemplateString
    item_var: str = Field("item", pattern=NAME_PATTERN)
    index_var: str = Field("index", pattern=NAME_PATTERN)
    concurrency: Annotated[int, Field(ge=1, le=1000)] | TemplateString = 1
    continue_on_error: bool | TemplateString = False
    steps: list[StepSpec] = Field(min_length=1)

    def sub_steps(self) -> dict[str, list[StepSpec]]:
        return {"steps": self.steps}


class ParallelConfig(StepConfig):
    branches: dict[str, list[StepSpec]] = Field(min_length=1)
    fail_fast: bool | TemplateString = False

    @field_validator("branches")
    @classmethod
    def _branch_names(cls, branches: dict[str, list[StepSpec]]) -> Any:
        for name, steps in branches.items():
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"branch name {name!r} must match {NAME_PATTERN}")
            if not steps:
                raise ValueError(f"branch {name!r} has no steps")
        return branches

    def sub_steps(self) -> dict[str, list[StepSpec]]:
        return {f"branch {name}": steps for name, steps in self.branches.items()}


class CallPipelineConfig(StepConfig):
    pipeline: str = Field(min_length=1)
    mode: Literal["sync", "async"] = "sync"
    input: dict[str, Any] | TemplateString = Field(default_factory=dict)
    # Step output key -> dotted path into the called pipeline's result.
    output_mapping: dict[str, str] = Field(default_factory=dict)
    timeout: Duration | None = None

    @model_validator(mode="after")
    def _mapping_needs_sync(self) -> CallPipelineConfig:
        if self.mode == "async" and self.output_mapping:
            raise ValueError("output_mapping needs mode: sync (an async call has no result)")
        return self


class SleepConfig(StepConfig):
    duration: Any

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return duration_or_template(value)


class WaitForApprovalConfig(StepConfig):
    message: str = ""
    # Longer text, usually rendered from an earlier step's output (workflows.pipeline_approval
    # bounds it).
    details: str = ""
    # Who may decide; empty means anyone who gives a name.
    approvers: list[str] = Field(default_factory=list)
    timeout: Any = None
    on_timeout: Literal["fail", "approve"] = "fail"

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: Any) -> Any:
        return None if value is None else duration_or_template(value)


class RetryWithBackoffConfig(StepConfig):
    max_attempts: Annotated[int, Field(ge=1, le=100)] | TemplateString = 3
    initial_interval: Duration = timedelta(seconds=1)
    backoff: float = Field(2.0, ge=1.0)
    max_interval: Duration = timedelta(minutes=1)
    steps: list[StepSpec] = Field(min_length=1)

    def sub_steps(self) -> dict[str, list[StepSpec]]:
        return {"steps": self.steps}

    def delay_before(self, attempt: int) -> timedelta:
        """The wait before `attempt` (2, 3, ...)."""
        seconds = self.initial_interval.total_seconds() * self.backoff ** (attempt - 2)
        return min(timedelta(seconds=seconds), self.max_interval)


async def _runs_in_workflow(config: Any, call: StepCall) -> StepResult:
    # The workflow dispatches these types itself; reaching an activity means a wiring bug.
    raise StepError(f"step {call.step_name!r} is run by the workflow, not by an activity",
                    error_type="WorkflowStep")


def _control(name: str, model: type[StepConfig], raw: set[str], description: str) -> StepType:
    return StepType(
        name=name,
        config_model=model,
        execute=_runs_in_workflow,
        raw_fields=frozenset(raw),
        description=description,
    )


FOREACH = _control("step.foreach", ForeachConfig, {"steps"},
                   "Run sub-steps once per item of a list, `concurrency` at a time.")
PARALLEL = _control("step.parallel", ParallelConfig, {"branches"},
                    "Run named branches of sub-steps concurrently.")
CALL_PIPELINE = _control("step.call_pipeline", CallPipelineConfig, set(),
                         "Run another pipeline as a child workflow (sync or async).")
SLEEP = _control("step.sleep", SleepConfig, set(), "Wait on a durable timer.")
WAIT_FOR_APPROVAL = _control("step.wait_for_approval", WaitForApprovalConfig, set(),
                             "Wait for the `approve` or `reject` Update.")
RETRY_WITH_BACKOFF = _control("step.retry_with_backoff", RetryWithBackoffConfig, {"steps"},
                              "Run sub-steps again, with growing waits, until they succeed.")

CONTROL_STEP_TYPES: tuple[StepType, ...] = (
    FOREACH, PARALLEL, CALL_PIPELINE, SLEEP, WAIT_FOR_APPROVAL, RETRY_WITH_BACKOFF,
)
CONTROL_TYPES: dict[str, StepType] = {t.name: t for t in CONTROL_STEP_TYPES}
