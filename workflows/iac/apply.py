"""ApplyWorkflow and DestroyWorkflow: plan (or load a saved plan), approve, walk, report.

Start them with workflow id `stack:<name>` and WorkflowIDConflictPolicy.FAIL: the id is the
stack's lock, and the run also holds the state store's lock until it ends (a continue-as-new
hands it on to the next run of the chain, which has the same owner).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from interfaces.iac import ActionError
    from workflows.iac.calls import parse_run_input
    from workflows.iac.carry import (
        ERRORS_CARRIED,
        capped_errors,
        pack,
        unpack,
        unpack_letters,
    )
    from workflows.iac.models import (
        ApplyCarry,
        ApplyOutcome,
        DestroyOutcome,
        PlanDigest,
        StackRunInput,
    )
    from workflows.iac.runner import SANDBOXED
    from workflows.iac.stack_run import ROLLBACK_EVENTS, Rejected, StackRun, failed_creates
    from workflows.iac.window import (
        Window,
        names_of,
        read_window,
        rollback_nodes,
        window_carry,
    )
    from workflows.metrics import recorded
    from workflows.raw_input import NO_PAYLOAD


@dataclass
class RunEnd:
    carry: ApplyCarry
    digest: PlanDigest
    status: str
    reason: str = ""
    rolled_back: list[str] = field(default_factory=list)
    # How many names each result list has in all, when the carry holds only the first ones.
    totals: dict[str, int] = field(default_factory=dict)

    def left_out(self, lists: dict[str, list[str]], sources: dict[str, str]) -> dict[str, int]:
        """capped(lists), and what the carry's first names leave out of the lists taken
        from it (`sources`: list -> carry list)."""
        left_out = capped(lists)
        for name, source in sources.items():
            total = self.totals.get(source)
            if total is not None and total > len(lists[name]):
                left_out[name] = total - len(lists[name])
        return left_out

    def skipped(self) -> list[str]:
        """Skipped for a failure (or by an operator); what an abort left is `not_started`."""
        left = set(self.carry.not_started)
        return [name for name in self.carry.skipped if name not in left]


# Names a result lists per kind (done, skipped, ...); the rest are counted in `left_out`.
RESULT_NAMES_LIMIT = 1000


def capped(lists: dict[str, list[str]], limit: int = RESULT_NAMES_LIMIT) -> dict[str, int]:
    """Cut each list to `limit` in place; how many each lost."""
    left_out = {}
    for key, names in lists.items():
        if len(names) > limit:
            left_out[key] = len(names) - limit
            del names[limit:]
    return left_out


def result_errors(end: RunEnd, left_out: dict[str, int]) -> list[ActionError]:
    if len(end.carry.errors) > ERRORS_CARRIED:
        left_out["errors"] = len(end.carry.errors) - ERRORS_CARRIED
    return capped_errors(end.carry.errors)


class PlanRun(StackRun):
    """Apply and destroy are the same run over different plans."""

    async def execute(self, raw: RawValue, kind: str) -> RunEnd:
        request = parse_run_input(raw)
        self.operable = True
        self.waits_on_failure = request.on_failure == "wait"
        self.provider_keys = sorted(request.providers)
        if request.resume is not None:
            # Paused (or re-capped) before continuing as new: still so.
            self.control = request.resume.control.model_copy(deep=True)
        self.set_phase(request.stack, "plan" if request.resume is None else kind)
        return await self.locked(request, lambda: self._plan_and_walk(request, kind))

    async def _plan_and_walk(self, request: StackRunInput, kind: str) -> RunEnd:
        # Runs started before windows read every node of the plan at each run start; so does
        # a run handed a carry of name lists (from before the carry packed status letters).
        windowed = workflow.patched("plan-window") and (
            request.resume is None or bool(request.resume.statuses)
        )
        window: Window | None = None
        if request.resume is not None:
            digest = await self.saved_plan(request, check_serial=False, all_nodes=not windowed)
            if windowed:
                window = Window(unpack_letters(request.resume, digest.node_count))
                carry = request.resume.model_copy(update={"statuses": "", "node_count": 0})
            else:
                carry = unpack(request.resume, digest.nodes)
        else:
            if request.plan_id:
                digest = await self.saved_plan(
                    request, check_serial=True, all_nodes=not windowed
                )
            else:
                digest = await self.make_plan(
                    request,
                    destroy=kind == "destroy",
                    allow_replace=request.allow_replace,
                    all_nodes=not windowed,
                )
            carry = ApplyCarry(plan_id=digest.plan_id, kind=kind)  # type: ignore[arg-type]
            # A document given inline was stored by the plan activity: from here on, and in
            # every continue-as-new, the run names it by digest.
            request = request.by_reference(digest.document_digest)
            if not max(digest.node_count, len(digest.nodes)):
                return RunEnd(carry, digest, "no_changes")
            if windowed:
                window = Window("." * digest.node_count)
            if not request.auto_approve:
                try:
                    await self.await_approval(request)
                except Rejected as rejected:
                    return RunEnd(carry, digest, rejected.status, rejected.reason)
        self.set_phase(request.stack, kind)
        if window is not None:
            return await self._walk_windows(request, kind, digest, carry, window)
        if not await self.walk(request, digest, carry, wait_on_failure=self.waits_on_failure):
            await self._hand_over(request, carry, lambda: pack(carry, digest.nodes))
        return await self._end(request, digest, carry)

    async def _hand_over(
        self, request: StackRunInput, carry: ApplyCarry, resume: Callable[[], ApplyCarry]
    ) -> NoReturn:
        """Continue as new with the carry `resume` packs, the operator's controls in it."""
        carry.control = self.control
        # An Update accepted in this last task must answer before the run hands over.
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            request.model_copy(
                update={"resume": resume(), "plan_id": carry.plan_id, "auto_approve": True}
            )
        )

    async def _end(self, request: StackRunInput, digest: PlanDigest, carry: ApplyCarry,
                   window: Window | None = None) -> RunEnd:
        aborted = self.control.aborted
        totals: dict[str, int] = {}
        made = 0
        if window is not None:
            # The result's lists and the rollback's count, from the letters.
            found = await names_of(request, digest, window, RESULT_NAMES_LIMIT)
            letters = {"d": "done", "f": "failed", "s": "skipped", "c": "cancelled",
                       "n": "not_started"}
            for letter, key in letters.items():
                setattr(carry, key, found.names.get(letter, []))
                totals[key] = found.counts.get(letter, 0)
            made = found.rollback
        if aborted is not None and aborted.cancel:
            return RunEnd(carry, digest, "cancelled", aborted.reason, totals=totals)
        if not carry.errors and aborted is None:
            return RunEnd(carry, digest, "applied", totals=totals)
        reason = aborted.reason if aborted is not None else ""
        rollback = request.rollback or (aborted is not None and aborted.rollback)
        if window is None:
            made = len(carry.created) + len(failed_creates(digest, carry))
        if rollback and made:
            if window is not None:
                self.set_phase(request.stack, "rollback")
                nodes = await rollback_nodes(request, digest, window, made)
                self._window = None  # the rollback's walk is all of its own progress
                # A rollback does not continue as new: it may pass max_history_events
                # (headroom under Temporal's 10,240) rather than stop with resources left
                # behind (runs before windows stopped there).
                rolled = await self.roll_back_nodes(request, digest, nodes, ROLLBACK_EVENTS)
            else:
                rolled = await self.roll_back(request, digest, carry)
            return RunEnd(carry, digest, "rolled_back", reason, rolled_back=rolled,
                          totals=totals)
        return RunEnd(carry, digest, "failed", reason, totals=totals)

    async def _walk_windows(
        self, request: StackRunInput, kind: str, digest: PlanDigest, carry: ApplyCarry,
        window: Window,
    ) -> RunEnd:
        """Walk window after window; continue as new once the history is near its limit."""
        self._window = window
        while True:
            nodes = await read_window(request, digest, window, self.waits_on_failure)
            if self.control.aborted is not None:
                window.stop_the_rest()  # aborted while the window was read
                break
            if not nodes:
                break
            view = window_carry(carry, window)
            self._nodes = nodes  # the UI's table shows the window's
            await self.walk(
                request,
                digest.model_copy(update={"nodes": nodes}),
                view,
                wait_on_failure=self.waits_on_failure,
                stop_when_blocked=not window.waiting,
            )
            walk = self.current_walk()
            assert walk is not None
            window.write_back(walk.status, walk.not_started)
            carry.errors, carry.counts, carry.outputs = view.errors, view.counts, view.outputs
            if self.control.aborted is not None:
                window.stop_the_rest()
                break
            if not window.left():
                break
            if self.history_full(request):
                await self._hand_over(request, carry, lambda: carry.model_copy(update={
                    "statuses": window.packed(),
                    "node_count": len(window.letters),
                    "created": [],
                }))
        return await self._end(request, digest, carry, window)


