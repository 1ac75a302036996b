"""Plan computation: a pure function of (desired specs, recorded state, driver diffs) -> Plan.

The workflow gathers the inputs (sizing and diffs are activities) and calls `compute_plan`;
nothing here does I/O or reads a clock, so replays compute the same plan.

Change paths are dotted and start with `config.` (`config.tags.env`); the one change outside
config is `type`, which always forces a replacement.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from engine.iac.graph import (
    closure,
    dependencies,
    resource_dependencies,
    reverse_order,
    topological_order,
)
from engine.iac.references import find_references, resolve_known
from engine.iac.sizing import apply_sizing
from engine.iac.stack import StackDocument
from interfaces.errors import ConfigError
from interfaces.iac import (
    DiffResult,
    FieldChange,
    Plan,
    PlanAction,
    ProviderSizing,
    ResourceSpec,
    ResourceState,
)

ACTIONS = ("create", "update", "replace", "delete")
CONFIG_PREFIX = "config."
# What a driver is shown, when asked to diff, for an output this plan makes anew: a value
# surely different from the recorded one (a `${...}` reference would get no opinion).
KNOWN_AFTER_APPLY = "(known after apply)"

# A dependent's diff again, its references to resources made anew shown as unknown; None
# when no driver can diff it.
Rediff = Callable[[ResourceSpec], DiffResult | None]


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 hex of the config's canonical JSON (sorted keys, no spaces, str() for the rest).

    The state records this hash of the config a resource was created or updated with.
    """
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def desired_specs(
    doc: StackDocument,
    sizings: Mapping[str, ProviderSizing | None],
    outputs: Mapping[str, Mapping[str, Any]],
) -> dict[str, ResourceSpec]:
    """name -> the spec to apply: sizing merged, references resolved where already known.

    `sizings` and `outputs` are keyed by resource name; references to outputs not recorded
    yet stay as `${...}` text ("known after apply").
    """
    specs = {}
    for resource in doc.resources:
        spec = apply_sizing(resource.spec(), sizings.get(resource.name))
        specs[resource.name] = spec.model_copy(
            update={"config": resolve_known(spec.config, outputs)}
        )
    return specs


def needs_driver_diff(
    desired: Mapping[str, ResourceSpec], states: Mapping[str, ResourceState]
) -> list[str]:
    """Desired resources that have finished state, in desired order: the ones to ask the driver
    to diff (a pending entry is created again, adopting what its failed create made)."""
    return [name for name in desired if name in states and not states[name].pending]


def compute_plan(
    doc: StackDocument,
    desired: Mapping[str, ResourceSpec],
    states: Mapping[str, ResourceState],
    diffs: Mapping[str, DiffResult | None],
    *,
    plan_id: str,
    created_at: datetime,
    state_serial: int,
    targets: Sequence[str] = (),
    rediff: Rediff | None = None,
) -> Plan:
    """The actions that take the recorded state to the desired one.

    `states` holds only resources that still exist: a ghost (recorded, gone from the cloud)
    is left out, so it is planned as a create whose new state replaces the recorded one.
    A pending entry (left by a create that failed) is planned as a create that adopts what
    that create made, or as a delete when the resource is no longer declared.
    A resource whose references to resources made anew are reopened is diffed again through
    `rediff` (when given): a force-new field holding such a reference makes it a replace too,
    as in Terraform; without `rediff` it is an update.

    Creates, updates and replaces come in dependency order, then deletes, dependents first.
    With `targets`, only the targets and what they depend on are planned; a resource that is
    no longer declared is deleted only when targeted (with recorded dependents that are also
    gone). Raises ConfigError for a target that is neither declared nor recorded.
    """
    deps = _desired_dependencies(doc, desired)
    gone = [name for name in states if name not in desired]
    gone_deps = {name: set(states[name].dependencies) for name in gone}
    selected, selected_gone = _select(deps, gone_deps, states, targets, doc)

    actions = []
    # Outputs that stay valid through this plan. A resource this plan (re)creates -- a create,
    # a ghost made again, a replace -- gets new outputs: references to it are "known after
    # apply", and apply resolves them just before the dependent's own action.
    lasting = {name: recorded.outputs for name, recorded in states.items()}
    fresh: set[str] = set()
    for name in topological_order(deps):
        if name not in selected:
            continue
        spec, current = desired[name], states.get(name)
        ignore_changes = _lifecycle(doc, name)
        action = _desired_action(spec, current, diffs.get(name), ignore_changes)
        declared = doc.by_name.get(name)
        if declared is not None and deps[name] & fresh:
            action = _reopen_references(
                action, spec, current, declared, lasting, ignore_changes, rediff
            )
        if action is not None:
            actions.append(action)
            if action.action in ("create", "replace"):
                fresh.add(name)
                lasting.pop(name, None)
    for name in reverse_order(gone_deps):
        if name in selected_gone:
            state = states[name]
            actions.append(PlanAction(action="delete", resource=_spec_of(state), current=state))
    notes = {action.resource.name: pending_note(action) for action in actions}
    return Plan(
        id=plan_id,
        actions=actions,
        created_at=created_at,
        stack=doc.stack,
        state_serial=state_serial,
        notes={name: note for name, note in notes.items() if note},
    )


