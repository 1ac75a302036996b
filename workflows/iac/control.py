"""The operator's hand on a running apply or destroy: the pause, resume and parallelism Updates.

Each Update has a validator, so a request that cannot apply (resume a run not paused, a cap
for a provider the stack has not) is refused before it is written to history; an accepted
one is recorded there (the Update's accepted and completed events) with who sent it. What
they change is a ControlState, handed on across continue-as-new in the run's carry and
rebuilt by replay after a worker restart, so a paused run stays paused either way.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from interfaces.iac_control import (
        ControlState,
        ParallelismRequest,
        Paused,
        PauseRequest,
        ResumeRequest,
    )
    from workflows.iac.walk import DagWalk
    from workflows.raw_input import NO_PAYLOAD, update_argument

# Phases in which the run starts no more actions: nothing left to steer.
_CLOSED_PHASES = ("", "done")


class OperatorControls:
    """Update handlers of the stack runs; only those that walk a plan (apply, destroy) take them."""

    control: ControlState
    provider_keys: list[str]
    operable: bool  # a run that walks a plan (not a drift, status or import)

    def __init__(self) -> None:
        self.control = ControlState()
        self.provider_keys = []
        self.operable = False

    # What the run provides.

    def current_phase(self) -> str:
        raise NotImplementedError

    def current_walk(self) -> DagWalk | None:
        raise NotImplementedError

    def control_changed(self) -> None:
        """Make the walk see the new settings now (and the UI's details follow)."""
        walk = self.current_walk()
        if walk is not None:
            walk.set_limits(
                self.parallelism_of(walk.default_parallelism), self.caps_of(walk.default_caps)
            )

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

    def _check_open(self, doing: str) -> None:
        if not self.operable:
            raise ValueError(f"cannot {doing} this run: it starts no actions of a plan")
        phase = self.current_phase()
        if phase in _CLOSED_PHASES:
            raise ValueError(f"cannot {doing} the run: it has no more actions to start")
