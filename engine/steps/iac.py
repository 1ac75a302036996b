"""The IaC step types: plan, apply, destroy, drift, status and outputs of a stack.

The workflow runs each as the stack's own workflow (PlanWorkflow, ApplyWorkflow, ...) started
as a child, so a pipeline's apply and a `wfctl infra apply` of the same stack take the same
lock (workflows/pipeline_iac.py). Their configs are validated when the file loads like any
step's; templated fields are checked again once rendered.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from engine.step_registry import StepType
from engine.steps.config import StepConfig, TemplateString
from engine.steps.control import _runs_in_workflow


class IacStepConfig(StepConfig):
    # A stack file, resolved against the folder of the pipeline file declaring the step.
    stack: str = ""
    # Or the stack document inline (its templates rendered like any field's).
    document: dict[str, Any] | TemplateString | None = None
    targets: list[str] | TemplateString = Field(default_factory=list)
    parallelism: Annotated[int, Field(ge=1, le=1000)] | TemplateString = 10
    rollback: bool | TemplateString = False
    allow_replace: list[str] | TemplateString = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_source(self) -> IacStepConfig:
        if bool(self.stack) == (self.document is not None):
            raise ValueError("give exactly one of `stack` (a stack file) or `document`")
        return self


class IacApplyConfig(IacStepConfig):
    # A saved plan's id, usually "{{ steps.<plan step>.plan_id }}"; empty plans anew.
    plan: str = ""


def _iac(name: str, model: type[IacStepConfig], description: str) -> StepType:
    return StepType(
        name=name, config_model=model, execute=_runs_in_workflow, description=description
    )


IAC_STEP_TYPES: tuple[StepType, ...] = (
    _iac("step.iac_plan", IacStepConfig, "Plan a stack and save the plan (PlanWorkflow)."),
    _iac("step.iac_apply", IacApplyConfig,
         "Apply a stack, or exactly a saved plan of it (ApplyWorkflow, the stack's lock)."),
    _iac("step.iac_destroy", IacStepConfig, "Destroy a stack or its targets (DestroyWorkflow)."),
    _iac("step.iac_drift", IacStepConfig, "Compare a stack's state with the cloud."),
    _iac("step.iac_drift_detect", IacStepConfig, "Alias of step.iac_drift."),
    _iac("step.iac_status", IacStepConfig, "Live status of a stack's recorded resources."),
    _iac("step.iac_outputs", IacStepConfig, "A stack's recorded outputs, sensitive ones omitted."),
)
IAC_TYPES: dict[str, StepType] = {t.name: t for t in IAC_STEP_TYPES}
