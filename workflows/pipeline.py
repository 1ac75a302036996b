"""PipelineWorkflow: one pipeline run. Each step is a (local) activity, so each is in history.

Start it from anywhere with the input {"pipeline": NAME, "data": {...}}; the result is the
pipeline's `_pipeline_output`, or the merged state when no step set one.

Steps that wait, branch or loop (engine.steps.control) are run here rather than in an
activity: a foreach or parallel runs its sub-steps as their own (local) activities, sleep is a
durable timer, wait_for_approval waits for the `approve`/`reject` Update, call_pipeline is a
child PipelineWorkflow. Sub-steps see a copy of the state; what they produce comes back as
the control step's output.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError
from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
)
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.pipeline_steps import (
        PipelineActivities,
        StepInput,
        StepOutcome,
        step_activity_type,
    )
    from engine.durations import parse_duration
    from engine.pipeline_config import NAME_PATTERN, PipelineDefinition, StepSpec
    from engine.step_registry import StepType
    from engine.steps.control import (
        CONTROL_TYPES,
        CallPipelineConfig,
        ForeachConfig,
        ParallelConfig,
        RetryWithBackoffConfig,
        SleepConfig,
        WaitForApprovalConfig,
    )
    from engine.steps.iac import IAC_TYPES
    from engine.steps.paths import lookup
    from engine.templates import TemplateEngine, TemplateError
    from interfaces import PipelineContext, StepResult
    from workflows.metrics import recorded_run, recorded_step
    from workflows.pipeline_approval import (
        ApprovalDecision,
        ApprovalOutcome,
        Approvals,
        PendingApproval,
        bounded_details,
    )
    from workflows.pipeline_iac import IacStepFailed, IacSteps
    from workflows.raw_input import NO_PAYLOAD, update_argument, workflow_input
    from workflows.search_attributes import PIPELINE_NAME

# A pipeline that jumps back with next_step could otherwise loop until history overflows.
MAX_STEP_EXECUTIONS = 1000
DEFAULT_IO_TIMEOUT = timedelta(seconds=30)
DEFAULT_PURE_TIMEOUT = timedelta(seconds=10)
# I/O steps heartbeat (activities.pipeline_steps), so a dead worker or a cancelled branch is
# noticed within seconds rather than at the step's timeout.
IO_HEARTBEAT_TIMEOUT = timedelta(seconds=5)
# I/O is worth retrying by default; a pure step fails the same way every time.
DEFAULT_IO_RETRY = RetryPolicy(
    maximum_attempts=3,
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
)
DEFAULT_PURE_RETRY = RetryPolicy(maximum_attempts=1)
# Runs that record this patch call each step as its own activity type ("check (step.validate)")
# and give their timeouts a summary; runs started before it call `run_step` throughout.
STEP_ACTIVITY_NAMES = "step-activity-names"
# Nested call_pipeline runs allowed below a top-level run. Loading refuses literal cycles;
# this stops the ones a template picks at run time before they fork without end.
MAX_CALL_DEPTH = 16


class PipelineRunInput(BaseModel):
    # A name a pipeline can have, and bounded: it becomes the PipelineName search attribute,
    # whose JSON may not pass 2 KB.
    pipeline: str = Field(min_length=1, max_length=255, pattern=NAME_PATTERN)
    data: dict[str, Any] = Field(default_factory=dict)
    # How many call_pipeline parents this run has; set by the parent when it starts a child.
    call_depth: int = Field(0, ge=0)


class PipelineStatus(BaseModel):
    pipeline: str = ""
    current_step: str = ""
    completed_steps: list[str] = Field(default_factory=list)


class StepFailed(Exception):
    def __init__(self, step: StepSpec, reason: str, error_type: str = "") -> None:
        super().__init__(reason)
        self.step, self.reason, self.error_type = step, reason, error_type

    def describe(self) -> str:
        return f'step "{self.step.name}" failed: {self.reason}'

    def details(self) -> dict[str, str]:
        """What a caller needs to tell bad input (a step.validate) from a broken run."""
        return {"step": self.step.name, "step_type": self.step.type,
                "error_type": self.error_type, "reason": self.reason}


def failure_reason(err: BaseException) -> str:
    """The innermost useful message of an activity or child workflow failure."""
    wrapped = isinstance(err, ActivityError | ChildWorkflowError) and err.cause
    cause = err.cause if wrapped and err.cause else err
    if isinstance(cause, ActivityTimeoutError):
        return f"timed out ({cause.type.name.lower() if cause.type else 'timeout'})"
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause) or type(cause).__name__


@dataclass
class Scope:
    """Where a list of steps runs: its state, its path in the pipeline, what it produced."""

    ctx: PipelineContext
    path: str = ""
    produced: dict[str, Any] = field(default_factory=dict)

    def key(self, step: StepSpec) -> str:
        """The step's path: "deploy", "regions[2].confirm", "checks.lint.run"."""
        return f"{self.path}.{step.name}" if self.path else step.name

    def record(self, step: StepSpec, output: dict[str, Any]) -> None:
        self.ctx.merge_step_output(step.name, output)
        self.produced.update(output)

    def nested(self, path: str, values: dict[str, Any] | None = None) -> Scope:
        ctx = self.ctx.model_copy(deep=True)
        ctx.current.update(values or {})
        return Scope(ctx, path)


