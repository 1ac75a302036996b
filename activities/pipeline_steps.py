"""Activities of PipelineWorkflow: read a definition snapshot, run one step.

A step runs as the activity type `<name> (<type>)`, served by the dynamic `run_named_step`:
the web UI's timeline labels a local activity by its type alone, so a type per step is what
makes each step readable there. The workflow calls it as a local activity for pure steps and
as a regular activity for I/O steps; the registry says which. `run_step` is the one type all
steps had before; runs started then keep calling it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from activities.pipeline_catalog import PipelineCatalog, UnknownPipeline
from engine.pipeline_config import PipelineDefinition, StepSpec
from engine.step_registry import StepCall, StepError, StepRegistry, UnknownStepType
from engine.templates import TemplateEngine, TemplateError
from interfaces import PipelineContext, StepResult

# Seconds one render of a step's config may take here. Only activities get a clock bound:
# workflow code renders `if`/`skip_if` under the counted bounds alone, the same on replay.
RENDER_SECONDS = 5.0


# Temporal refuses an activity type longer than 1000 characters; a step name has no bound of
# its own, and a timeline label is read at a glance.
MAX_NAME_IN_TYPE = 200


class StepInput(BaseModel):
    pipeline: str
    step: StepSpec
    context: PipelineContext
    strict_templates: bool = True
    # Where the step runs in the pipeline ("regions[2].deploy"); its name at the top level.
    path: str = ""


class StepOutcome(BaseModel):
    """What a named step activity returns: the StepResult, led by which step ran and when.

    The web UI shows it as the activity's result, so a step that produces nothing still
    reads as "this step ran, from then to then"; the times are the activity's own, which a
    local activity's marker does not record in a usable form.
    """

    step: str
    started_at: datetime
    finished_at: datetime
    output: dict[str, Any]
    next_step: str = ""
    stop: bool = False

    def result(self) -> StepResult:
        return StepResult(output=self.output, next_step=self.next_step, stop=self.stop)


def step_activity_type(step: StepSpec) -> str:
    """The activity type a step runs as: "check (step.validate)"."""
    name = step.name if len(step.name) <= MAX_NAME_IN_TYPE else step.name[:MAX_NAME_IN_TYPE] + "..."
    return f"{name} ({step.type})"


_STEP_ACTIVITY_TYPE = re.compile(r"(.+) \((step\.[^()]+)\)")


def step_of_activity_type(activity_type: str) -> tuple[str, str] | None:
    """(name, type) of a step's activity type, the inverse of step_activity_type; None for
    any other activity type. The name is as the type carries it (cut past MAX_NAME_IN_TYPE)."""
    match = _STEP_ACTIVITY_TYPE.fullmatch(activity_type)
    return (match[1], match[2]) if match else None


async def _heartbeating(running: Coroutine[Any, Any, StepResult]) -> StepResult:
    """Run a step while heartbeating, so a cancel (a fail-fast sibling, a timed-out run) and a
    dead worker are noticed. The first beat waits a while: short steps send none."""
    task = asyncio.ensure_future(running)
    timeout = activity.info().heartbeat_timeout
    interval = min(timeout.total_seconds() / 5, 1.0) if timeout else 1.0
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=interval)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        # Cancelled here (by Temporal): stop the step too.
        task.cancel()


def _non_retryable(message: str, error_type: str) -> ApplicationError:
    return ApplicationError(message, type=error_type, non_retryable=True)


class PipelineActivities:
    def __init__(self, catalog: PipelineCatalog, registry: StepRegistry) -> None:
        self.catalog = catalog
        self.registry = registry
        # One engine per strictness, so compiled templates are reused across steps and runs.
        self._engines = {
            strict: TemplateEngine(strict=strict, time_budget=RENDER_SECONDS)
            for strict in (True, False)
        }

    @activity.defn(name="load_pipeline_definition")
    async def load_pipeline_definition(self, name: str) -> PipelineDefinition:
        try:
            return self.catalog.get(name)
        except UnknownPipeline as exc:
            raise _non_retryable(str(exc), "UnknownPipeline") from None

    def all(self) -> list[Callable[..., Any]]:
        return [self.load_pipeline_definition, self.run_step, self.run_named_step]

    @activity.defn(name="run_step")
    async def run_step(self, input: StepInput) -> StepResult:
        return await self._run(input)

    @activity.defn(dynamic=True)
    async def run_named_step(self, args: Sequence[RawValue]) -> StepOutcome:
        activity_type = activity.info().activity_type
        try:
            [raw] = args
            input = activity.payload_converter().from_payload(raw.payload, StepInput)
        except Exception:  # noqa: BLE001 - any payload that is not a StepInput
            # Every unknown activity type on the pipelines queue lands here, not only steps.
            raise _non_retryable(
                f'activity type "{activity_type[:MAX_NAME_IN_TYPE]}" is not a pipeline step '
                "this worker runs", "UnknownActivity",
            ) from None
        if step_activity_type(input.step) != activity_type:
            raise _non_retryable(
                f'activity type "{activity_type[:MAX_NAME_IN_TYPE]}" does not name its step '
                f'"{step_activity_type(input.step)}"', "UnknownActivity",
            )
        started = datetime.now(UTC)
        result = await self._run(input)
        return StepOutcome(
            step=input.path or input.step.name,
            started_at=started,
            finished_at=datetime.now(UTC),
            output=result.output,
            next_step=result.next_step,
            stop=result.stop,
        )

    async def _run(self, input: StepInput) -> StepResult:
        step = input.step
        try:
            step_type = self.registry.get(step.type)
        except UnknownStepType:
            raise _non_retryable(f'unknown step type "{step.type}"', "UnknownStepType") from None
        engine = self._engines[input.strict_templates]
        ctx = input.context

        def render(value: Any) -> Any:
            return engine.render(value, ctx)

        def render_config() -> dict[str, Any]:
            return {
                key: value if key in step_type.raw_fields else render(value)
                for key, value in step.config.items()
            }

        try:
            # In a thread: even a render that runs into its limits never holds the event loop
            # that every other run on this worker shares.
            rendered = await asyncio.to_thread(render_config)
            config = step_type.config_model.model_validate(rendered)
            call = StepCall(
                pipeline=input.pipeline,
                step_name=step.name,
                context=ctx,
                render=render,
                attempt=activity.info().attempt,
            )
            running = step_type.execute(config, call)
            if activity.info().is_local:
                return await running
            return await _heartbeating(running)
        except StepError as exc:
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
            raise ApplicationError(
                str(exc),
                type=exc.error_type,
                non_retryable=not exc.retryable,
                next_retry_delay=delay,
            ) from None
        except TemplateError as exc:
            kind = "TemplateLimitExceeded" if exc.limit else "TemplateError"
            raise _non_retryable(str(exc), kind) from None
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise _non_retryable(f"invalid config after rendering: {problems}", "InvalidConfig") \
                from None
