"""One resource action as one activity: the cloud call, waiting until ready, saving the state.

A create is recorded before it starts: a *pending* state entry (type, name, the config, no
cloud id yet) is saved before the driver's first call, and the driver's creation journal
fills in the cloud id the moment the cloud returns it. Whatever a failed or killed create
made is on record: a retry or a later run adopts it (drivers find what an earlier attempt
made by its tags or name), destroy and rollback delete it. The one gap left -- a worker
dying between a create call's reply and the journal's save -- holds a resource carrying our
tags, which the retry adopts and which destroy finds through the driver's `locate`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import CancelledError

from activities.iac.cache import IacCache
from engine.iac.plan import config_hash
from engine.iac.plan_render import mask_sensitive
from engine.iac.references import find_references, resolve_references
from interfaces.errors import ConfigError, NotFoundError
from interfaces.iac import (
    PlanAction,
    ResourceOutput,
    ResourceRef,
    ResourceSpec,
    ResourceState,
)
from interfaces.iac_protocols import IaCStateStore, ResourceDriver
from providers.creation_journal import creation_journal
from workflows.iac.models import ActionRequest, ActionResult

FIRST_POLL_DELAY = 0.1
MAX_POLL_DELAY = 5.0


def run_action(cache: IacCache, request: ActionRequest) -> ActionResult:
    store = cache.store(request.target)
    driver = cache.provider(request.target, request.provider).resource_driver(request.type)
    if request.action == "delete":
        delete_recorded(store, driver, request.name, pending_only=request.pending_only)
        return ActionResult(name=request.name, action="delete")
    planned = cache.planned_action(request.target, request.plan_id, request.name)
    if request.part == "old":
        _delete_old_instance(store, driver, request, planned)
        return ActionResult(name=request.name, action=request.action, part="old")
    spec = _resolved(store, planned.resource)
    # The entry the final save builds on. A create's or update's is the one it just saved or
    # read (this action holds the stack's lock, nothing else writes it meanwhile): reading it
    # back again cost one state read per action.
    recorded: ResourceState | None
    if request.action == "create":
        output, recorded = _create(store, driver, request, spec)
    elif request.action == "update":
        recorded = store.get_resource(request.name)
        current = recorded or planned.current
        if current is None:
            raise ConfigError(f'"{request.name}" has no recorded state to update')
        output = driver.update(_ref(current), spec)
    else:
        output = _replace(store, driver, request, spec, planned)
        recorded = None
    output = wait_until_ready(driver, output)
    if recorded is None:
        recorded = store.get_resource(request.name)
    state = _state(request, spec, output, recorded)
    store.save_resource(state)
    return ActionResult(
        name=request.name, action=request.action, output=masked(output), part=request.part
    )


def delete_recorded(
    store: IaCStateStore, driver: ResourceDriver, name: str, *, pending_only: bool = False
) -> None:
    """Delete what the state records under `name`; a resource already gone counts as deleted.

    A pending entry is deleted by its recorded id, or, when its create died before the cloud
    named the resource, by the id the driver locates from its name and tags. With
    `pending_only` (a rollback of a failed create) a finished entry is left alone.
    """
    state = store.get_resource(name)
    if state is None or (pending_only and not state.pending):
        return
    ref = located_ref(driver, state)
    if ref.provider_id:
        _delete_ref(driver, ref)
    store.delete_resource(name)


def located_ref(driver: ResourceDriver, state: ResourceState) -> ResourceRef:
    """The entry's cloud reference; a pending entry whose create died before the cloud named
    the resource gets the id the driver locates from its name and tags (or none)."""
    ref = _ref(state)
    if state.pending and not ref.provider_id:
        spec = ResourceSpec(name=state.name, type=state.type, config=state.applied_config)
        ref.provider_id = _located(driver, spec)
    return ref


def wait_until_ready(driver: ResourceDriver, output: ResourceOutput) -> ResourceOutput:
    """Poll health_check with growing pauses, then read the now-complete outputs."""
    ref = ResourceRef(name=output.name, type=output.type, provider_id=output.provider_id)
    delay = FIRST_POLL_DELAY
    while not driver.health_check(ref).healthy:
        if activity.is_cancelled():
            raise CancelledError(f"cancelled while waiting for {output.type} {output.name}")
        time.sleep(delay)
        delay = min(delay * 2, MAX_POLL_DELAY)
    return driver.read(ref)


def masked(output: ResourceOutput) -> ResourceOutput:
    """The output as history may show it: sensitive values replaced."""
    return output.model_copy(update={"outputs": mask_sensitive(output.outputs, output.sensitive)})


def _create(
    store: IaCStateStore, driver: ResourceDriver, request: ActionRequest, spec: ResourceSpec
) -> tuple[ResourceOutput, ResourceState]:
    """driver.create with a pending entry saved first and given the cloud id once known;
    the output and the pending entry as last saved."""
    previous = store.get_resource(request.name)
    # An earlier attempt's id stays until the journal names another (a ghost's does not).
    known = previous.provider_id if previous is not None and previous.pending else ""
    pending = _state(request, spec, None, previous).model_copy(update={"provider_id": known})
    store.save_resource(pending)

    def record(provider_id: str) -> None:
        nonlocal pending
        if provider_id and provider_id != pending.provider_id:
            pending = pending.model_copy(update={"provider_id": provider_id})
            store.save_resource(pending)

    # The pending entry's creation time lasts through the retries of this create only.
    with creation_journal(record, token=pending.created_at.isoformat()):
        output = driver.create(spec)
    # Also for drivers that never call the journal: the wait for readiness may fail yet.
    record(output.provider_id)
    return output, pending


def _located(driver: ResourceDriver, spec: ResourceSpec) -> str:
    locate = getattr(driver, "locate", None)
    if locate is None:
        return ""
    try:
        return str(locate(spec) or "")
    except NotFoundError:
        return ""


def _replace(
    store: IaCStateStore,
    driver: ResourceDriver,
    request: ActionRequest,
    spec: ResourceSpec,
    planned: PlanAction,
) -> ResourceOutput:
    # The old resource is the one the plan saw: after a retry the state may already hold
    # the new one, which must not be deleted.
    old = planned.current
    if request.part == "new":
        # The old instance is deleted by a node of its own (before, or after, this one).
        if request.create_before_destroy:
            return driver.create(spec)
        # Its delete ran first (and dropped its state): this one is a create like any other.
        return _create(store, driver, request, spec)[0]
    if request.create_before_destroy:
        output = wait_until_ready(driver, driver.create(spec))
        previous = store.get_resource(request.name)
        store.save_resource(_state(request, spec, output, previous))
        if old is not None and old.provider_id != output.provider_id:
            _delete_ref(driver, _ref(old))
        return output
    if old is not None:
        _delete_ref(driver, _ref(old))
    store.delete_resource(request.name)
    return _create(store, driver, request, spec)[0]


def _delete_old_instance(
    store: IaCStateStore, driver: ResourceDriver, request: ActionRequest, planned: PlanAction
) -> None:
    """Delete the instance a split replace leaves behind: the one the plan saw."""
    old = planned.current
    if old is None:
        return
    recorded = store.get_resource(request.name)
    same = recorded is not None and recorded.provider_id == old.provider_id
    if request.create_before_destroy:
        # The new instance is recorded by now; if it has the old one's id, the create
        # adopted it (a cloud id taken from the name), and it must stay.
        if not same:
            _delete_ref(driver, _ref(old))
        return
    _delete_ref(driver, _ref(old))
    if same:
        store.delete_resource(request.name)


def _delete_ref(driver: ResourceDriver, ref: ResourceRef) -> None:
    try:
        driver.delete(ref)
    except NotFoundError:
        pass


def _resolved(store: IaCStateStore, spec: ResourceSpec) -> ResourceSpec:
    """The spec with references still open at plan time filled from the recorded outputs."""
    names = sorted({name for name, _ in find_references(spec.config)})
    if not names:
        return spec
    outputs = {}
    for name in names:
        state = store.get_resource(name)
        if state is not None:
            outputs[name] = state.outputs
    return spec.model_copy(update={"config": resolve_references(spec.config, outputs)})


def _ref(state: ResourceState) -> ResourceRef:
    return ResourceRef(name=state.name, type=state.type, provider_id=state.provider_id)


def _state(
    request: ActionRequest,
    spec: ResourceSpec,
    output: ResourceOutput | None,
    previous: ResourceState | None,
) -> ResourceState:
    """The entry to save; without `output`, the pending one before a create (no outputs)."""
    now = datetime.now(UTC)
    # A create finishing what an earlier attempt began keeps that attempt's creation time.
    kept = previous is not None and (request.action == "update" or previous.pending)
    return ResourceState(
        id=f"{request.target.stack}/{request.name}",
        name=request.name,
        type=spec.type,
        provider=request.provider,
        provider_id=output.provider_id if output else "",
        config_hash=config_hash(spec.config),
        applied_config=spec.config,
        outputs=output.outputs if output else {},
        dependencies=list(request.depends_on),
        created_at=previous.created_at if kept and previous else now,
        updated_at=now,
        sensitive=list(output.sensitive) if output else [],
        pending=output is None,
    )
