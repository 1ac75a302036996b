"""The Python client API for stacks: plan, apply, destroy, drift, import, status, outputs.

    client = await wfctl.connection.connect()
    stacks = StackClient(client)
    document = load_document("stack.yaml")
    plan = await stacks.plan(document)
    result = await stacks.apply(document, auto_approve=True)

Apply, destroy, drift and import run under workflow id `stack:<name>` with a FAIL conflict
policy: while one runs, another is refused with StackBusyError naming the holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payloads
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from engine.iac.plan_render import mask_sensitive
from engine.iac.stack import load_stack_file
from interfaces.errors import WfctlError
from interfaces.iac import DriftResult, Plan, ResourceState
from interfaces.iac_control import (
    AbortRequest,
    CancelRequest,
    OperatorRequest,
    ParallelismRequest,
    PauseRequest,
    ResumeRequest,
    RetryRequest,
    SkipRequest,
)
from interfaces.iac_protocols import IaCStateStore
from statestore import documents, open_state_store
from statestore.factory import sqlite_path, with_absolute_path
from workflows import task_queues
from workflows.iac.ids import lock_id
from workflows.iac.models import (
    ApplyOutcome,
    DestroyOutcome,
    DriftReport,
    PlanOutcome,
    Progress,
    StatusReport,
)
from workflows.search_attributes import PHASE, STACK_NAME

LOCKING_KINDS = ("apply", "destroy", "drift", "import")
WORKFLOW_TYPES = {
    "plan": ("PlanWorkflow", PlanOutcome),
    "apply": ("ApplyWorkflow", ApplyOutcome),
    "destroy": ("DestroyWorkflow", DestroyOutcome),
    "drift": ("DriftWorkflow", DriftReport),
    "import": ("ImportWorkflow", ResourceState),
    "status": ("StatusWorkflow", StatusReport),
}


log = logging.getLogger("wfctl.stack")

# Temporal's blob limits (the server's defaults). Measured against the dev server: a start whose
# encoded input (the Payloads message) is 2 MiB is accepted, one byte more is refused with
# "Blob data size exceeds limit".
PAYLOAD_LIMIT = 2 * 1024 * 1024
PAYLOAD_WARNING = 512 * 1024
# Above documents.INLINE_LIMIT an input names its document instead: the document is stored in
# the stack's state store and the run carries its digest.
# Kinds whose workflows read a document by reference (an import reads the resource's
# declaration from the inline document).
BY_REFERENCE_KINDS = ("plan", "apply", "destroy", "drift", "status")


# How long the busy answer waits for the holder's own progress (its worker answers a query in
# milliseconds when it is up) before it falls back to the Phase search attribute: the whole
# answer, a describe and this query, stays within 200 ms.
HOLDER_QUERY_WITHIN = 0.12


def progress_line(progress: Progress) -> str:
    """`phase apply: 3/10 done, 2 running, 0 failed, paused by ada` in one line."""
    line = f"phase {progress.phase or 'starting'}"
    if progress.total:
        line += (
            f": {progress.done}/{progress.total} done, {len(progress.running)} running, "
            f"{progress.failed_count()} failed"
        )
    if progress.paused is not None:
        line += f", paused by {progress.paused.by} since {progress.paused.since}"
    return line


class StackBusyError(WfctlError):
    """Another run holds the stack (its workflow id `stack:<name>`)."""


class StackTooLargeError(WfctlError):
    """The stack document, encoded as workflow input, is over Temporal's payload limit."""


def load_document(path: str | Path) -> dict[str, Any]:
    """A stack file as workflow input. A relative SQLite state path is made absolute here, by
    the one rule of statestore.factory (relative to the state directory, not to the file), so
    the run writes the file this process reads back."""
    doc = load_stack_file(path)
    data = doc.model_dump(mode="json", exclude_defaults=True)
    data["state"] = with_absolute_path(doc.state.model_dump(mode="json", exclude_none=True))
    data["stack"] = doc.stack
    return data


def workflow_id(kind: str, stack: str) -> str:
    """The forms the workflows check (workflows.iac.ids)."""
    if kind in LOCKING_KINDS:
        return lock_id(stack)
    return f"{lock_id(stack)}:{kind}:{uuid.uuid4().hex[:8]}"


def state_location(document: dict[str, Any]) -> str:
    """Where the stack's state is, for a message: the SQLite file, or the backend."""
    state = document.get("state") or {}
    backend = state.get("backend", "sqlite")
    return str(sqlite_path(state)) if backend == "sqlite" else f"the {backend} state store"


def open_store(document: dict[str, Any]) -> IaCStateStore:
    return open_state_store(document.get("state") or {}, document["stack"])


def masked_plan(plan: Plan) -> Plan:
    """The plan with recorded sensitive values masked, fit to print or write to a file."""
    actions = []
    for action in plan.actions:
        current = action.current
        if current is not None:
            current = current.model_copy(
                update={
                    "outputs": mask_sensitive(current.outputs, current.sensitive),
                    "applied_config": mask_sensitive(current.applied_config, current.sensitive),
                }
            )
        actions.append(action.model_copy(update={"current": current}))
    return plan.model_copy(update={"actions": actions})


