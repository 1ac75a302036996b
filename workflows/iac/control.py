"""The operator's hand on a running apply or destroy: the pause, resume and parallelism Updates.

Each Update has a validator, so a request that cannot apply (resume a run not paused, a cap
for a provider the stack has not) is refused before it is written to history; an accepted
one is recorded there (the Update's accepted and completed events) with who sent it. What
they change is a ControlState, handed on across continue-as-new in the run's carry and
rebuilt by replay after a worker restart, so a paused run stays paused either way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from interfaces.iac_control import (
        Aborted,
        AbortRequest,
        CancelRequest,
        ControlState,
        ParallelismRequest,
        Paused,
        PauseRequest,
        ResumeRequest,
        RetryRequest,
        SkipRequest,
    )
    from workflows.iac.walk import DagWalk
    from workflows.raw_input import NO_PAYLOAD, update_argument

# Phases in which the run starts no more actions of its plan: nothing left to steer.
_CLOSED_PHASES = ("", "done", "rollback")


class OperatorControls:
    """Update handlers of the stack runs; only those that walk a plan (apply, destroy) take them."""

    control: ControlState
    provider_keys: list[str]
    operable: bool  # a run that walks a plan (not a drift, status or import)
    waits_on_failure: bool  # started with on_failure "wait"

    def __init__(self) -> None:
        self.control = ControlState()
        self.provider_keys = []
        self.operable = False
        self.waits_on_failure = False

    # What the run provides.

    def current_phase(self) -> str:
        raise NotImplementedError

    def current_walk(self) -> DagWalk | None:
        raise NotImplementedError

    def show_details(self, force: bool = False) -> None:
        raise NotImplementedError

    def control_changed(self) -> None:
        """Make the walk see the new settings now, and the UI's details show them."""
        walk = self.current_walk()
        if walk is not None:
            walk.set_limits(
                self.parallelism_of(walk.default_parallelism), self.caps_of(walk.default_caps)
            )
            aborted = self.control.aborted
            if aborted is not None and self.current_phase() != "rollback":
                if aborted.cancel:
                    walk.cancel()
                else:
                    walk.abort()
        self.show_details(force=True)

    async def await_decision(
        self, walk: DagWalk, timeout: float, history_full: Callable[[], bool]
    ) -> None:
        """What is left waits on failed actions: wait for `retry`, `skip` or `abort`, at most
        `timeout` seconds since the wait began (a continue-as-new does not restart it)."""
        now = workflow.now()
        if not self.control.waiting_since:
            self.control.waiting_since = now.isoformat()
        walk.refresh()  # the UI's details show the wait
        waited = (now - datetime.fromisoformat(self.control.waiting_since)).total_seconds()
        left = timeout - waited
        try:
            if left <= 0:
                raise TimeoutError
            await workflow.wait_condition(
                lambda: walk.changed or history_full(), timeout=timedelta(seconds=left)
            )
        except TimeoutError:
            self.control.aborted = Aborted(
                by="wfctl",
                reason=f"no retry, skip or abort within {_duration(timeout)}",
            )
            walk.abort()
        if not history_full():
            self.control.waiting_since = ""

    # What the walk asks.

    def held(self) -> bool:
        return self.control.paused is not None

    def parallelism_of(self, default: int) -> int:
        return self.control.parallelism or default

    def caps_of(self, defaults: dict[str, int]) -> dict[str, int]:
        return {**defaults, **self.control.provider_parallelism}

    # The Updates. Their arguments arrive as raw payloads: see workflows.raw_input.

    @workflow.update
    async def pause(self, raw: RawValue = NO_PAYLOAD) -> str:
        request = update_argument(raw, PauseRequest, default=PauseRequest())
        self.control.paused = Paused(
            by=request.by, since=workflow.now().isoformat(), reason=request.reason
        )
        self.control_changed()
        return f"paused by {request.by}: no new action starts; running ones finish"

    @pause.validator
    def _check_pause(self, raw: RawValue = NO_PAYLOAD) -> None:
        update_argument(raw, PauseRequest, default=PauseRequest())
        self._check_open("pause")
        if self.control.paused is not None:
            held = self.control.paused
            raise ValueError(f"the run is already paused (by {held.by} since {held.since})")

    @workflow.update
    async def resume(self, raw: RawValue = NO_PAYLOAD) -> str:
        request = update_argument(raw, ResumeRequest, default=ResumeRequest())
        self.control.paused = None
        self.control_changed()
        return f"resumed by {request.by}"

    @resume.validator
    def _check_resume(self, raw: RawValue = NO_PAYLOAD) -> None:
        update_argument(raw, ResumeRequest, default=ResumeRequest())
        if self.control.paused is None:
            raise ValueError("the run is not paused")

    @workflow.update(name="parallelism")
    async def set_parallelism(self, raw: RawValue = NO_PAYLOAD) -> str:
        request = update_argument(raw, ParallelismRequest)
        if request.parallelism is not None:
            self.control.parallelism = request.parallelism
        self.control.provider_parallelism.update(request.providers)
        self.control_changed()
        caps = ", ".join(f"{k}={v}" for k, v in sorted(self.control.provider_parallelism.items()))
        overall = self.control.parallelism or "unchanged"
        return f"parallelism {overall}" + (f" ({caps})" if caps else "") + f", by {request.by}"

    @set_parallelism.validator
    def _check_parallelism(self, raw: RawValue = NO_PAYLOAD) -> None:
        request = update_argument(raw, ParallelismRequest)
        self._check_open("change the parallelism of")
        if request.parallelism is None and not request.providers:
            raise ValueError("give a parallelism, provider caps (providers), or both")
        unknown = sorted(set(request.providers) - set(self.provider_keys))
        if unknown:
            known = ", ".join(self.provider_keys) or "none"
            raise ValueError(
                f"provider {', '.join(unknown)} is not a provider of this stack (it has {known})"
            )

    @workflow.update
    async def retry(self, raw: RawValue = NO_PAYLOAD) -> str:
        request = update_argument(raw, RetryRequest, default=RetryRequest())
        walk = self.current_walk()
        assert walk is not None  # the validator saw it
        names = request.resources or walk.names("failed")
        walk.retry(names)
        return f"retrying {', '.join(names)}, by {request.by}"

    @retry.validator
    def _check_retry(self, raw: RawValue = NO_PAYLOAD) -> None:
        request = update_argument(raw, RetryRequest, default=RetryRequest())
        walk = self._failures_walk("retry")
        failed = walk.names("failed")
        if not failed:
            raise ValueError("no action of this run has failed: nothing to retry")
        unknown = [name for name in request.resources if name not in failed]
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)} did not fail (failed: {', '.join(failed)})"
            )

    @workflow.update
    async def skip(self, raw: RawValue = NO_PAYLOAD) -> str:
        request = update_argument(raw, SkipRequest)
        walk = self.current_walk()
        assert walk is not None
        skipped = walk.skip(request.resource)
        also = f"; skipped with it: {', '.join(skipped)}" if skipped else ""
        return f"skipped {request.resource}, by {request.by}{also}"

    @skip.validator
    def _check_skip(self, raw: RawValue = NO_PAYLOAD) -> None:
        request = update_argument(raw, SkipRequest)
        failed = self._failures_walk("skip").names("failed")
        if request.resource not in failed:
            raise ValueError(
                f"{request.resource} has not failed (failed: {', '.join(failed) or 'none'})"
            )

    @workflow.update
    async def abort(self, raw: RawValue = NO_PAYLOAD) -> str:
        request = update_argument(raw, AbortRequest, default=AbortRequest())
        self.control.aborted = Aborted(
            by=request.by, rollback=request.rollback, reason=f"aborted by {request.by}"
        )
        self.control.paused = None  # ending now: nothing is left to hold
        self.control_changed()
        then = " and roll back what it created" if request.rollback else ""
        return f"aborting, by {request.by}: running actions finish, nothing else starts{then}"

    @abort.validator
    def _check_abort(self, raw: RawValue = NO_PAYLOAD) -> None:
        update_argument(raw, AbortRequest, default=AbortRequest())
        self._check_can_end("abort")

    @workflow.update
    async def cancel(self, raw: RawValue = NO_PAYLOAD) -> str:
        request = update_argument(raw, CancelRequest, default=CancelRequest())
        self.control.aborted = Aborted(
            by=request.by, cancel=True, reason=f"cancelled by {request.by}"
        )
        self.control.paused = None
        self.control_changed()
        return (
            f"cancelling, by {request.by}: running actions are cancelled and what they left "
            "is read back from the cloud into the state"
        )

    @cancel.validator
    def _check_cancel(self, raw: RawValue = NO_PAYLOAD) -> None:
        update_argument(raw, CancelRequest, default=CancelRequest())
        self._check_can_end("cancel")

    def _check_can_end(self, doing: str) -> None:
        """Abort and cancel alike: only a walking run that is not already ending."""
        self._check_open(doing)
        if self.current_walk() is None:
            raise ValueError("the run has not started its actions: reject its plan instead")
        if self.control.aborted is not None:
            raise ValueError(f"the run is already ending ({self.control.aborted.reason})")

    def _failures_walk(self, doing: str) -> DagWalk:
        self._check_open(doing)
        walk = self.current_walk()
        if not self.waits_on_failure or walk is None:
            raise ValueError(
                f"cannot {doing}: the run was not started with on_failure wait (it ends "
                "after a failure; apply again instead)"
            )
        if self.control.aborted is not None:
            raise ValueError(f"cannot {doing}: the run is ending ({self.control.aborted.reason})")
        return walk

    def _check_open(self, doing: str) -> None:
        if not self.operable:
            raise ValueError(f"cannot {doing} this run: it starts no actions of a plan")
        phase = self.current_phase()
        if phase in _CLOSED_PHASES:
            raise ValueError(f"cannot {doing} the run: it has no more actions to start")


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g}{unit}"
    return f"{seconds:g}s"
