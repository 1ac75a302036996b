"""PipelineWorkflow: one pipeline run. Each step is a (local) activity, so each is in history.

Start it from anywhere with the input {"pipeline": NAME, "data": {...}}; the result is the
pipeline's `_pipeline_output`, or the merged state when no step set one.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.pipeline_steps import PipelineActivities, StepInput
    from engine.pipeline_config import PipelineDefinition, StepSpec
    from engine.templates import TemplateEngine, TemplateError
    from interfaces import PipelineContext, StepResult
    from workflows.search_attributes import PIPELINE_NAME

# A pipeline that jumps back with next_step could otherwise loop until history overflows.
MAX_STEP_EXECUTIONS = 1000
DEFAULT_IO_TIMEOUT = timedelta(seconds=30)
DEFAULT_PURE_TIMEOUT = timedelta(seconds=10)
# I/O is worth retrying by default; a pure step fails the same way every time.
DEFAULT_IO_RETRY = RetryPolicy(
    maximum_attempts=3,
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
)
DEFAULT_PURE_RETRY = RetryPolicy(maximum_attempts=1)


class PipelineRunInput(BaseModel):
    pipeline: str = Field(min_length=1)
    data: dict[str, Any] = Field(default_factory=dict)


class PipelineStatus(BaseModel):
    pipeline: str = ""
    current_step: str = ""
    completed_steps: list[str] = Field(default_factory=list)


class StepFailed(Exception):
    def __init__(self, step: StepSpec, reason: str) -> None:
        super().__init__(reason)
        self.step, self.reason = step, reason


def failure_reason(err: BaseException) -> str:
    """The innermost useful message of an activity failure."""
    cause = err.cause if isinstance(err, ActivityError) and err.cause else err
    if isinstance(cause, ActivityTimeoutError):
        return f"timed out ({cause.type.name.lower() if cause.type else 'timeout'})"
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause) or type(cause).__name__


@workflow.defn(name="PipelineWorkflow")
class PipelineWorkflow:
    def __init__(self) -> None:
        self._status = PipelineStatus()

    @workflow.run
    async def run(self, input: Any) -> dict[str, Any]:
        request = _parse_input(input)
        self._status.pipeline = request.pipeline
        workflow.upsert_search_attributes([PIPELINE_NAME.value_set(request.pipeline)])
        definition: PipelineDefinition = await workflow.execute_local_activity_method(
            PipelineActivities.load_pipeline_definition,
            request.pipeline,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=3),
            summary=f"load definition {request.pipeline}",
        )
        info = workflow.info()
        ctx = PipelineContext.new(
            request.data,
            {
                "pipeline": definition.name,
                "workflow_id": info.workflow_id,
                "run_id": info.run_id,
                "started_at": info.start_time.isoformat(),
            },
        )
        spec = definition.spec
        try:
            if spec.timeout is None:
                await self._run_steps(definition, ctx)
            else:
                seconds = spec.timeout.total_seconds()
                await asyncio.wait_for(self._run_steps(definition, ctx), seconds)
        except TimeoutError:
            raise ApplicationError(
                f"pipeline timed out after {spec.timeout}",
                type="PipelineTimeout",
                non_retryable=True,
            ) from None
        except StepFailed as failed:
            if spec.on_error == "compensate":
                await self._compensate(definition, ctx, failed)
            raise ApplicationError(
                f'step "{failed.step.name}" failed: {failed.reason}',
                type="StepFailed",
                non_retryable=True,
            ) from None
        output = ctx.current.get("_pipeline_output")
        return output if isinstance(output, dict) else ctx.current

    @workflow.query
    def status(self) -> PipelineStatus:
        return self._status

    async def _run_steps(self, definition: PipelineDefinition, ctx: PipelineContext) -> None:
        spec = definition.spec
        steps = spec.steps
        positions = {step.name: i for i, step in enumerate(steps)}
        templates = TemplateEngine(strict=spec.strict_templates)
        index, executed = 0, 0
        while index < len(steps):
            step = steps[index]
            executed += 1
            if executed > MAX_STEP_EXECUTIONS:
                raise ApplicationError(
                    f"pipeline ran more than {MAX_STEP_EXECUTIONS} steps; a next_step loop?",
                    type="StepLimitExceeded",
                    non_retryable=True,
                )
            if self._skipped(step, ctx, templates):
                index += 1
                continue
            try:
                result = await self._execute(definition, step, ctx)
            except StepFailed as failed:
                if spec.on_error != "skip":
                    raise
                ctx.merge_step_output(step.name, {"_error": failed.reason, "_skipped": True})
                index += 1
                continue
            ctx.merge_step_output(step.name, result.output)
            self._status.completed_steps.append(step.name)
            if result.stop:
                return
            if result.next_step:
                if result.next_step not in positions:
                    raise StepFailed(step, f'next_step "{result.next_step}" names no step')
                index = positions[result.next_step]
            else:
                index += 1

    def _skipped(self, step: StepSpec, ctx: PipelineContext, templates: TemplateEngine) -> bool:
        try:
            if step.if_ is not None and not templates.truthy(step.if_, ctx):
                return True
            return step.skip_if is not None and templates.truthy(step.skip_if, ctx)
        except TemplateError as exc:
            raise StepFailed(step, str(exc)) from None

    async def _execute(
        self, definition: PipelineDefinition, step: StepSpec, ctx: PipelineContext
    ) -> StepResult:
        self._status.current_step = step.name
        workflow.set_current_details(f"step {step.name} ({step.type})")
        step_input = StepInput(
            pipeline=definition.name,
            step=step,
            context=ctx,
            strict_templates=definition.spec.strict_templates,
        )
        summary = f"{step.name} ({step.type})"
        retry = _retry_policy(step)
        try:
            if definition.runs_as_activity(step):
                return await workflow.execute_activity_method(
                    PipelineActivities.run_step,
                    step_input,
                    start_to_close_timeout=step.timeout or DEFAULT_IO_TIMEOUT,
                    retry_policy=retry or DEFAULT_IO_RETRY,
                    summary=summary,
                )
            return await workflow.execute_local_activity_method(
                PipelineActivities.run_step,
                step_input,
                start_to_close_timeout=step.timeout or DEFAULT_PURE_TIMEOUT,
                retry_policy=retry or DEFAULT_PURE_RETRY,
                summary=summary,
            )
        except (ActivityError, ApplicationError) as err:
            if isinstance(err.cause, CancelledError):
                # The run itself is being cancelled (or timed out): not this step's failure.
                raise asyncio.CancelledError() from None
            # Local activity failures can surface as the step's ApplicationError itself.
            raise StepFailed(step, failure_reason(err)) from None

    async def _compensate(
        self, definition: PipelineDefinition, ctx: PipelineContext, failed: StepFailed
    ) -> None:
        # Compensation steps can see what failed and why.
        ctx.current.update({"_error": failed.reason, "_failed_step": failed.step.name})
        for step in reversed(definition.spec.compensation):
            try:
                result = await self._execute(definition, step, ctx)
            except StepFailed as comp_failed:
                # Keep undoing the rest: one failed undo must not strand the others.
                workflow.logger.warning(
                    "compensation step %s failed: %s", step.name, comp_failed.reason
                )
                continue
            ctx.merge_step_output(step.name, result.output)


def _retry_policy(step: StepSpec) -> RetryPolicy | None:
    if step.retry is None:
        return None
    return RetryPolicy(
        maximum_attempts=step.retry.max_attempts,
        initial_interval=step.retry.initial_interval,
        backoff_coefficient=step.retry.backoff,
        maximum_interval=step.retry.max_interval,
    )


def _parse_input(raw: Any) -> PipelineRunInput:
    try:
        return PipelineRunInput.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ApplicationError(
            f"invalid PipelineWorkflow input ({problems}); "
            'expected {"pipeline": NAME, "data": {...}}',
            type="InvalidInput",
            non_retryable=True,
        ) from None
