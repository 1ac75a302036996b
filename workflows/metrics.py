"""The spec's run metrics, recorded from workflow code through Temporal's metric meter.

    workflow_executions_total{workflow_type,action,status}   counter, one per finished run
    workflow_duration_seconds{workflow_type,action}          histogram of run wall time
    stack_run_duration_seconds{stack,action,status}          histogram, one per stack run
    resource_actions_total{stack,provider,resource_type,action,outcome}   counter per action
    resource_action_duration_seconds{stack,provider,resource_type,action} histogram
    pipeline_step_duration_seconds{pipeline,step_type,status}             histogram per step

Labels stay bounded: stack, pipeline, provider type, resource type, action and outcome, never a
resource's name or id.

The workflow meter records nothing while a workflow replays, so a run counts once however
often a worker rebuilds it from history, and it adds `workflow_type` (plus namespace and
task_queue) itself. Recording emits no command: adding it does not change any history.
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError

EXECUTIONS = "workflow_executions_total"
DURATION = "workflow_duration_seconds"
STACK_DURATION = "stack_run_duration_seconds"
ACTIONS = "resource_actions_total"
ACTION_DURATION = "resource_action_duration_seconds"
STEP_DURATION = "pipeline_step_duration_seconds"
# Runs last from a second (a small pipeline) to hours (an approval, a large apply).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)
# Steps and resource actions span the same range (a set step to a database's creation).
HISTOGRAM_BUCKETS = {
    name: DURATION_BUCKETS for name in (DURATION, STACK_DURATION, ACTION_DURATION, STEP_DURATION)
}
# Apply and destroy report these outcomes as results rather than raising.
FAILED_OUTCOMES = frozenset({"failed", "rolled_back"})
# An operator's cancel (`wfctl infra cancel`) also ends the run with a result, not a raise.
CANCELLED_OUTCOMES = frozenset({"cancelled"})

P = ParamSpec("P")
R = TypeVar("R")


class RunStatus:
    """What the run ended as; a run body may mark a returned result as failed or cancelled."""

    def __init__(self) -> None:
        self.ended_as = "completed"


def _wall() -> float:
    # The value reaches no command and is not recorded during replay, so reading the clock
    # cannot make the workflow nondeterministic.
    with workflow.unsafe.sandbox_unrestricted():
        return time.time()


class Stopwatch:
    """Seconds since it was made, measured two ways and the larger kept: the wall clock sees
    time inside one workflow task (a pipeline of local activities runs in one), and
    workflow.now() sees time across a worker's rebuild from history, which restarts the wall
    clock at the replay."""

    def __init__(self) -> None:
        self.wall, self.now = _wall(), workflow.now()

    def seconds(self) -> float:
        task_time = (workflow.now() - self.now).total_seconds()
        return max(_wall() - self.wall, task_time, 0.0)


# The instruments of each run's meter, made once: creating one is a call into the SDK's
# native meter, and a large apply records two per resource action.
_INSTRUMENTS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _instrument(name: str, make: Callable[[Any], Any]) -> Any:
    meter = workflow.metric_meter()
    made = _INSTRUMENTS.setdefault(meter, {})
    if name not in made:
        made[name] = make(meter)
    return made[name]


def _histogram(name: str, description: str) -> Any:
    return _instrument(name, lambda meter: meter.create_histogram_float(name, description, "s"))


def _counter(name: str, description: str) -> Any:
    return _instrument(name, lambda meter: meter.create_counter(name, description))


def record(action: str, status: str) -> None:
    _counter(EXECUTIONS, "finished workflow runs").add(1, {"action": action, "status": status})
    # The wall clock, not workflow.now(): that is the start of the current workflow task, and
    # a pipeline of local activities runs entirely within one.
    elapsed = _wall() - workflow.info().start_time.timestamp()
    _histogram(DURATION, "workflow run wall time").record(max(elapsed, 0.0), {"action": action})


def record_stack_run(stack: str, action: str, status: str) -> None:
    """How long one run of a stack's apply / destroy / plan / drift took, by how it ended."""
    elapsed = max(_wall() - workflow.info().start_time.timestamp(), 0.0)
    _histogram(STACK_DURATION, "stack run wall time").record(
        elapsed, {"stack": stack, "action": action, "status": status}
    )


@contextmanager
def recorded_run(action: str) -> Iterator[RunStatus]:
    """Count the run as completed, failed or cancelled when the block ends.

    Continue-as-new and worker eviction are BaseExceptions that are neither: the next run
    of the chain counts, and an evicted run is finished by another worker."""
    status = RunStatus()
    try:
        yield status
    except asyncio.CancelledError:
        record(action, "cancelled")
        raise
    except Exception:
        record(action, "failed")
        raise
    record(action, status.ended_as)


@contextmanager
def recorded_action(
    stack: str, provider: str, resource_type: str, action: str
) -> Iterator[None]:
    """Count one resource action by outcome (succeeded, failed, cancelled) and time it."""
    labels = {"stack": stack, "provider": provider, "resource_type": resource_type,
              "action": action}
    watch = Stopwatch()

    def count(outcome: str) -> None:
        _counter(ACTIONS, "resource actions by outcome").add(1, {**labels, "outcome": outcome})
        _histogram(ACTION_DURATION, "resource action wall time").record(watch.seconds(), labels)

    # Eviction and continue-as-new are BaseExceptions: the action did not end, nothing counts.
    try:
        yield
    except asyncio.CancelledError:
        count("cancelled")
        raise
    except ActivityError as error:
        count("cancelled" if isinstance(error.cause, CancelledError) else "failed")
        raise
    except Exception:
        count("failed")
        raise
    count("succeeded")


@contextmanager
def recorded_step(pipeline: str, step_type: str) -> Iterator[None]:
    """Time one pipeline step (a control step includes what it waits for) by how it ended."""
    watch = Stopwatch()

    def time_it(status: str) -> None:
        _histogram(STEP_DURATION, "pipeline step wall time").record(
            watch.seconds(), {"pipeline": pipeline, "step_type": step_type, "status": status}
        )

    try:
        yield
    except asyncio.CancelledError:
        time_it("cancelled")
        raise
    except Exception:
        time_it("failed")
        raise
    time_it("completed")


def recorded(action: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate a `@workflow.run` method; a result whose `status` is a failure counts as
    failed."""

    def wrap(run: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(run)
        async def recorded_run_method(*args: P.args, **kwargs: P.kwargs) -> R:
            with recorded_run(action) as status:
                result = await run(*args, **kwargs)
                outcome = _status_of(result)
                if outcome in FAILED_OUTCOMES:
                    status.ended_as = "failed"
                elif outcome in CANCELLED_OUTCOMES:
                    status.ended_as = "cancelled"
                stack = getattr(result, "stack", None)
                if isinstance(stack, str) and stack and isinstance(outcome, str):
                    record_stack_run(stack, action, outcome)
                return result

        return recorded_run_method

    return wrap


def _status_of(result: Any) -> Any:
    return getattr(result, "status", None)