def pending_note(action: PlanAction) -> str:
    """What happens to a pending entry's resource (its note in the plan); "" for any other."""
    if action.current is None or not action.current.pending:
        return ""
    fate = "deleted" if action.action == "delete" else "adopted"
    return f"created by a failed run, will be {fate}"


def plan_counts(plan: Plan) -> dict[str, int]:
    """How many actions of each kind: create, update, replace, delete."""
    counts = dict.fromkeys(ACTIONS, 0)
    for action in plan.actions:
        counts[action.action] += 1
    return counts


def action_dependencies(
    plan: Plan, doc: StackDocument, states: Mapping[str, ResourceState]
) -> dict[str, set[str]]:
    """Per action (by resource name, in plan order) the other actions that must finish first.

    A create/update/replace waits for the actions of what it depends on (through resources
    that have no action). A delete waits for the actions of the resources whose recorded state
    depends on it: their deletes, or the updates/replaces that stop them using it.
    """
    in_plan = {action.resource.name: action.action for action in plan.actions}
    desired_graph = dependencies(doc.resources)
    recorded_users: dict[str, set[str]] = {name: set() for name in states}
    for name, state in states.items():
        for need in state.dependencies:
            if need in recorded_users:
                recorded_users[need].add(name)
    changed = {name for name, kind in in_plan.items() if kind != "delete"}
    after_desired = _nearest(desired_graph, changed)
    after_recorded = _nearest(recorded_users, set(in_plan))
    waits = {}
    for name, kind in in_plan.items():
        found = after_recorded if kind == "delete" else after_desired
        waits[name] = set(found.get(name, ()))
    return waits


def protected_violations(
    plan: Plan,
    protected: StackDocument | Mapping[str, Any] | Collection[str],
    allow: Collection[str],
) -> list[str]:
    """One message per replace or delete of a protected resource that `allow` does not name.

    `protected` is the stack document, a mapping of name -> resource (anything with a
    `protected` attribute, or a bool), or the protected names themselves.
    """
    names = _protected_names(protected)
    allowed = set(allow)
    return [
        f'resource "{action.resource.name}" is protected: refusing to {action.action} it '
        f"(name it in allow_replace to allow this)"
        for action in plan.actions
        if action.action in ("replace", "delete")
        and action.resource.name in names
        and action.resource.name not in allowed
    ]


def structural_diff(old: Any, new: Any, path: str = "") -> list[FieldChange]:
    """Leaf-by-leaf differences of two configs; mappings recurse, lists compare whole."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        changes = []
        for key in sorted(set(old) | set(new), key=str):
            child = f"{path}.{key}" if path else str(key)
            changes.extend(structural_diff(old.get(key), new.get(key), child))
        return changes
    if _same(old, new):
        return []
    return [FieldChange(path=path, old=old, new=new)]


def config_path(path: str) -> str:
    """A change path in the plan's form: prefixed with `config.` unless it is `type`."""
    if path == "type" or path.startswith(CONFIG_PREFIX):
        return path
    return CONFIG_PREFIX + path


def is_ignored(path: str, ignore_changes: Iterable[str]) -> bool:
    """Whether lifecycle.ignore_changes covers a change path (a pattern covers its children)."""
    path = config_path(path)
    for pattern in ignore_changes:
        pattern = config_path(pattern)
        if path == pattern or path.startswith(pattern + "."):
            return True
    return False


