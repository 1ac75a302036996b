"""Walking a plan's action graph: each action starts once all it waits for succeeded.

The walk knows nothing of what an action does (the caller's `execute` does it) -- only
order, limits (overall and per provider, changeable while it runs), skipping the dependents
of a failure, holding new starts while an operator pauses the run, and stopping so the run
can continue as new before its history grows too long.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from interfaces.iac import ActionError
    from workflows.iac.calls import failure_reason
    from workflows.iac.models import ActionResult, PlanNode

DONE, FAILED, SKIPPED, CANCELLED = "done", "failed", "skipped", "cancelled"


class DagWalk:
    def __init__(
        self,
        nodes: Iterable[PlanNode],
        execute: Callable[[PlanNode], Awaitable[ActionResult]],
        *,
        parallelism: int,
        provider_parallelism: dict[str, int] | None = None,
        hold: Callable[[], bool] = lambda: False,
        on_change: Callable[[], None] = lambda: None,
        on_blocked: Callable[[], Awaitable[None]] | None = None,
        reconcile: Callable[[PlanNode], Awaitable[None]] | None = None,
    ) -> None:
        """`on_blocked` set, a failed action's dependents wait instead of being skipped, and
        once nothing else can run the walk awaits it: it returns after an operator's retry,
        skip or abort changed the walk (or to let the run continue as new).

        `reconcile` set, a cancelled walk stops cleanly: nothing more starts, the running
        actions are cancelled through their heartbeats and each one that stopped mid-call is
        reconciled (awaited) before the walk ends."""
        # Keyed by node key: a split replace has two nodes of one resource.
        self.nodes = {node.key: node for node in nodes}
        self.status: dict[str, str] = {}
        self.running: dict[str, PlanNode] = {}
        self.started_at: dict[str, str] = {}  # running action -> ISO time it was scheduled
        self.errors: list[ActionError] = []
        self.results: list[ActionResult] = []  # in completion order
        self._execute = execute
        # The run's own limits; an operator's override is applied with set_limits.
        self.default_parallelism = parallelism
        self.default_caps = dict(provider_parallelism or {})
        self._parallelism = parallelism
        self._caps = dict(self.default_caps)
        self._hold = hold
        self._on_change = on_change
        self._on_blocked = on_blocked
        self._reconcile = reconcile
        self._cancelling = False
        self.not_started: list[str] = []  # skipped because the run was aborted or cancelled
        self._per_provider: dict[str, int] = {}
        self._waiting = {
            name: sum(1 for need in node.deps if need in self.nodes)
            for name, node in self.nodes.items()
        }
        self._users: dict[str, list[str]] = {name: [] for name in self.nodes}
        for name, node in self.nodes.items():
            for need in node.deps:
                if need in self._users:
                    self._users[need].append(name)
        self._ready: dict[str, deque[str]] = {}
        self._started = False
        self._changed = False
        self._tasks: set[asyncio.Task[None]] = set()

    def restore(
        self,
        done: Iterable[str],
        failed: Iterable[str],
        skipped: Iterable[str],
        cancelled: Iterable[str] = (),
    ) -> None:
        """Take over the outcome of actions an earlier run (before continue-as-new) finished."""
        for name in done:
            if name in self.nodes:
                self._succeeded(name)
        failed, cancelled = set(failed), set(cancelled)
        for name in (*failed, *cancelled, *skipped):
            if name in self.nodes:
                self.status[name] = (
                    FAILED if name in failed else CANCELLED if name in cancelled else SKIPPED
                )

    def count(self, outcome: str) -> int:
        return sum(1 for status in self.status.values() if status == outcome)

    def names(self, outcome: str) -> list[str]:
        return [name for name, status in self.status.items() if status == outcome]

    @property
    def finished(self) -> bool:
        return len(self.status) == len(self.nodes)

    @property
    def blocked(self) -> bool:
        """Nothing runs and nothing can start: what is left waits on failed actions."""
        return not self.running and not self.finished and not self._has_ready()

    @property
    def changed(self) -> bool:
        return self._changed

    # An operator's decisions on failed actions (on_blocked walks).

    def retry(self, names: Iterable[str]) -> None:
        """Run these failed actions again, as if they had never run."""
        again = set(names)
        self.errors = [e for e in self.errors if e.resource not in again]
        for name in again:
            del self.status[name]
            if self._started:
                self._ready.setdefault(self.nodes[name].provider, deque()).append(name)
        self.poke()

    def skip(self, name: str) -> list[str]:
        """Give up on a failed action: it and what depends on it are skipped (returned)."""
        self.status[name] = SKIPPED
        skipped = self._skip_users(name)
        self.poke()
        return skipped

    def abort(self) -> None:
        """Start nothing more: every action not started is skipped; running ones finish."""
        for name in self.names(FAILED):
            self._skip_users(name)  # these wait on a failure: skipped for it, as ever
        for name in self.nodes:
            if name not in self.status and name not in self.running:
                self.status[name] = SKIPPED
                self.not_started.append(name)
        self.poke()

    def cancel(self) -> None:
        """Abort, and cancel the running actions (reconciled as they stop)."""
        self.abort()
        if self._cancelling:
            return
        self._cancelling = True
        for task in list(self._tasks):
            task.cancel()

    @property
    def parallelism(self) -> int:
        return self._parallelism

    @property
    def caps(self) -> dict[str, int]:
        return dict(self._caps)

    def set_limits(self, parallelism: int, caps: dict[str, int]) -> None:
        """New caps for what starts next; running actions are never cancelled for them."""
        self._parallelism, self._caps = parallelism, dict(caps)
        self.poke()

    def refresh(self) -> None:
        """Tell the run's on_change what the walk is doing now."""
        self._on_change()

    def poke(self) -> None:
        """Look again at what may start (the hold or the limits changed)."""
        self._changed = True

    async def run(self, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Walk until every action finished (True) or, stopped to continue as new, nothing
        runs any more (False). While held, nothing starts and the walk waits to be let go."""
        if not self._started:
            self._started = True
            for name, node in self.nodes.items():
                if name not in self.status and self._waiting[name] == 0:
                    self._ready.setdefault(node.provider, deque()).append(name)
        try:
            while True:
                stopping = should_stop()
                if not stopping and not self._hold():
                    self._launch()
                self._on_change()
                if self._on_blocked is not None and not stopping and self.blocked:
                    if not self._hold():
                        self._changed = False
                        await self._on_blocked()
                        continue
                if not self.running and (stopping or self.finished or not self._hold()):
                    return self.finished
                self._changed = False
                # Held with nothing running, the run may still need to continue as new (its
                # lock renewals add history while an operator takes their time).
                await workflow.wait_condition(
                    lambda: self._changed or (not self.running and should_stop())
                )
        except asyncio.CancelledError:
            if self._reconcile is None:
                for task in list(self._tasks):
                    task.cancel()
                raise
            # Temporal's cancel of the run: stop as cleanly as an operator's cancel, then end
            # as cancelled.
            self.cancel()
            await workflow.wait_condition(lambda: not self.running)
            raise

    def _launch(self) -> None:
        while len(self.running) < self._parallelism:
            name = self._next_ready()
            if name is None:
                return
            node = self.nodes[name]
            self.running[node.key] = node
            self.started_at[node.key] = workflow.now().isoformat()
            self._per_provider[node.provider] = self._per_provider.get(node.provider, 0) + 1
            task = asyncio.create_task(self._run_one(node))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _next_ready(self) -> str | None:
        for provider, queue in self._ready.items():
            while queue and queue[0] in self.status:
                queue.popleft()  # skipped or aborted while it waited for a slot
            cap = self._caps.get(provider, self._parallelism)
            if queue and self._per_provider.get(provider, 0) < cap:
                return queue.popleft()
        return None

    def _has_ready(self) -> bool:
        return any(name not in self.status for queue in self._ready.values() for name in queue)

    async def _run_one(self, node: PlanNode) -> None:
        try:
            result = await self._execute(node)
        except (ActivityError, asyncio.CancelledError) as error:
            stopped = isinstance(error, asyncio.CancelledError) or isinstance(
                error.cause, CancelledError
            )
            if not (stopped and self._cancelling and self._reconcile is not None):
                if isinstance(error, asyncio.CancelledError):
                    raise
                self._record_failure(node, error)
            else:
                await self._reconcile(node)
                self.status[node.key] = CANCELLED
        else:
            self.results.append(result)
            self._succeeded(node.key)
        finally:
            self.running.pop(node.key, None)
            self.started_at.pop(node.key, None)
            self._per_provider[node.provider] -= 1
            self._changed = True

    def _record_failure(self, node: PlanNode, error: ActivityError) -> None:
        self.errors.append(
            ActionError(resource=node.name, action=node.action, error=failure_reason(error))
        )
        self._failed(node.key)

    def _succeeded(self, name: str) -> None:
        self.status[name] = DONE
        for user in self._users[name]:
            self._waiting[user] -= 1
            if self._started and self._waiting[user] == 0 and user not in self.status:
                self._ready.setdefault(self.nodes[user].provider, deque()).append(user)

    def _failed(self, name: str) -> None:
        self.status[name] = FAILED
        if self._on_blocked is None:
            self._skip_users(name)

    def _skip_users(self, name: str) -> list[str]:
        skipped = []
        pending = list(self._users[name])
        while pending:
            user = pending.pop()
            if user not in self.status:
                self.status[user] = SKIPPED
                skipped.append(user)
                pending.extend(self._users[user])
        return sorted(skipped)