class StackClient:
    def __init__(self, client: Client, task_queue: str = task_queues.IAC) -> None:
        self.client = client
        self.task_queue = task_queue

    async def start(
        self,
        kind: str,
        document: dict[str, Any],
        *,
        wait_for_lock: float | None = None,
        on_wait: Callable[[str], None] | None = None,
        **options: Any,
    ) -> WorkflowHandle[Any, Any]:
        """Start the `kind` workflow (plan, apply, destroy, drift, import, status).

        While another run holds the stack, StackBusyError says which and how far it is; with
        `wait_for_lock` (seconds) this waits for that run to end and starts then, telling
        `on_wait` once what it waits for."""
        workflow, result_type = WORKFLOW_TYPES[kind]
        stack = document["stack"]
        wid = workflow_id(kind, stack)
        arg = await self.workflow_input(
            kind, document, {k: v for k, v in options.items() if v is not None}
        )
        deadline = None if wait_for_lock is None else time.monotonic() + wait_for_lock
        while True:
            try:
                return await self.client.start_workflow(
                    workflow,
                    arg,
                    id=wid,
                    task_queue=self.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    result_type=result_type,
                    static_summary=f"{kind} stack {stack}",
                    search_attributes=TypedSearchAttributes(
                        [SearchAttributePair(STACK_NAME, stack), SearchAttributePair(PHASE, kind)]
                    ),
                )
            except WorkflowAlreadyStartedError as busy:
                message = await self.holder_message(stack)
                left = None if deadline is None else deadline - time.monotonic()
                if left is None or left <= 0:
                    if deadline is not None:
                        message += f" (waited {wait_for_lock:g}s for it)"
                    raise StackBusyError(message) from None
                if on_wait is not None:
                    on_wait(message)
                    on_wait = None
                await self._outlast(busy.run_id, wid, left)

    async def _outlast(self, run_id: str | None, wid: str, seconds: float) -> None:
        """Wait (at most `seconds`) for the holder's chain of runs to end, however it ends."""
        holder = self.client.get_workflow_handle(wid, run_id=run_id)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(holder.result(), timeout=seconds)

    async def workflow_input(
        self, kind: str, document: dict[str, Any], options: dict[str, Any]
    ) -> dict[str, Any]:
        """The document and options as the run's input: inline when small, else by reference
        to the document stored here in the stack's state store. A store this process cannot
        open (a DSN variable only the worker has) leaves it inline, within Temporal's limit."""
        arg = {**document, **options}
        size = await self.encoded_size(arg)
        if size <= documents.INLINE_LIMIT or kind not in BY_REFERENCE_KINDS or document.get(
            "document_digest"
        ):
            self.check_size(document["stack"], size)
            return arg
        try:
            store = open_store(document)
        except Exception as error:  # a missing DSN variable, an unreachable database
            self.check_size(document["stack"], size, f" (not stored by reference: {error})")
            return arg
        try:
            digest = await asyncio.to_thread(documents.save_document, store, document)
        finally:
            store.close()
        return {**documents.reference(document, digest), **options}

    async def encoded_size(self, arg: dict[str, Any]) -> int:
        """The size as the server sees it, after the data converter and any codec."""
        payloads = await self.client.data_converter.encode([arg])
        return Payloads(payloads=payloads).ByteSize()

    @staticmethod
    def check_size(stack: str, size: int, why_inline: str = "") -> None:
        """Refuse before starting what Temporal would refuse as an opaque RPCError."""
        if size > PAYLOAD_LIMIT:
            raise StackTooLargeError(
                f"stack {stack!r} is {size} bytes as workflow input, over Temporal's payload "
                f"limit of {PAYLOAD_LIMIT} bytes (2 MiB){why_inline}; split it into smaller "
                "stacks or move large values (scripts, certificates) out of the document"
            )
        if size > PAYLOAD_WARNING:
            log.warning(
                "stack %r is %d KiB as workflow input%s; Temporal warns above %d KiB and "
                "refuses %d KiB", stack, size // 1024, why_inline, PAYLOAD_WARNING // 1024,
                PAYLOAD_LIMIT // 1024,
            )

    async def holder_message(self, stack: str) -> str:
        """Which run holds the stack and how far it is: the run's own progress when its worker
        answers within HOLDER_QUERY_WITHIN, else its Phase search attribute."""
        handle = self.handle_of(stack)
        description = await handle.describe()
        started = description.start_time.strftime("%Y-%m-%d %H:%M:%S UTC")
        try:
            progress: Progress | None = await handle.query(
                "progress",
                result_type=Progress,
                rpc_timeout=timedelta(seconds=HOLDER_QUERY_WITHIN),
            )
        except (RPCError, WorkflowQueryFailedError):
            progress = None  # no worker answering right now: the phase attribute will do
        if progress is not None:
            state = progress_line(progress)
        else:
            state = f"phase {description.typed_search_attributes.get(PHASE) or 'unknown'}"
        return (
            f"stack {stack!r} is busy: {description.workflow_type} {handle.id} "
            f"(run {description.run_id}, started {started}) holds it, {state}; "
            "wait for it (--wait-for-lock) or cancel it"
        )

    async def plan(self, document: dict[str, Any], **options: Any) -> PlanOutcome:
        handle = await self.start("plan", document, **options)
        outcome: PlanOutcome = await handle.result()
        if outcome.plan is None:
            outcome.plan = self.saved_plan(document, outcome.plan_id)
        return outcome

    async def apply(self, document: dict[str, Any], **options: Any) -> ApplyOutcome:
        return await (await self.start("apply", document, **options)).result()

    async def destroy(self, document: dict[str, Any], **options: Any) -> DestroyOutcome:
        return await (await self.start("destroy", document, **options)).result()

    async def drift(self, document: dict[str, Any], **options: Any) -> DriftReport:
        return await (await self.start("drift", document, **options)).result()

    async def status(self, document: dict[str, Any], **options: Any) -> StatusReport:
        return await (await self.start("status", document, **options)).result()

    async def import_resource(
        self, document: dict[str, Any], name: str, type: str, provider: str, cloud_id: str
    ) -> ResourceState:
        resource = {"name": name, "type": type, "provider": provider, "id": cloud_id}
        return await (await self.start("import", document, resource=resource)).result()

    async def approve(self, handle: WorkflowHandle[Any, Any], plan_id: str) -> None:
        await handle.execute_update("approve", plan_id)

    async def reject(self, handle: WorkflowHandle[Any, Any], reason: str = "") -> None:
        await handle.execute_update("reject", reason)

    def handle_of(self, stack: str) -> WorkflowHandle[Any, Any]:
        """The running apply, destroy, drift or import of `stack` (its lock's id)."""
        return self.client.get_workflow_handle(lock_id(stack))

    async def operate(
        self, stack: str, update: str, request: OperatorRequest, by: str | None = None
    ) -> str:
        """Send an operator's Update (pause, resume, parallelism) to the stack's running
        apply or destroy; `by` defaults to this client's identity."""
        request = request.model_copy(update={"by": by or self.client.identity})
        return await self.handle_of(stack).execute_update(
            update, request.model_dump(exclude_defaults=False), result_type=str
        )

    async def pause(self, stack: str, by: str | None = None, reason: str = "") -> str:
        return await self.operate(stack, "pause", PauseRequest(reason=reason), by)

    async def resume(self, stack: str, by: str | None = None) -> str:
        return await self.operate(stack, "resume", ResumeRequest(), by)

    async def set_parallelism(
        self,
        stack: str,
        parallelism: int | None = None,
        providers: dict[str, int] | None = None,
        by: str | None = None,
    ) -> str:
        request = ParallelismRequest(parallelism=parallelism, providers=providers or {})
        return await self.operate(stack, "parallelism", request, by)

    async def retry(
        self, stack: str, resources: list[str] | None = None, by: str | None = None
    ) -> str:
        return await self.operate(stack, "retry", RetryRequest(resources=resources or []), by)

    async def skip(self, stack: str, resource: str, by: str | None = None) -> str:
        return await self.operate(stack, "skip", SkipRequest(resource=resource), by)

    async def abort(self, stack: str, rollback: bool = False, by: str | None = None) -> str:
        return await self.operate(stack, "abort", AbortRequest(rollback=rollback), by)

    async def cancel(self, stack: str, by: str | None = None) -> str:
        return await self.operate(stack, "cancel", CancelRequest(), by)

    @staticmethod
    async def current_plan(handle: WorkflowHandle[Any, Any]) -> PlanOutcome | None:
        return await handle.query("plan", result_type=PlanOutcome)

    @staticmethod
    async def progress(handle: WorkflowHandle[Any, Any]) -> Progress:
        return await handle.query("progress", result_type=Progress)

    @staticmethod
    def saved_plan(document: dict[str, Any], plan_id: str) -> Plan | None:
        store = open_store(document)
        try:
            return store.get_plan(plan_id)
        finally:
            store.close()

    @staticmethod
    def state(document: dict[str, Any]) -> list[ResourceState]:
        store = open_store(document)
        try:
            return store.list_resources()
        finally:
            store.close()

    @staticmethod
    def drift_results(document: dict[str, Any], report: DriftReport) -> list[DriftResult]:
        """Every result of a drift report, also those it does not list: read from the state
        store, where each batch stored its results."""
        if not report.left_out.get("results"):
            return list(report.results)
        store = open_store(document)
        try:
            return documents.load_drift(store, report.stored, report.stack)
        finally:
            store.close()

    @staticmethod
    def outputs(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """name -> recorded outputs, sensitive values masked."""
        return {
            state.name: mask_sensitive(state.outputs, state.sensitive)
            for state in StackClient.state(document)
        }