def _desired_action(
    spec: ResourceSpec,
    state: ResourceState | None,
    diff: DiffResult | None,
    ignore_changes: list[str],
) -> PlanAction | None:
    if state is None:
        return PlanAction(action="create", resource=spec)
    if state.pending:
        # The driver's create finds what the failed one made (by tags or name) and goes on.
        return PlanAction(action="create", resource=spec, current=state)
    if state.type != spec.type:
        change = FieldChange(path="type", old=state.type, new=spec.type, force_new=True)
        return PlanAction(action="replace", resource=spec, current=state, changes=[change])
    if diff is not None:
        return _action_from_diff(spec, state, diff, ignore_changes)
    if config_hash(spec.config) == state.config_hash:
        return None
    changes = [
        change.model_copy(update={"path": config_path(change.path)})
        for change in structural_diff(state.applied_config, spec.config)
        if not is_ignored(change.path, ignore_changes)
    ]
    if not changes:
        # The recorded config equals the desired one (or differs only where ignored).
        return None
    return PlanAction(action="update", resource=spec, current=state, changes=changes)


def _action_from_diff(
    spec: ResourceSpec, state: ResourceState, diff: DiffResult, ignore_changes: list[str]
) -> PlanAction | None:
    kept = [
        change.model_copy(update={"path": config_path(change.path)})
        for change in diff.changes
        if not is_ignored(change.path, ignore_changes)
    ]
    if len(kept) < len(diff.changes):
        # The driver's verdict may stem from the ignored changes: judge what is left.
        replace = any(change.force_new for change in kept)
        update = bool(kept)
    else:
        replace = diff.needs_replace or any(change.force_new for change in kept)
        update = diff.needs_update or bool(kept)
    if replace:
        return PlanAction(action="replace", resource=spec, current=state, changes=kept)
    if update:
        return PlanAction(action="update", resource=spec, current=state, changes=kept)
    return None


def _reopen_references(
    action: PlanAction | None,
    spec: ResourceSpec,
    current: ResourceState | None,
    declared: ResourceSpec,
    lasting: Mapping[str, Mapping[str, Any]],
    ignore_changes: list[str],
    rediff: Rediff | None,
) -> PlanAction | None:
    """Put back the references to resources made anew, so apply resolves them afresh.

    `desired` resolved them from the recorded outputs, which the new resource invalidates;
    a resource using them must be updated even when nothing else changed -- or replaced,
    when the driver says a field holding one forces a new resource.
    """
    stale: list[tuple[str, ...]] = []
    config = _reopened(declared.config, spec.config, lasting, (), stale)
    paths = [p for p in dict.fromkeys(stale) if not is_ignored(".".join(p), ignore_changes)]
    if not paths:
        return action
    spec = spec.model_copy(update={"config": config})
    if action is not None and action.action in ("create", "replace"):
        return action.model_copy(update={"resource": spec})
    assert current is not None, "a resource without state is always a create"
    reopened = [
        FieldChange(
            path=config_path(".".join(path)),
            old=_at(current.applied_config, path),
            new=_at(config, path),
        )
        for path in paths
    ]
    verdict = rediff(_unknowns_shown(spec)) if rediff is not None else None
    if verdict is None:
        # No driver to ask: the reopened fields are updates.
        known = {change.path for change in reopened}
        kept = [c for c in (action.changes if action else []) if c.path not in known]
        return PlanAction(
            action="update", resource=spec, current=current, changes=[*kept, *reopened]
        )
    judged = _action_from_diff(spec, current, verdict, ignore_changes)
    changes = [_as_written(change, config) for change in (judged.changes if judged else [])]
    known = {change.path for change in changes}
    # A driver with no opinion on a field still gets it updated to the new value.
    changes += [change for change in reopened if change.path not in known]
    kind = "replace" if judged is not None and judged.action == "replace" else "update"
    return PlanAction(action=kind, resource=spec, current=current, changes=changes)


class _Unknown(Mapping[str, Any]):
    """Outputs nobody knows yet: every key is there, its value is `value`."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def __getitem__(self, key: str) -> Any:
        return self._value

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


_UNKNOWN_OUTPUTS = _Unknown(_Unknown(KNOWN_AFTER_APPLY))


def _unknowns_shown(spec: ResourceSpec) -> ResourceSpec:
    """The spec a driver diffs: references still open stand for a value not known yet."""
    return spec.model_copy(update={"config": resolve_known(spec.config, _UNKNOWN_OUTPUTS)})


def _as_written(change: FieldChange, config: Mapping[str, Any]) -> FieldChange:
    """A driver's change showing the reference as the stack writes it, not the stand-in."""
    if KNOWN_AFTER_APPLY not in json.dumps(change.new, default=str):
        return change
    path = tuple(change.path.removeprefix(CONFIG_PREFIX).split("."))
    return change.model_copy(update={"new": _at(config, path)})


