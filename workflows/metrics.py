"""The spec's run metrics, recorded from workflow code through Temporal's metric meter.

    workflow_executions_total{workflow_type,action,status}   counter, one per finished run
    workflow_duration_seconds{workflow_type,action}          histogram of run wall time

The workflow meter records nothing while a workflow replays, so a run counts once however
often a worker rebuilds it from history, and it adds `workflow_type` (plus namespace and
task_queue) itself. Recording emits no command: adding it does not change any history.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from temporalio import workflow

EXECUTIONS = "workflow_executions_total"
DURATION = "workflow_duration_seconds"
# Runs last from a second (a small pipeline) to hours (an approval, a large apply).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)
# Apply and destroy report these outcomes as results rather than raising.
FAILED_OUTCOMES = frozenset({"failed", "rolled_back"})

P = ParamSpec("P")
R = TypeVar("R")


class RunStatus:
    """What the run ended as; a run body may mark a returned result as a failure."""

    def __init__(self) -> None:
        self.failed = False


def record(action: str, status: str) -> None:
    meter = workflow.metric_meter()
    meter.create_counter(EXECUTIONS, "finished workflow runs").add(
        1, {"action": action, "status": status}
    )
    # The wall clock, not workflow.now(): that is the start of the current workflow task, and
    # a pipeline of local activities runs entirely within one. The value reaches no command
    # and is not recorded during replay, so it cannot make the workflow nondeterministic.
    with workflow.unsafe.sandbox_unrestricted():
        elapsed = time.time() - workflow.info().start_time.timestamp()
    meter.create_histogram_float(DURATION, "workflow run wall time", "s").record(
        max(elapsed, 0.0), {"action": action}
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
    record(action, "failed" if status.failed else "completed")


def recorded(action: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate a `@workflow.run` method; a result whose `status` is a failure counts as
    failed."""

    def wrap(run: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(run)
        async def recorded_run_method(*args: P.args, **kwargs: P.kwargs) -> R:
            with recorded_run(action) as status:
                result = await run(*args, **kwargs)
                status.failed = _status_of(result) in FAILED_OUTCOMES
                return result

        return recorded_run_method

    return wrap


def _status_of(result: Any) -> Any:
    return getattr(result, "status", None)
