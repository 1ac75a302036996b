"""The IaC steps of a pipeline: each runs the stack's own workflow as a child.

Apply, destroy and drift children get the workflow id `stack:<name>`, the id `wfctl infra`
uses: Temporal refuses a second run under it, so a pipeline's apply and a `wfctl infra apply`
of one stack exclude each other. Plan and status take no lock and get ids of their own. The
pipeline's approval steps are the gate, so applies run with auto_approve. Cancelling the step
cancels the child and waits for it, so the stack lock is released and in-flight actions are
recorded before the pipeline goes on.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)

with workflow.unsafe.imports_passed_through():
    from activities.iac_steps import (
        IacStepActivities,
        IacStepRequest,
        OutputsQuery,
        PlanDescription,
        PlanQuery,
        PreparedStack,
        RecordedOutputs,
    )
    from engine.pipeline_config import PipelineDefinition, StepSpec
    from engine.steps.iac import IacApplyConfig, IacStepConfig
    from workflows.iac.ids import lock_id
    from workflows.iac.models import (
        ApplyOutcome,
        DestroyOutcome,
        DriftReport,
        PlanOutcome,
        StatusReport,
    )
    from workflows.search_attributes import PHASE, STACK_NAME

# step type -> (what it does, the stack workflow it runs, its result)
KINDS: dict[str, tuple[str, str, type[BaseModel] | None]] = {
    "step.iac_plan": ("plan", "PlanWorkflow", PlanOutcome),
    "step.iac_apply": ("apply", "ApplyWorkflow", ApplyOutcome),
    "step.iac_destroy": ("destroy", "DestroyWorkflow", DestroyOutcome),
    "step.iac_drift": ("drift", "DriftWorkflow", DriftReport),
    "step.iac_drift_detect": ("drift", "DriftWorkflow", DriftReport),
    "step.iac_status": ("status", "StatusWorkflow", StatusReport),
    "step.iac_outputs": ("outputs", "", None),
}
LOCKING = ("apply", "destroy", "drift")
ACTION_COUNTS = ("create", "update", "replace", "delete")
READ_RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1))
READ_TIMEOUT = timedelta(seconds=60)
# Recorded outputs come capped (activities.iac_steps.OUTPUTS_LIMIT) from this marker on.
CAPPED_OUTPUTS = "iac-recorded-outputs-capped"


class IacStepFailed(Exception):
    def __init__(self, reason: str, error_type: str, *, busy: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.error_type, self.busy = reason, error_type, busy


def _activity_failure(error: ActivityError) -> IacStepFailed:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return IacStepFailed(cause.message, cause.type or "")
    return IacStepFailed(str(cause or error), type(cause).__name__)


async def _activity(method: Any, arg: BaseModel, summary: str) -> Any:
    try:
        return await workflow.execute_activity_method(
            method,
            arg,
            start_to_close_timeout=READ_TIMEOUT,
            retry_policy=READ_RETRY,
            summary=summary,
        )
    except ActivityError as error:
        if isinstance(error.cause, CancelledError):
            raise asyncio.CancelledError() from None
        raise _activity_failure(error) from None


def _list(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IacStepFailed(f"{field} must render to a list of names, got {value!r}", "ConfigError")
    return value


def _options(kind: str, config: IacStepConfig) -> dict[str, Any]:
    parallelism = config.parallelism
    if not isinstance(parallelism, int):
        raise IacStepFailed(f"parallelism must render to a number, got {parallelism!r}",
                            "ConfigError")
    options: dict[str, Any] = {
        "targets": _list(config.targets, "targets"),
        "parallelism": parallelism,
        "allow_replace": _list(config.allow_replace, "allow_replace"),
        "rollback": config.rollback is True,
    }
    if kind in ("apply", "destroy"):
        options["auto_approve"] = True
    if isinstance(config, IacApplyConfig) and config.plan:
        options["plan_id"] = config.plan
    return options


def _checked_options(kind: str, step: StepSpec, config: IacStepConfig) -> dict[str, Any]:
    """The child's run options from the rendered config, or IacStepFailed saying what is off."""
    if "plan" in step.config and isinstance(config, IacApplyConfig) and not config.plan:
        # Planning anew here would apply something nobody approved.
        raise IacStepFailed(
            f"plan rendered to an empty value from {step.config['plan']!r}; expected the "
            "plan id of a step.iac_plan", "ConfigError",
        )
    if config.document is not None and not isinstance(config.document, dict):
        raise IacStepFailed(
            f"document must render to a mapping, got {config.document!r}", "ConfigError"
        )
    return _options(kind, config)