def _reopened(
    declared: Any,
    desired: Any,
    lasting: Mapping[str, Mapping[str, Any]],
    path: tuple[str, ...],
    stale: list[tuple[str, ...]],
) -> Any:
    """`desired`, with each string that references a resource missing from `lasting`
    re-resolved from the declared text (the reference stays `${...}`)."""
    if isinstance(declared, str):
        if "${" in declared and any(name not in lasting for name, _ in find_references(declared)):
            stale.append(path)
            return resolve_known(declared, lasting)
        return desired
    if isinstance(declared, Mapping) and isinstance(desired, Mapping):
        return {
            key: _reopened(declared[key], value, lasting, (*path, str(key)), stale)
            if key in declared
            else value
            for key, value in desired.items()
        }
    if isinstance(declared, list) and isinstance(desired, list) and len(declared) == len(desired):
        # Lists compare whole: a change anywhere in one is a change of the list.
        inside: list[tuple[str, ...]] = []
        pairs = zip(declared, desired, strict=True)
        reopened = [_reopened(d, v, lasting, path, inside) for d, v in pairs]
        if inside:
            stale.append(path)
        return reopened
    return desired


def _at(config: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = config
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _desired_dependencies(
    doc: StackDocument, desired: Mapping[str, ResourceSpec]
) -> dict[str, set[str]]:
    """Edges from the declared resources: resolved references in `desired` no longer show them."""
    declared = doc.by_name
    return {name: resource_dependencies(declared.get(name, spec)) for name, spec in desired.items()}


def _select(
    deps: Mapping[str, set[str]],
    gone_deps: Mapping[str, set[str]],
    states: Mapping[str, ResourceState],
    targets: Sequence[str],
    doc: StackDocument,
) -> tuple[set[str], set[str]]:
    if not targets:
        return set(deps), set(gone_deps)
    # A declared target with no state has nothing to destroy: not an error.
    unknown = [n for n in targets if n not in deps and n not in states and n not in doc.by_name]
    if unknown:
        raise ConfigError(
            [
                f'target "{name}" is neither declared in stack "{doc.stack}" '
                "nor recorded in its state"
                for name in unknown
            ]
        )
    selected = closure(deps, [name for name in targets if name in deps]) & set(deps)
    # Deleting a target first needs its recorded dependents gone too (when they are undeclared).
    gone_users: dict[str, set[str]] = {name: set() for name in gone_deps}
    for name, needs in gone_deps.items():
        for need in needs:
            if need in gone_users:
                gone_users[need].add(name)
    selected_gone = closure(gone_users, [name for name in targets if name in gone_deps])
    return selected, selected_gone


def _nearest(graph: Mapping[str, Collection[str]], actions: set[str]) -> dict[str, set[str]]:
    """For each node, the action nodes it reaches first, walking through nodes without one."""
    nearest: dict[str, set[str]] = {}
    for name in topological_order(graph):
        reached: set[str] = set()
        for need in graph[name]:
            if need in actions:
                reached.add(need)
            elif need in nearest:
                reached |= nearest[need]
        nearest[name] = reached
    return nearest


def _lifecycle(doc: StackDocument, name: str) -> list[str]:
    resource = doc.by_name.get(name)
    return resource.lifecycle.ignore_changes if resource is not None else []


def _spec_of(state: ResourceState) -> ResourceSpec:
    return ResourceSpec(
        name=state.name,
        type=state.type,
        config=state.applied_config,
        depends_on=list(state.dependencies),
    )


def _same(old: Any, new: Any) -> bool:
    # 1 == True and 1 == 1.0 in Python, but not to a cloud API: compare as the hash does.
    if type(old) is not type(new):
        return False
    return bool(old == new)


def _protected_names(protected: StackDocument | Mapping[str, Any] | Collection[str]) -> set[str]:
    if isinstance(protected, StackDocument):
        return {resource.name for resource in protected.resources if resource.protected}
    if isinstance(protected, Mapping):
        return {
            name
            for name, value in protected.items()
            if (value is True) or bool(getattr(value, "protected", False))
        }
    return set(protected)

