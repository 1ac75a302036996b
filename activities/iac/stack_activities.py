"""The IaC activities a worker registers, as methods sharing one provider/store cache.

Drivers and stores are synchronous, so these are sync activities: the worker needs an
`activity_executor` (a ThreadPoolExecutor). The lock activities are async because they may
ask Temporal whether the lock's holder still runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import CancelledError

from activities.iac import (
    actions,
    documents,
    inspection,
    locks,
    planning,
    reconcile,
    windows,
)
from activities.iac.cache import IacCache
from activities.iac.errors import application_error, count_cloud_error
from activities.iac.heartbeat import heartbeating
from interfaces.errors import ProviderError
from interfaces.iac import ResourceState
from workflows.iac.models import (
    ActionRequest,
    ActionResult,
    DriftBatch,
    ImportRequest,
    InspectRequest,
    LockHeld,
    LockReleased,
    LockRequest,
    NamesRequest,
    NodesRequest,
    PlanDigest,
    PlanNames,
    PlanNode,
    PlanRequest,
    PlanWindow,
    Reconciled,
    ResourceLiveStatus,
    SavedPlanRequest,
    StackTarget,
    StateEntry,
    StatePage,
    StatePageRequest,
    WindowRequest,
)

T = TypeVar("T")


def _classified(doing: str, call: Callable[[], T], provider: str = "") -> T:
    """Run a driver or store call; `provider` (its type) labels the cloud error it raises."""
    try:
        return call()
    except Exception as error:
        if activity.is_cancelled():
            # The SDK raised its cancel into this thread, and an SDK in the way may have
            # wrapped it (botocore: "HTTPClientError ... Cancelled"): it is the cancel, not a
            # cloud error, and the workflow reconciles what the call left.
            raise CancelledError(f"{doing}: cancelled") from error
        if isinstance(error, ProviderError):
            count_cloud_error(error, provider)
        converted = application_error(error, doing)
        if converted is None:
            raise
        raise converted from error


def _provider_type(providers: Any) -> str:
    """The provider type a stack-wide call reached, when the stack uses one kind; a cloud error
    of a stack with several is labelled "mixed" (its message names the resource)."""
    if not isinstance(providers, dict):
        return ""
    types = {
        str(block.get("type", key)) if isinstance(block, dict) else str(key)
        for key, block in providers.items()
    }
    if len(types) == 1:
        return types.pop()
    return "mixed" if types else ""


class IacActivities:
    def __init__(self, client: Client | None = None) -> None:
        """`client` lets the lock activity free locks of runs that died without releasing."""
        self.cache = IacCache()
        self.client = client

    @activity.defn
    def plan_stack(self, request: PlanRequest) -> PlanDigest:
        with heartbeating():
            return _classified(
                f"plan stack {request.stack}",
                lambda: planning.plan_stack(self.cache, request),
                _provider_type(request.providers),
            )

    @activity.defn
    def load_saved_plan(self, request: SavedPlanRequest) -> PlanDigest:
        return _classified(
            f"load plan {request.plan_id}", lambda: planning.load_saved_plan(self.cache, request)
        )

    @activity.defn
    def plan_nodes(self, request: NodesRequest) -> list[PlanNode]:
        return _classified(
            f"read plan {request.plan_id}", lambda: planning.plan_nodes(self.cache, request)
        )

    @activity.defn
    def plan_window(self, request: WindowRequest) -> PlanWindow:
        return _classified(
            f"read plan {request.plan_id}", lambda: windows.window(self.cache, request)
        )

    @activity.defn
    def plan_names(self, request: NamesRequest) -> PlanNames:
        return _classified(
            f"read plan {request.plan_id}", lambda: windows.names(self.cache, request)
        )

    @activity.defn
    def apply_action(self, request: ActionRequest) -> ActionResult:
        with heartbeating():
            return _classified(
                request.summary(),
                lambda: actions.run_action(self.cache, request),
                request.provider_type or request.provider,
            )

    @activity.defn
    def reconcile_action(self, request: ActionRequest) -> Reconciled:
        return _classified(
            f"reconcile {request.type} {request.name}",
            lambda: reconcile.reconcile_action(self.cache, request),
            request.provider_type or request.provider,
        )

    @activity.defn
    def list_state(self, target: StackTarget) -> list[StateEntry]:
        return _classified(
            f"list state of {target.stack}", lambda: inspection.list_state(self.cache, target)
        )

    @activity.defn
    def list_state_page(self, request: StatePageRequest) -> StatePage:
        return _classified(
            f"list state of {request.target.stack}",
            lambda: inspection.list_state_page(self.cache, request),
        )

    @activity.defn
    def check_drift(self, request: InspectRequest) -> DriftBatch:
        def check() -> DriftBatch:
            checked = request
            if request.document_digest:  # a drift by reference: the document says what to ignore
                ignore = documents.ignore_changes(
                    self.cache, request.target, request.document_digest, request.names
                )
                checked = request.model_copy(update={"ignore_changes": ignore})
            return inspection.check_drift(self.cache, checked)

        with heartbeating():
            return _classified(
                f"check drift of {len(request.names)} resources",
                check,
                _provider_type(request.target.providers),
            )

    @activity.defn
    def read_live_status(self, request: InspectRequest) -> list[ResourceLiveStatus]:
        with heartbeating():
            return _classified(
                f"read status of {len(request.names)} resources",
                lambda: inspection.live_status(self.cache, request),
                _provider_type(request.target.providers),
            )

    @activity.defn
    def import_resource(self, request: ImportRequest) -> ResourceState:
        wanted = request.resource
        return _classified(
            f"import {wanted.type} {wanted.name} ({wanted.id})",
            lambda: inspection.import_resource(self.cache, request),
            _provider_type(request.target.providers),
        )

    @activity.defn
    async def lock_state(self, request: LockRequest) -> LockHeld:
        try:
            return await locks.take_lock(self.cache, self.client, request)
        except Exception as error:
            converted = application_error(error, f"lock state of {request.target.stack}")
            if converted is None:
                raise
            raise converted from error

    @activity.defn
    async def unlock_state(self, request: LockRequest) -> LockReleased:
        return await locks.release_lock(self.cache, request)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.plan_stack,
            self.load_saved_plan,
            self.plan_nodes,
            self.plan_window,
            self.plan_names,
            self.apply_action,
            self.reconcile_action,
            self.list_state,
            self.list_state_page,
            self.check_drift,
            self.read_live_status,
            self.import_resource,
            self.lock_state,
            self.unlock_state,
        ]