class IacSteps:
    """Runs a pipeline's IaC steps; one per pipeline run (it numbers the children it starts)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    async def run(
        self,
        definition: PipelineDefinition,
        step: StepSpec,
        step_key: str,
        config: IacStepConfig,
    ) -> dict[str, Any]:
        kind, workflow_type, result_type = KINDS[step.type]
        try:
            options = _checked_options(kind, step, config)
        except IacStepFailed as bad:
            where = f'{definition.source}: pipeline "{definition.name}": step "{step_key}"'
            raise IacStepFailed(f"{where}: {bad.reason}", bad.error_type) from None
        document = config.document
        request = IacStepRequest(
            pipeline=definition.name,
            step=step_key,
            source=definition.source,
            folder=definition.folder,
            stack=config.stack,
            document=document,
            targets=options["targets"],
            plan=options.get("plan_id", ""),
        )
        prepared: PreparedStack = await _activity(
            IacStepActivities.prepare_iac_step, request,
            f"{step_key} ({step.type}): read stack {config.stack or '(inline document)'}",
        )
        doc = prepared.document
        stack = doc["stack"]
        if kind == "outputs":
            found = await self._outputs(step, step_key, doc, None)
            # At most OUTPUTS_LIMIT resources listed; `left_out` counts the others.
            return {"outputs": found.outputs, "total": found.total, "left_out": found.left_out}
        assert result_type is not None
        outcome = await self._child(
            step, step_key, kind, workflow_type, result_type, prepared, options
        )
        if isinstance(outcome, PlanOutcome):
            return await self._plan_output(step, step_key, doc, outcome)
        if isinstance(outcome, ApplyOutcome):
            self._refuse_failed(stack, kind, outcome.status, outcome.errors, outcome.reason)
            names = [resource.name for resource in outcome.resources]
            return {
                "status": outcome.status,
                "plan_id": outcome.plan_id,
                "counts": {k: outcome.counts.get(k, 0) for k in ACTION_COUNTS},
                "resources": (await self._outputs(step, step_key, doc, names)).outputs,
                "errors": [error.model_dump(mode="json") for error in outcome.errors],
                "skipped": outcome.skipped,
            }
        if isinstance(outcome, DestroyOutcome):
            self._refuse_failed(stack, kind, outcome.status, outcome.errors, outcome.reason)
            return {
                "status": outcome.status,
                "destroyed": outcome.destroyed,
                "errors": [error.model_dump(mode="json") for error in outcome.errors],
            }
        if isinstance(outcome, DriftReport):
            # A ghost is also reported as a drifted resource; listed once, as the ghost.
            ghosts = set(outcome.ghosts)
            resources = [
                {"name": result.name, "fields": result.fields, "ghost": False}
                for result in outcome.results
                if result.name not in ghosts
            ] + [{"name": name, "fields": [], "ghost": True} for name in outcome.ghosts]
            # The lists are capped (DriftReport): counts are exact, left_out says how many
            # each does not list.
            return {
                "drifted": outcome.drifted,
                "resources": resources,
                "drifted_count": outcome.drifted_count,
                "ghost_count": outcome.ghost_count,
                "left_out": outcome.left_out,
            }
        assert isinstance(outcome, StatusReport)
        return {
            "resources": [
                {"name": entry.name, "status": entry.status.value} for entry in outcome.resources
            ],
            "total": outcome.total,
            "counts": outcome.counts,
            "left_out": outcome.left_out,
        }

    @staticmethod
    def _refuse_failed(
        stack: str, kind: str, status: str, errors: list[Any], reason: str
    ) -> None:
        # A failed, rolled-back or operator-cancelled apply must not let the pipeline go on as
        # if it had worked; the step's on_error decides what happens next.
        if status not in ("failed", "rolled_back", "cancelled"):
            return
        shown = "; ".join(f"{e.action} {e.resource}: {e.error}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise IacStepFailed(f'{kind} of stack "{stack}" {status.replace("_", " ")}: '
                            f"{shown}{more}" if errors else
                            f'{kind} of stack "{stack}" {status.replace("_", " ")}: {reason}',
                            "ApplyFailed")

    def _child_id(self, kind: str, stack: str, step_key: str) -> str:
        if kind in LOCKING:
            return lock_id(stack)
        base = f"{lock_id(stack)}:{kind}:{workflow.info().workflow_id}.{step_key}"
        count = self._ids[base] = self._ids.get(base, 0) + 1
        return base if count == 1 else f"{base}.{count}"

    async def _child(
        self,
        step: StepSpec,
        step_key: str,
        kind: str,
        workflow_type: str,
        result_type: type[BaseModel],
        prepared: PreparedStack,
        options: dict[str, Any],
    ) -> Any:
        stack = prepared.document["stack"]
        child_id = self._child_id(kind, stack, step_key)
        try:
            handle = await workflow.start_child_workflow(
                workflow_type,
                {**prepared.document, **options},
                id=child_id,
                task_queue=prepared.task_queue,
                result_type=result_type,
                # The child holds the stack lock: a cancel waits for it to release it, and a
                # terminated pipeline asks it to stop rather than killing it mid-action.
                cancellation_type=workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
                static_summary=f"{step_key} ({step.type} stack {stack})",
                static_details=f"{kind} of stack {stack} for pipeline run "
                f"{workflow.info().workflow_id}",
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(STACK_NAME, stack), SearchAttributePair(PHASE, kind)]
                ),
            )
        except WorkflowAlreadyStartedError:
            raise IacStepFailed(
                f'stack "{stack}" is busy: workflow {child_id} holds it; wait for it to '
                "finish or cancel it", "StackBusy", busy=True,
            ) from None
        try:
            return await handle
        except ChildWorkflowError as error:
            if isinstance(error.cause, CancelledError):
                raise asyncio.CancelledError() from None
            cause = error.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause or error)
            kind_type = cause.type if isinstance(cause, ApplicationError) else ""
            raise IacStepFailed(
                f'{kind} of stack "{stack}" ({child_id}) failed: {reason}', kind_type or ""
            ) from None

    async def _outputs(
        self, step: StepSpec, step_key: str, document: dict[str, Any], names: list[str] | None
    ) -> RecordedOutputs:
        summary = f"{step_key} ({step.type} stack {document['stack']}): read outputs"
        query = OutputsQuery(document=document, names=names)
        if workflow.patched(CAPPED_OUTPUTS):
            return await _activity(IacStepActivities.iac_recorded_outputs_capped, query, summary)
        # A run that started before the cap read every resource's outputs in one result.
        every = await _activity(IacStepActivities.iac_recorded_outputs, query, summary)
        return RecordedOutputs(outputs=every, total=len(every))

    async def _plan_output(
        self, step: StepSpec, step_key: str, document: dict[str, Any], outcome: PlanOutcome
    ) -> dict[str, Any]:
        described: PlanDescription = await _activity(
            IacStepActivities.describe_iac_plan,
            PlanQuery(document=document, plan_id=outcome.plan_id),
            f"{step_key} ({step.type} stack {document['stack']}): describe plan {outcome.plan_id}",
        )
        counts = {k: outcome.counts.get(k, 0) for k in ACTION_COUNTS}
        return {
            "plan_id": outcome.plan_id,
            "has_changes": any(counts.values()),
            "counts": counts,
            "summary": described.summary,
            "actions": described.actions,
        }
