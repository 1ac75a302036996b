"""The state store's lock, taken over from runs that can no longer release it.

Owners are "<workflow id>@<first run id>": the same for every run of one continue-as-new
chain, and enough to ask Temporal whether the holder still runs. A terminated or timed-out
run never reaches its `finally`, so without this its lock would block the stack until expiry.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.iac.cache import IacCache
from interfaces.errors import StateLockedError
from workflows.iac.models import LockHeld, LockReleased, LockRequest


async def take_lock(cache: IacCache, client: Client | None, request: LockRequest) -> LockHeld:
    store = await asyncio.to_thread(cache.store, request.target)
    taken_over_from = ""
    try:
        expires_at = await asyncio.to_thread(store.lock, request.owner, request.ttl)
    except StateLockedError as error:
        if client is None or not await holder_is_gone(client, error.holder):
            raise
        # force_unlock then lock is not atomic; losing the race raises StateLockedError again.
        await asyncio.to_thread(store.force_unlock)  # type: ignore[attr-defined]
        expires_at = await asyncio.to_thread(store.lock, request.owner, request.ttl)
        taken_over_from = error.holder
    return LockHeld(
        stack=request.target.stack,
        holder=request.owner,
        expires_at=expires_at,
        taken_over_from=taken_over_from,
    )


async def release_lock(cache: IacCache, request: LockRequest) -> LockReleased:
    store = await asyncio.to_thread(cache.store, request.target)
    released = await asyncio.to_thread(store.unlock, request.owner)
    return LockReleased(stack=request.target.stack, holder=request.owner, released=released)


async def holder_is_gone(client: Client, holder: str) -> bool:
    workflow_id, _, first_run_id = holder.rpartition("@")
    if not workflow_id or not first_run_id:
        return False  # not a workflow's lock (someone by hand): only its expiry frees it
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return True
        raise
    if description.status != WorkflowExecutionStatus.RUNNING:
        return True
    latest_first = description.raw_description.workflow_execution_info.first_run_id
    return bool(latest_first) and latest_first != first_run_id
