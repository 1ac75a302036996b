"""One resource action as one activity: the cloud call, waiting until ready, saving the state.

Saving the state inside the same activity as the cloud call leaves one gap -- a worker that
dies after the call and before the save -- and the retry closes it: drivers adopt the
resource they already made instead of making a second one.
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
from workflows.iac.models import ActionRequest, ActionResult

FIRST_POLL_DELAY = 0.1
MAX_POLL_DELAY = 5.0


def run_action(cache: IacCache, request: ActionRequest) -> ActionResult:
    store = cache.store(request.target)
    driver = cache.provider(request.target, request.provider).resource_driver(request.type)
    if request.action == "delete":
        delete_recorded(store, driver, request.name)
        return ActionResult(name=request.name, action="delete")
    planned = cache.planned_action(request.target, request.plan_id, request.name)
    if request.part == "old":
        _delete_old_instance(store, driver, request, planned)
        return ActionResult(name=request.name, action=request.action, part="old")
    spec = _resolved(store, planned.resource)
    if request.action == "create":
        output = driver.create(spec)
    elif request.action == "update":
        current = store.get_resource(request.name) or planned.current
        if current is None:
            raise ConfigError(f'"{request.name}" has no recorded state to update')
        output = driver.update(_ref(current), spec)
    else:
        output = _replace(store, driver, request, spec, planned)
    output = wait_until_ready(driver, output)
    state = _state(request, spec, output, store.get_resource(request.name))
    store.save_resource(state)
    return ActionResult(
        name=request.name, action=request.action, output=masked(output), part=request.part
    )


def delete_recorded(store: IaCStateStore, driver: ResourceDriver, name: str) -> None:
    """Delete what the state records under `name`; a resource already gone counts as deleted."""
    state = store.get_resource(name)
    if state is None:
        return
    _delete_ref(driver, _ref(state))
    store.delete_resource(name)


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
        return driver.create(spec)
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
    return driver.create(spec)


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
    output: ResourceOutput,
    previous: ResourceState | None,
) -> ResourceState:
    now = datetime.now(UTC)
    return ResourceState(
        id=f"{request.target.stack}/{request.name}",
        name=request.name,
        type=spec.type,
        provider=request.provider,
        provider_id=output.provider_id,
        config_hash=config_hash(spec.config),
        applied_config=spec.config,
        outputs=output.outputs,
        dependencies=list(request.depends_on),
        created_at=previous.created_at if previous and request.action == "update" else now,
        updated_at=now,
        sensitive=list(output.sensitive),
    )