@workflow.defn(name="ApplyWorkflow", sandboxed=SANDBOXED)
class ApplyWorkflow(PlanRun):
    @workflow.run
    @recorded("apply")
    async def run(self, input: RawValue = NO_PAYLOAD) -> ApplyOutcome:
        end = await self.execute(input, "apply")
        lists = {
            "skipped": end.skipped(),
            "rolled_back": list(end.rolled_back),
            # Listed for a cancelled run only: a finished one may have thousands.
            "done": list(end.carry.done) if end.status == "cancelled" else [],
            "cancelled": list(end.carry.cancelled),
            "not_started": list(end.carry.not_started),
        }
        sources = {"skipped": "skipped", "cancelled": "cancelled", "not_started": "not_started"}
        if end.status == "cancelled":
            sources["done"] = "done"
        left_out = end.left_out(lists, sources)
        return ApplyOutcome(
            plan_id=end.digest.plan_id,
            stack=end.digest.stack,
            status=end.status,  # type: ignore[arg-type]
            resources=end.carry.outputs,
            errors=result_errors(end, left_out),
            counts=end.carry.counts,
            reason=end.reason,
            left_out=left_out,
            **lists,
        )


@workflow.defn(name="DestroyWorkflow", sandboxed=SANDBOXED)
class DestroyWorkflow(PlanRun):
    @workflow.run
    @recorded("destroy")
    async def run(self, input: RawValue = NO_PAYLOAD) -> DestroyOutcome:
        end = await self.execute(input, "destroy")
        lists = {
            "destroyed": list(end.carry.done),
            "skipped": end.skipped(),
            "cancelled": list(end.carry.cancelled),
            "not_started": list(end.carry.not_started),
        }
        left_out = end.left_out(lists, {"destroyed": "done", "skipped": "skipped",
                                        "cancelled": "cancelled", "not_started": "not_started"})
        return DestroyOutcome(
            plan_id=end.digest.plan_id,
            stack=end.digest.stack,
            status=end.status,  # type: ignore[arg-type]
            errors=result_errors(end, left_out),
            reason=end.reason,
            left_out=left_out,
            **lists,
        )
