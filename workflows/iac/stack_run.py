"""What apply, destroy, drift and import share: input, lock, plan, approval, the walk.

Each workflow class is a thin `@workflow.run` over these steps; the query and update
handlers are defined here once and inherited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.iac.calls import (
        as_workflow_failure,
        call,
    )
    from workflows.iac.carry import OUTPUT_BYTES, OUTPUTS_CARRIED
    from workflows.iac.control import OperatorControls
    from workflows.iac.details import TABLE_ROWS, run_details
    from workflows.iac.models import (
        ActionResult,
        ApplyCarry,
        LockHeld,
        LockReleased,
        LockRequest,
        NodesRequest,
        PlanDigest,
        PlanNode,
        PlanOutcome,
        PlanRequest,
        Progress,
        RunningAction,
        SavedPlanRequest,
        StackRunInput,
        document_source,
    )
    from workflows.iac.node_calls import reconcile_action, run_action
    from workflows.iac.walk import CANCELLED, DONE, DagWalk
    from workflows.iac.window import Window
    from workflows.raw_input import NO_PAYLOAD, update_argument
    from workflows.search_attributes import PHASE, STACK_NAME

T = TypeVar("T")

# Names a progress answer lists per kind (failed, cancelled, errors); the rest are counted.
PROGRESS_LIST_LIMIT = 100
# History events one in-flight action may still add after the walk stopped starting new ones.
EVENTS_PER_RUNNING_ACTION = 4
NODES_PAGE = 2000
ROLLBACK_EVENTS = 10_000
DETAILS_EVERY = timedelta(seconds=1)


class Rejected(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class StackRun(OperatorControls):
    def __init__(self) -> None:
        super().__init__()
        self._progress = Progress()
        self._plan: PlanOutcome | None = None
        self._awaiting_approval = False
        self._decision: tuple[str, str] | None = None
        self._walk: DagWalk | None = None
        self._nodes: list[PlanNode] = []  # all of the plan's, or the window's being walked
        self._window: Window | None = None
        self._details_signature: tuple[object, ...] = ()
        self._details_at: datetime | None = None

    # ---- handlers ----

    @workflow.query
    def plan(self) -> PlanOutcome | None:
        """The plan this run applies (its actions inline when small enough)."""
        return self._plan

    @workflow.query
    def progress(self) -> Progress:
        progress = self._progress.model_copy()
        if self._walk is not None:
            walk = self._walk
            progress.done = walk.count(DONE)
            progress.running = list(walk.running)
            failed = walk.names("failed")
            progress.failed = failed[:PROGRESS_LIST_LIMIT]
            progress.skipped = walk.count("skipped")
            progress.waiting = len(walk.nodes) - len(walk.status) - len(walk.running)
            progress.running_actions = [
                RunningAction(name=key, action=node.action, since=walk.started_at[key])
                for key, node in walk.running.items()
            ]
            progress.errors = walk.errors[:PROGRESS_LIST_LIMIT]
            cancelled = walk.names(CANCELLED)
            progress.cancelled = cancelled[:PROGRESS_LIST_LIMIT]
            progress.left_out = {
                key: len(full) - PROGRESS_LIST_LIMIT
                for key, full in (("failed", failed), ("cancelled", cancelled),
                                  ("errors", walk.errors))
                if len(full) > PROGRESS_LIST_LIMIT
            }
            progress.not_started = len(walk.not_started)
            progress.parallelism = walk.parallelism
            progress.provider_parallelism = walk.caps
            if walk.blocked and self.control.waiting_since:
                progress.awaiting_decision_since = self.control.waiting_since
            if self._window is not None:
                self._window_progress(progress, walk, self._window)
        progress.paused = self.control.paused
        return progress

    @staticmethod
    def _window_progress(progress: Progress, walk: DagWalk, window: Window) -> None:
        """The walk's counts are its window's: add what the letters say of the rest (between
        windows, the walk is the one done and the letters say it all)."""
        if not window.index:
            progress.done = progress.skipped = progress.waiting = progress.not_started = 0
            progress.running, progress.running_actions, progress.failed = [], [], []
            progress.left_out.pop("failed", None)
        outside = window.outside
        progress.done += outside["d"]
        progress.skipped += outside["s"] + outside["n"]
        progress.waiting += outside["."]
        progress.not_started += outside["n"]
        if outside["f"]:
            # Failed in an earlier window (a run that does not wait on failures): named from
            # the errors carried, counted from the letters.
            listed = set(progress.failed)
            earlier = [e.resource for e in walk.errors
                       if e.resource not in walk.status and e.resource not in listed]
            failed = [*earlier, *progress.failed][:PROGRESS_LIST_LIMIT]
            total = progress.failed_count() + outside["f"]
            progress.failed = failed
            progress.left_out.pop("failed", None)
            if total > len(failed):
                progress.left_out["failed"] = total - len(failed)

    def current_phase(self) -> str:
        return self._progress.phase

    def current_walk(self) -> DagWalk | None:
        return self._walk

    def show_details(self, force: bool = False) -> None:
        """The web UI's current details: phase and progress, then the plan as a table.

        Redrawn at once when what an operator looks for changed (phase, pause, a failure, a
        wait for a decision), else at most every DETAILS_EVERY of workflow time: the counts
        cost a pass over every action, and a large apply's walk wakes per action."""
        walk = self._walk
        signature = (
            self._progress.phase,
            self.control.paused is not None,
            self.control.waiting_since,
            len(walk.errors) if walk is not None else 0,
        )
        now = workflow.now()
        if (
            not force
            and signature == self._details_signature
            and self._details_at is not None
            and now - self._details_at < DETAILS_EVERY
        ):
            return
        self._details_signature, self._details_at = signature, now
        workflow.set_current_details(run_details(self.progress(), self._plan, self._nodes))

    # The arguments arrive as raw payloads (a plan id, a reason): see workflows.raw_input.
    @workflow.update
    async def approve(self, plan_id: RawValue = NO_PAYLOAD) -> str:
        self._decision = ("approved", "")
        return f"plan {update_argument(plan_id, str)} approved"

    @approve.validator
    def _check_approval(self, raw: RawValue = NO_PAYLOAD) -> None:
        plan_id = update_argument(raw, str)
        if not self._awaiting_approval or self._plan is None:
            raise ValueError("this run is not waiting for an approval")
        if plan_id != self._plan.plan_id:
            raise ValueError(
                f"plan {plan_id!r} is not the plan of this run ({self._plan.plan_id})"
            )

    @workflow.update
    async def reject(self, reason: RawValue = NO_PAYLOAD) -> str:
        self._decision = ("rejected", update_argument(reason, str, default=""))
        return "plan rejected"

    @reject.validator
    def _check_rejection(self, reason: RawValue = NO_PAYLOAD) -> None:
        update_argument(reason, str, default="")
        if not self._awaiting_approval:
            raise ValueError("this run is not waiting for an approval")

    # ---- steps ----

    def set_phase(self, stack: str, phase: str) -> None:
        self._progress.phase = phase
        workflow.upsert_search_attributes([STACK_NAME.value_set(stack), PHASE.value_set(phase)])
        self.show_details(force=True)

    @staticmethod
    def lock_owner() -> str:
        info = workflow.info()
        return f"{info.workflow_id}@{info.first_execution_run_id}"

    async def locked(self, request: StackRunInput, body: Callable[[], Awaitable[T]]) -> T:
        """Run `body` holding the stack's state lock, renewed until it is released.

        The lock is released however `body` ends, except on continue-as-new (the next run of
        the chain has the same owner and goes on holding it) and on eviction from the worker
        cache (GeneratorExit: the run goes on elsewhere, and a coroutine being closed must
        not await).
        """
        lock = LockRequest(target=request.target(), owner=self.lock_owner(), ttl=request.lock_ttl)
        try:
            await call("lock_state", lock, LockHeld | None, f"lock state of {request.stack}")
        except ActivityError as error:
            raise as_workflow_failure(error) from None

        async def renew() -> None:
            while True:
                await workflow.sleep(
                    timedelta(seconds=request.lock_ttl / 3),
                    summary=f"hold lock of {request.stack}: renew in {request.lock_ttl / 3:g}s",
                )
                await call("lock_state", lock, LockHeld | None, f"renew lock of {request.stack}")

        renewer = asyncio.create_task(renew())
        try:
            result = await body()
        except BaseException as error:
            renewer.cancel()
            if not isinstance(error, GeneratorExit | workflow.ContinueAsNewError):
                await self._release(request, lock)
            raise
        renewer.cancel()
        await self._release(request, lock)
        return result

    async def _release(self, request: StackRunInput, lock: LockRequest) -> None:
        self.set_phase(request.stack, "done")
        try:
            await call(
                "unlock_state", lock, LockReleased | None, f"unlock state of {request.stack}"
            )
        except ActivityError as error:
            # The work is done; a lock left behind expires, and the next run takes over a
            # lock whose run has ended anyway.
            workflow.logger.warning("could not release the state lock: %s", error)

    async def make_plan(
        self,
        request: StackRunInput,
        *,
        destroy: bool,
        allow_replace: list[str],
        all_nodes: bool = True,
    ) -> PlanDigest:
        plan_request = PlanRequest(
            **document_source(request),
            plan_id=str(workflow.uuid4()),
            created_at=workflow.now().isoformat(),
            targets=request.targets,
            destroy=destroy,
            allow_replace=allow_replace,
        )
        what = "destroy" if destroy else "plan"
        size = (
            f"document {request.document_digest[:12]}"
            if request.document_digest
            else f"{len(request.resources)} resources"
        )
        try:
            digest = await call(
                "plan_stack",
                plan_request,
                PlanDigest,
                f"{what} stack {request.stack} ({size})",
                timeout=timedelta(minutes=30),
                heartbeat=timedelta(seconds=request.heartbeat_timeout),
            )
        except ActivityError as error:
            raise as_workflow_failure(error) from None
        if all_nodes:
            await self._complete_nodes(request, digest)
        self._remember(digest)
        return digest

    async def saved_plan(
        self, request: StackRunInput, *, check_serial: bool, all_nodes: bool = True
    ) -> PlanDigest:
        load = SavedPlanRequest(
            **document_source(request),
            plan_id=request.plan_id,
            check_serial=check_serial,
            allow_replace=request.allow_replace,
        )
        try:
            digest = await call(
                "load_saved_plan", load, PlanDigest, f"load plan {request.plan_id}"
            )
        except ActivityError as error:
            raise as_workflow_failure(error) from None
        if all_nodes:
            await self._complete_nodes(request, digest)
        self._remember(digest)
        return digest

    async def _complete_nodes(
        self,
        request: StackRunInput,
        digest: PlanDigest,
        upto: int | None = None,
        page: int = NODES_PAGE,
    ) -> None:
        """Read the nodes of a large plan in pages, each well under the payload limit (a page
        may hold fewer than asked for: the activity also bounds it in bytes); all of them, or
        the first `upto`."""
        wanted = digest.node_count if upto is None else min(upto, digest.node_count)
        # The plan activity stored an inline document: the pages name it by digest.
        request = request.by_reference(digest.document_digest)
        while len(digest.nodes) < wanted:
            offset = len(digest.nodes)
            nodes_request = NodesRequest(
                **document_source(request), plan_id=digest.plan_id, offset=offset, limit=page
            )
            digest.nodes.extend(
                await call(
                    "plan_nodes",
                    nodes_request,
                    list[PlanNode],
                    f"read plan {digest.plan_id} actions {offset + 1}-{offset + page}",
                )
            )

    async def table_nodes(self, request: StackRunInput, digest: PlanDigest) -> None:
        """The first nodes of a large plan, for the web UI's table of the plan only."""
        await self._complete_nodes(request, digest, upto=TABLE_ROWS, page=TABLE_ROWS)
        self._nodes = digest.nodes

    def _remember(self, digest: PlanDigest) -> None:
        self._plan = PlanOutcome(
            plan_id=digest.plan_id,
            stack=digest.stack,
            state_serial=digest.state_serial,
            counts=digest.counts,
            plan=digest.plan,
        )
        self._progress.total = max(digest.node_count, len(digest.nodes))
        self._nodes = digest.nodes

    async def await_approval(self, request: StackRunInput) -> None:
        """Wait for `approve` or `reject`; raise Rejected on a rejection or a timeout."""
        self.set_phase(request.stack, "approval")
        self._awaiting_approval = True
        try:
            await workflow.wait_condition(
                lambda: self._decision is not None,
                timeout=timedelta(seconds=request.approval_timeout),
                timeout_summary=(
                    f"approval of stack {request.stack}"
                    f" (times out after {request.approval_timeout:g}s)"
                ),
            )
        except TimeoutError:
            raise Rejected(
                "approval_timeout", f"no approval within {request.approval_timeout:g}s"
            ) from None
        finally:
            self._awaiting_approval = False
        assert self._decision is not None
        verdict, reason = self._decision
        if verdict != "approved":
            raise Rejected("rejected", reason)

    def history_full(
        self, request: StackRunInput, parallelism: int | None = None, events: int = 0
    ) -> bool:
        # Room for the events of every action that may be in flight when the walk stops.
        if parallelism is None:
            parallelism = self.parallelism_of(request.parallelism)
        reserve = EVENTS_PER_RUNNING_ACTION * parallelism + 50
        limit = max((events or request.max_history_events) - reserve, 100)
        return workflow.info().get_current_history_length() >= limit

    async def walk(
        self,
        request: StackRunInput,
        digest: PlanDigest,
        carry: ApplyCarry,
        *,
        wait_on_failure: bool = False,
        stop_when_blocked: bool = False,
        events: int = 0,
    ) -> bool:
        """Run the plan's actions; False when stopped to continue as new (carry is updated).

        `stop_when_blocked`: a window with more to do outside it stops (False) instead of
        waiting for a decision; `events`: the history's length to stop at, if not the run's
        max_history_events."""

        async def execute(node: PlanNode) -> ActionResult:
            return await run_action(request, digest.plan_id, node, clean_cancel=clean_cancel)

        async def reconcile(node: PlanNode) -> None:
            await reconcile_action(request, node)

        # Runs started before clean cancels existed end at a cancel as they always did.
        clean_cancel = workflow.patched("clean-cancel")

        def history_full() -> bool:
            return self.history_full(request, walk.parallelism, events)

        def should_stop() -> bool:
            return history_full() or (stop_when_blocked and walk.blocked)

        async def blocked() -> None:
            await self.await_decision(walk, request.failure_timeout, history_full)

        walk = DagWalk(
            digest.nodes,
            execute,
            parallelism=request.parallelism,
            provider_parallelism=request.provider_parallelism,
            hold=self.held,
            on_change=self.show_details,
            on_blocked=blocked if wait_on_failure else None,
            reconcile=reconcile if clean_cancel else None,
        )
        walk.restore(carry.done, carry.failed, carry.skipped, carry.cancelled)
        output_bytes = sum(len(output.model_dump_json()) for output in carry.outputs)
        walk.not_started = list(carry.not_started)
        walk.errors = list(carry.errors)
        self._walk = walk
        self.control_changed()  # an operator's caps and abort, carried across continue-as-new
        finished = await walk.run(should_stop if stop_when_blocked else history_full)
        carry.done = walk.names(DONE)
        carry.failed = walk.names("failed")
        carry.skipped = walk.names("skipped")
        carry.cancelled = walk.names(CANCELLED)
        carry.not_started = walk.not_started
        carry.errors = walk.errors
        for result in walk.results:
            if result.part == "old":
                continue  # the rest of a replace, counted with its new instance
            carry.counts[result.action] = carry.counts.get(result.action, 0) + 1
            if result.action == "create":
                carry.created.append(result.name)
            if result.output is not None and len(carry.outputs) < OUTPUTS_CARRIED:
                size = len(result.output.model_dump_json())
                if output_bytes + size <= OUTPUT_BYTES:
                    carry.outputs.append(result.output)
                    output_bytes += size
        return finished

    async def roll_back(
        self, request: StackRunInput, digest: PlanDigest, carry: ApplyCarry
    ) -> list[str]:
        """Delete what this run created, dependents first; the names deleted.

        That includes what its failed creates left: their pending entries (a failed
        replace's old instance, still recorded as done, is left alone).
        """
        self.set_phase(request.stack, "rollback")
        by_name = {node.name: node for node in digest.nodes if node.part != "old"}
        failed = failed_creates(digest, carry)
        made = [*carry.created, *failed]
        nodes = []
        for name in reversed(made):
            # A resource goes after everything created here that depends on it.
            users = sorted(other for other in made if name in by_name[other].depends_on)
            nodes.append(
                by_name[name].model_copy(
                    update={"action": "delete", "deps": users, "pending_only": name in failed}
                )
            )
        return await self.roll_back_nodes(request, digest, nodes)

    async def roll_back_nodes(
        self, request: StackRunInput, digest: PlanDigest, nodes: list[PlanNode], events: int = 0
    ) -> list[str]:
        """Walk a rollback's deletes (roll_back's, or read from the plan's letters); it stops
        at `events` of history if given, else at max_history_events."""
        rollback = ApplyCarry(plan_id=digest.plan_id)
        await self.walk(request, digest.model_copy(update={"nodes": nodes}), rollback,
                        events=events)
        return rollback.done


def failed_creates(digest: PlanDigest, carry: ApplyCarry) -> list[str]:
    """The run's failed actions that may have left a pending entry: creates and replaces."""
    kinds = {node.name: node.action for node in digest.nodes if node.part != "old"}
    return [name for name in carry.failed if kinds.get(name) in ("create", "replace")]