T = TypeVar("T")
ControlRun = Callable[[PipelineDefinition, StepSpec, Any, Scope], Awaitable[StepResult]]


@workflow.defn(name="PipelineWorkflow")
class PipelineWorkflow:
    def __init__(self) -> None:
        self._status = PipelineStatus()
        self._approvals = Approvals()
        self._templates = TemplateEngine()
        self._child_ids: dict[str, int] = {}
        self._call_depth = 0
        self._control: dict[str, ControlRun] = {
            "step.foreach": self._foreach,
            "step.parallel": self._parallel,
            "step.call_pipeline": self._call_pipeline,
            "step.sleep": self._sleep,
            "step.wait_for_approval": self._wait_for_approval,
            "step.retry_with_backoff": self._retry_with_backoff,
            **{name: self._iac_step for name in IAC_TYPES},
        }
        self._iac = IacSteps()
        self._named_steps = False

    @workflow.run
    async def run(self, input: RawValue = NO_PAYLOAD) -> dict[str, Any]:
        request = _parse_input(workflow_input(input))
        with recorded_run(request.pipeline):
            return await self._run(request)

    async def _run(self, request: PipelineRunInput) -> dict[str, Any]:
        self._named_steps = workflow.patched(STEP_ACTIVITY_NAMES)
        self._status.pipeline = request.pipeline
        self._call_depth = request.call_depth
        workflow.upsert_search_attributes([PIPELINE_NAME.value_set(request.pipeline)])
        # The definition is recorded in history: a run keeps the snapshot it started with,
        # whatever the worker reloads meanwhile.
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
        self._templates = TemplateEngine(strict=spec.strict_templates)
        top = Scope(ctx)
        try:
            if spec.timeout is None:
                await self._run_steps(definition, spec.steps, top)
            else:
                await self._within(
                    self._run_steps(definition, spec.steps, top),
                    spec.timeout,
                    f"timeout of pipeline {definition.name} after {spec.timeout}",
                )
        except TimeoutError:
            raise ApplicationError(
                f"pipeline timed out after {spec.timeout}",
                type="PipelineTimeout",
                non_retryable=True,
            ) from None
        except StepFailed as failed:
            if spec.on_error == "compensate":
                await self._compensate(definition, top, failed)
            raise ApplicationError(
                failed.describe(), failed.details(), type="StepFailed", non_retryable=True
            ) from None
        output = ctx.current.get("_pipeline_output")
        return output if isinstance(output, dict) else ctx.current

    @workflow.query
    def status(self) -> PipelineStatus:
        return self._status

    @workflow.query
    def pending_approval(self) -> list[PendingApproval]:
        """The steps waiting for a decision, with their message and since when they wait."""
        return [
            waiting for step, waiting in self._approvals.pending.items()
            if step not in self._approvals.decided
        ]

    # The decision arrives as a raw payload (an ApprovalDecision): see workflows.raw_input.
    @workflow.update
    async def approve(self, decision: RawValue = NO_PAYLOAD) -> ApprovalOutcome:
        return self._decide(decision, "approved")

    @approve.validator
    def _validate_approve(self, decision: RawValue = NO_PAYLOAD) -> None:
        self._approvals.target(update_argument(decision, ApprovalDecision), rejecting=False)

    @workflow.update
    async def reject(self, decision: RawValue = NO_PAYLOAD) -> ApprovalOutcome:
        return self._decide(decision, "rejected")

    @reject.validator
    def _validate_reject(self, decision: RawValue = NO_PAYLOAD) -> None:
        self._approvals.target(update_argument(decision, ApprovalDecision), rejecting=True)

    def _decide(self, raw: RawValue, verdict: str) -> ApprovalOutcome:
        decision = update_argument(raw, ApprovalDecision)
        try:
            # Validated already; checked again because an earlier Update in the same workflow
            # task may have decided the step since.
            waiting = self._approvals.target(decision, rejecting=verdict == "rejected")
        except ValueError as exc:
            raise ApplicationError(str(exc), type="InvalidDecision", non_retryable=True) from None
        outcome = ApprovalOutcome(
            step=waiting.step,
            decision="approved" if verdict == "approved" else "rejected",
            approver=decision.approver.strip(),
            comment=decision.comment,
            decided_at=workflow.now(),
        )
        self._approvals.decide(outcome)
        return outcome

    # ---- the step list ----

    async def _run_steps(
        self, definition: PipelineDefinition, steps: list[StepSpec], scope: Scope
    ) -> None:
        positions = {step.name: i for i, step in enumerate(steps)}
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
            if self._skipped(step, scope.ctx):
                index += 1
                continue
            try:
                with recorded_step(definition.name, step.type):
                    result = await self._run_one(definition, step, scope)
            except StepFailed as failed:
                index = self._recover(definition, step, failed, scope, positions)
                continue
            scope.record(step, result.output)
            self._status.completed_steps.append(scope.key(step))
            if result.stop:
                return
            if result.next_step:
                if result.next_step not in positions:
                    raise StepFailed(step, f'next_step "{result.next_step}" names no step')
                index = positions[result.next_step]
            else:
                index += 1

    def _recover(
        self,
        definition: PipelineDefinition,
        step: StepSpec,
        failed: StepFailed,
        scope: Scope,
        positions: dict[str, int],
    ) -> int:
        """Where the list goes on after `step` failed, by its on_error (or the pipeline's)."""
        target = step.error_target()
        if target is not None:
            scope.record(step, {"_error": failed.reason, "_failed_step": step.name})
            return positions[target]
        policy = step.on_error or definition.spec.on_error
        if policy in ("continue", "skip"):
            scope.record(step, {"_error": failed.reason, "_skipped": True})
            return positions[step.name] + 1
        raise failed

    def _skipped(self, step: StepSpec, ctx: PipelineContext) -> bool:
        try:
            if step.if_ is not None and not self._templates.truthy(step.if_, ctx):
                return True
            return step.skip_if is not None and self._templates.truthy(step.skip_if, ctx)
        except TemplateError as exc:
            raise StepFailed(step, str(exc)) from None

    async def _run_one(
        self, definition: PipelineDefinition, step: StepSpec, scope: Scope
    ) -> StepResult:
        self._status.current_step = scope.key(step)
        workflow.set_current_details(f"step {scope.key(step)} ({step.type})")
        control = CONTROL_TYPES.get(step.type) or IAC_TYPES.get(step.type)
        if control is None:
            return await self._execute(definition, step, scope)
        config = self._render_config(step, control, scope.ctx)
        running = self._control[step.type](definition, step, config, scope)
        if step.timeout is None:
            return await running
        try:
            return await self._within(
                running, step.timeout, f"timeout of step {scope.key(step)} after {step.timeout}"
            )
        except TimeoutError:
            raise StepFailed(step, f"timed out after {step.timeout}") from None

    async def _within(self, running: Awaitable[T], timeout: timedelta, summary: str) -> T:
        """asyncio.wait_for on a timer the web UI can name (wait_for's own has no summary)."""
        if not self._named_steps:
            return await asyncio.wait_for(running, timeout.total_seconds())
        work = asyncio.ensure_future(running)
        deadline = asyncio.ensure_future(workflow.sleep(timeout, summary=summary))
        try:
            await asyncio.wait({work, deadline}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # Like wait_for: the work is cancelled with us, and finishes before we go.
            deadline.cancel()
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            raise
        if work.done():
            deadline.cancel()
            return work.result()
        work.cancel()
        try:
            return await work  # it may finish anyway, or fail with its own reason
        except asyncio.CancelledError:
            raise TimeoutError from None

    def _render_config(self, step: StepSpec, control: StepType, ctx: PipelineContext) -> Any:
        try:
            rendered = {
                key: value if key in control.raw_fields else self._templates.render(value, ctx)
                for key, value in step.config.items()
            }
            return control.config_model.model_validate(rendered)
        except TemplateError as exc:
            raise StepFailed(step, str(exc)) from None
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise StepFailed(step, f"invalid config after rendering: {problems}") from None

    async def _execute(
        self, definition: PipelineDefinition, step: StepSpec, scope: Scope
    ) -> StepResult:
        path = scope.key(step)
        step_input = StepInput(
            pipeline=definition.name,
            step=step,
            context=scope.ctx,
            strict_templates=definition.spec.strict_templates,
            path=path,
        )
        # The activity type carries name and type; the summary adds where the step runs.
        activity_type, summary, result_type = (
            (step_activity_type(step), path, StepOutcome) if self._named_steps
            else ("run_step", f"{step.name} ({step.type})", StepResult)
        )
        retry = _retry_policy(step)
        try:
            if definition.runs_as_activity(step):
                done = await workflow.execute_activity(
                    activity_type,
                    step_input,
                    result_type=result_type,
                    start_to_close_timeout=step.timeout or DEFAULT_IO_TIMEOUT,
                    heartbeat_timeout=IO_HEARTBEAT_TIMEOUT,
                    retry_policy=retry or DEFAULT_IO_RETRY,
                    # A cancelled step (fail-fast sibling, pipeline timeout) stops for real
                    # before the workflow goes on: the activity hears it at its next heartbeat.
                    cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                    summary=summary,
                )
            else:
                done = await workflow.execute_local_activity(
                    activity_type,
                    step_input,
                    result_type=result_type,
                    start_to_close_timeout=step.timeout or DEFAULT_PURE_TIMEOUT,
                    retry_policy=retry or DEFAULT_PURE_RETRY,
                    summary=summary,
                )
        except (ActivityError, ApplicationError) as err:
            if isinstance(err.cause, CancelledError) or _being_cancelled():
                # The run, or this branch, is being cancelled: not this step's failure (an
                # attempt that failed while its cancel was on the way lands here too).
                raise asyncio.CancelledError() from None
            # Local activity failures can surface as the step's ApplicationError itself.
            raise StepFailed(step, failure_reason(err), _error_type(err)) from None
        return done.result() if isinstance(done, StepOutcome) else done

    async def _compensate(
        self, definition: PipelineDefinition, scope: Scope, failed: StepFailed
    ) -> None:
        # Compensation steps can see what failed and why.
        scope.ctx.current.update({"_error": failed.reason, "_failed_step": failed.step.name})
        for step in reversed(definition.spec.compensation):
            try:
                with recorded_step(definition.name, step.type):
                    result = await self._run_one(definition, step, scope)
            except StepFailed as comp_failed:
                # Keep undoing the rest: one failed undo must not strand the others.
                workflow.logger.warning(
                    "compensation step %s failed: %s", step.name, comp_failed.reason
                )
                continue
            scope.record(step, result.output)

    # ---- steps the workflow runs itself ----

    async def _foreach(
        self, definition: PipelineDefinition, step: StepSpec, config: ForeachConfig, scope: Scope
    ) -> StepResult:
        items = config.items
        if not isinstance(items, list):
            raise StepFailed(step, f"items must render to a list, got {items!r}")
        results: list[Any] = [None] * len(items)
        errors: list[str] = []
        # One shared cursor: each of the `concurrency` lanes takes the next item when free.
        cursor = iter(range(len(items)))

        async def lane() -> None:
            for i in cursor:
                if errors and not config.continue_on_error:
                    return
                values = {config.item_var: items[i], config.index_var: i}
                item_scope = scope.nested(f"{scope.key(step)}[{i}]", values)
                try:
                    await self._run_steps(definition, config.steps, item_scope)
                except StepFailed as failed:
                    errors.append(f"item {i}: {failed.describe()}")
                    results[i] = {"_error": failed.describe()}
                    continue
                results[i] = item_scope.produced

        await asyncio.gather(*(lane() for _ in range(min(config.concurrency, len(items)))))
        if errors and not config.continue_on_error:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise StepFailed(step, errors[0] + more)
        output: dict[str, Any] = {"results": results}
        if errors:
            output["errors"] = errors
        return StepResult(output=output)

    async def _parallel(
        self, definition: PipelineDefinition, step: StepSpec, config: ParallelConfig, scope: Scope
    ) -> StepResult:
        outputs: dict[str, dict[str, Any]] = {}
        failures: dict[str, str] = {}
        tasks: dict[str, asyncio.Task[None]] = {}

        async def branch(name: str, steps: list[StepSpec]) -> None:
            branch_scope = scope.nested(f"{scope.key(step)}.{name}")
            try:
                await self._run_steps(definition, steps, branch_scope)
            except StepFailed as failed:
                failures[name] = failed.describe()
                if config.fail_fast:
                    for other, task in tasks.items():
                        if other != name and not task.done():
                            task.cancel()
                return
            outputs[name] = branch_scope.produced

        for name, steps in config.branches.items():
            tasks[name] = asyncio.create_task(branch(name, steps))
        finished = await asyncio.gather(*tasks.values(), return_exceptions=True)
        for outcome in finished:
            if isinstance(outcome, BaseException) and not isinstance(
                outcome, asyncio.CancelledError
            ):
                raise outcome
        if failures:
            reason = "; ".join(f"branch {name}: {why}" for name, why in failures.items())
            cancelled = [n for n in tasks if n not in failures and n not in outputs]
            if cancelled:
                reason += f" (cancelled: {', '.join(cancelled)})"
            raise StepFailed(step, reason)
        return StepResult(output={name: outputs[name] for name in config.branches})

    async def _call_pipeline(
        self,
        definition: PipelineDefinition,
        step: StepSpec,
        config: CallPipelineConfig,
        scope: Scope,
    ) -> StepResult:
        if not isinstance(config.input, dict):
            raise StepFailed(step, f"input must render to a mapping, got {config.input!r}")
        name = config.pipeline
        if self._call_depth >= MAX_CALL_DEPTH:
            # StepFailed ends the run non-retryably, and so each parent up the chain.
            raise StepFailed(
                step,
                f'calling pipeline "{name}" would nest {self._call_depth + 1} pipeline calls '
                f"deep (limit {MAX_CALL_DEPTH}); is there a call_pipeline cycle?",
                error_type="CallDepthExceeded",
            )
        child_id = self._child_workflow_id(name, scope.key(step))
        try:
            request = PipelineRunInput(
                pipeline=name, data=config.input, call_depth=self._call_depth + 1
            )
        except ValidationError:
            # A rendered name that no pipeline can have; raised here it would fail the task.
            raise StepFailed(step, f"{name[:100]!r} is not a pipeline name") from None
        options: dict[str, Any] = {
            "id": child_id,
            "execution_timeout": config.timeout,
            "static_summary": f"{scope.key(step)} (step.call_pipeline {name})",
            "static_details": f"pipeline {name}, called by {workflow.info().workflow_id}",
            "search_attributes": TypedSearchAttributes([SearchAttributePair(PIPELINE_NAME, name)]),
        }
        if config.mode == "async":
            await workflow.start_child_workflow(
                PipelineWorkflow.run,
                request,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                **options,
            )
            return StepResult(output={"workflow_id": child_id})
        try:
            result = await workflow.execute_child_workflow(PipelineWorkflow.run, request, **options)
        except ChildWorkflowError as err:
            if isinstance(err.cause, CancelledError) or _being_cancelled():
                raise asyncio.CancelledError() from None
            raise StepFailed(step, f'pipeline "{name}" failed: {failure_reason(err)}') from None
        if not config.output_mapping:
            return StepResult(output=result)
        picked: dict[str, Any] = {}
        for key, path in config.output_mapping.items():
            found, value = lookup(result, path)
            if not found:
                raise StepFailed(step, f'output_mapping.{key}: pipeline "{name}" gave no {path!r}')
            picked[key] = value
        return StepResult(output=picked)

    def _child_workflow_id(self, pipeline: str, step_key: str) -> str:
        """`pipeline:<child>:<parent run>.<step path>`, unique if the step runs again."""
        parent = workflow.info().workflow_id
        prefix = f"pipeline:{self._status.pipeline}:"
        run = parent[len(prefix):] if parent.startswith(prefix) else parent
        base = f"pipeline:{pipeline}:{run}.{step_key}"
        count = self._child_ids[base] = self._child_ids.get(base, 0) + 1
        return base if count == 1 else f"{base}.{count}"

    async def _iac_step(
        self, definition: PipelineDefinition, step: StepSpec, config: Any, scope: Scope
    ) -> StepResult:
        # A stack busy with another run is worth waiting for when the step has a retry
        # policy; every other failure (bad input, a stale plan, failed actions) is final.
        policy = step.retry
        attempt = 1
        delay = policy.initial_interval if policy else timedelta(0)
        while True:
            try:
                return StepResult(
                    output=await self._iac.run(definition, step, scope.key(step), config)
                )
            except IacStepFailed as failed:
                if not failed.busy or policy is None or attempt >= policy.max_attempts:
                    raise StepFailed(step, failed.reason, failed.error_type) from None
            await workflow.sleep(delay, summary=f"{scope.key(step)} ({step.type}): stack busy")
            attempt += 1
            delay = min(delay * policy.backoff, policy.max_interval)

    async def _sleep(
        self, definition: PipelineDefinition, step: StepSpec, config: SleepConfig, scope: Scope
    ) -> StepResult:
        duration = self._duration(step, config.duration)
        if duration > timedelta(0):
            await workflow.sleep(duration, summary=f"{scope.key(step)} (step.sleep)")
        return StepResult()

    async def _wait_for_approval(
        self,
        definition: PipelineDefinition,
        step: StepSpec,
        config: WaitForApprovalConfig,
        scope: Scope,
    ) -> StepResult:
        timeout = None if config.timeout is None else self._duration(step, config.timeout)
        key = scope.key(step)
        now = workflow.now()
        details = bounded_details(config.details)
        self._approvals.open(PendingApproval(
            step=key,
            message=config.message,
            details=details,
            approvers=config.approvers,
            since=now,
            deadline=now + timeout if timeout is not None else None,
        ))
        # The web UI shows the current details as markdown beside the run.
        workflow.set_current_details("\n\n".join(
            part for part in (f"waiting for approval: {key}", config.message, details) if part
        ))
        try:
            await workflow.wait_condition(
                lambda: key in self._approvals.decided,
                timeout=timeout,
                timeout_summary=f"{key} (step.wait_for_approval)",
            )
        except TimeoutError:
            pass  # no decision: on_timeout says what that means
        finally:
            outcome = self._approvals.close(key)
        if outcome is None:
            if config.on_timeout == "fail":
                raise StepFailed(step, f"no approval within {timeout}")
            outcome = ApprovalOutcome(
                step=key, decision="timed_out", comment=f"approved after {timeout} without a "
                "decision (on_timeout: approve)", decided_at=workflow.now(),
            )
        if outcome.decision == "rejected":
            raise StepFailed(step, f"rejected by {outcome.approver}: {outcome.comment}")
        return StepResult(output={"approved": True, "approval": outcome.model_dump(mode="json")})

    async def _retry_with_backoff(
        self,
        definition: PipelineDefinition,
        step: StepSpec,
        config: RetryWithBackoffConfig,
        scope: Scope,
    ) -> StepResult:
        last = ""
        for attempt in range(1, config.max_attempts + 1):
            if attempt > 1:
                await workflow.sleep(
                    config.delay_before(attempt),
                    summary=f"{scope.key(step)} (step.retry_with_backoff)",
                )
            attempt_scope = scope.nested(scope.key(step), {"attempt": attempt})
            try:
                await self._run_steps(definition, config.steps, attempt_scope)
            except StepFailed as failed:
                last = failed.describe()
                continue
            return StepResult(output={**attempt_scope.produced, "attempts": attempt})
        raise StepFailed(step, f"failed after {config.max_attempts} attempts; last: {last}")

    @staticmethod
    def _duration(step: StepSpec, value: Any) -> timedelta:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise StepFailed(step, str(exc)) from None


def _error_type(err: BaseException) -> str:
    cause = err.cause if isinstance(err, ActivityError) and err.cause else err
    return (cause.type or "") if isinstance(cause, ApplicationError) else ""


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


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
