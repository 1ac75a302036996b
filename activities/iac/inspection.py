"""Looking at live resources without changing them: drift, status, import, the state listing."""

from __future__ import annotations

import bisect
from typing import Any

from activities.iac.cache import IacCache
from activities.iac.live_reads import read_live
from engine.iac.plan import config_hash, config_path, is_ignored
from engine.iac.plan_render import is_sensitive, mask_sensitive
from interfaces.errors import ConfigError, ProviderError
from interfaces.iac import DriftResult, ResourceSpec, ResourceState, ResourceStatus
from statestore import documents
from workflows.iac.models import (
    DriftBatch,
    ImportRequest,
    InspectRequest,
    ResourceLiveStatus,
    StackTarget,
    StateEntry,
    StatePage,
    StatePageRequest,
)

MASK = "(sensitive)"


def list_state(cache: IacCache, target: StackTarget) -> list[StateEntry]:
    return [
        StateEntry(
            name=s.name,
            type=s.type,
            provider=s.provider,
            provider_id=s.provider_id,
            pending=s.pending,
        )
        for s in cache.store(target).list_resources()
    ]


# Bytes of names per page, so a stack of long names still pages under the payload budget.
PAGE_BYTES = 150_000


def list_state_page(cache: IacCache, request: StatePageRequest) -> StatePage:
    """The recorded names after `request.after`, in name order, one bounded page."""
    names = sorted(s.name for s in cache.store(request.target).list_resources())
    start = bisect.bisect_right(names, request.after) if request.after else 0
    page = StatePage()
    size = 0
    for name in names[start:]:
        size += len(name.encode()) + 3  # the JSON quotes and comma
        if len(page.names) >= request.limit or (page.names and size > PAGE_BYTES):
            page.more = True
            break
        page.names.append(name)
    return page


def check_drift(cache: IacCache, request: InspectRequest) -> DriftBatch:
    """Compare what each resource was applied with to what its driver reads now."""
    store = cache.store(request.target)
    batch = DriftBatch()
    states = []
    for name in request.names:
        state = store.get_resource(name)
        if state is None or state.pending:
            continue  # a pending entry was never applied: nothing to drift from yet
        states.append(state)
    found = read_live(cache, request.target, states)
    for state in states:
        name = state.name
        batch.checked += 1
        current = found[name]
        if isinstance(current, Exception):
            raise current
        if current is None:
            batch.ghosts.append(name)
            batch.results.append(
                DriftResult(
                    name=name,
                    type=state.type,
                    drifted=True,
                    expected=_masked(state.applied_config, state.sensitive),
                    fields=["(deleted)"],
                )
            )
            continue
        driver = cache.provider(request.target, state.provider).resource_driver(state.type)
        applied = ResourceSpec(name=name, type=state.type, config=state.applied_config)
        ignored = request.ignore_changes.get(name, [])
        changes = [
            change
            for change in driver.diff(applied, current).changes
            if not is_ignored(change.path, ignored)
        ]
        if changes:
            secret = [*state.sensitive, *current.sensitive]
            batch.results.append(
                DriftResult(
                    name=name,
                    type=state.type,
                    drifted=True,
                    expected={config_path(c.path): _shown(c.path, c.new, secret) for c in changes},
                    actual={config_path(c.path): _shown(c.path, c.old, secret) for c in changes},
                    fields=[config_path(c.path) for c in changes],
                )
            )
    if batch.results:
        # A large report lists only some: the rest is read from here, not from history.
        batch.stored = documents.save_drift(store, request.target.stack, batch.results)
    return batch


def live_status(cache: IacCache, request: InspectRequest) -> list[ResourceLiveStatus]:
    store = cache.store(request.target)
    found = []
    to_read = []
    for name in request.names:
        state = store.get_resource(name)
        if state is None:
            continue
        entry = ResourceLiveStatus(
            name=name, type=state.type, provider=state.provider, provider_id=state.provider_id
        )
        if state.pending:
            entry.status = ResourceStatus.PENDING
            entry.message = "created by a failed run; the next apply adopts it"
        else:
            to_read.append(state)
        found.append(entry)
    live = read_live(cache, request.target, to_read)
    for entry in found:
        if entry.name not in live:
            continue
        current = live[entry.name]
        if current is None:
            entry.status = ResourceStatus.DELETED
        elif isinstance(current, ProviderError | ConfigError):
            entry.message = str(current)
        elif isinstance(current, Exception):
            raise current
        else:
            entry.status = current.status
    return found


def import_resource(cache: IacCache, request: ImportRequest) -> ResourceState:
    wanted = request.resource
    store = cache.store(request.target)
    existing = store.get_resource(wanted.name)
    if existing is not None:
        raise ConfigError(
            f'"{wanted.name}" is already in the state of stack "{request.target.stack}" '
            f"(cloud id {existing.provider_id})"
        )
    provider = cache.provider(request.target, wanted.provider)
    imported = provider.import_resource(wanted.id, wanted.type)
    state = imported.model_copy(
        update={
            "id": f"{request.target.stack}/{wanted.name}",
            "name": wanted.name,
            "type": wanted.type,
            "provider": wanted.provider,
            "provider_id": imported.provider_id or wanted.id,
            "config_hash": config_hash(imported.applied_config),
            "dependencies": list(request.depends_on),
        }
    )
    store.save_resource(state)
    return state.model_copy(
        update={
            "outputs": _masked(state.outputs, state.sensitive),
            "applied_config": _masked(state.applied_config, state.sensitive),
        }
    )


def _masked(values: dict[str, Any], sensitive: list[str]) -> dict[str, Any]:
    return mask_sensitive(values, sensitive)


def _shown(path: str, value: Any, sensitive: list[str]) -> Any:
    return MASK if is_sensitive(path, sensitive) else value
