"""Planning inside one activity: validate, size, read state, ask drivers to diff, save the plan.

One activity instead of one per step because its inputs (the document, every recorded state)
are the large values of a run: moving them through workflow history once per step would
fill it long before a 10,000-resource stack is planned.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime

from activities.iac import documents
from activities.iac.cache import IacCache, PlanNodes
from activities.iac.compact import all_shared, compact_plan, full_fields, interned
from activities.iac.errors import StalePlanError
from activities.iac.live_reads import read_live
from engine.iac.graph import resource_dependencies
from engine.iac.plan import (
    Rediff,
    compute_plan,
    desired_specs,
    needs_driver_diff,
    plan_counts,
    protected_violations,
)
from engine.iac.schedule import plan_steps
from engine.iac.stack import StackDocument, validate_stack
from interfaces.errors import ConfigError
from interfaces.iac import (
    CapabilityDeclaration,
    DiffResult,
    Plan,
    ProviderSizing,
    ResourceOutput,
    ResourceSpec,
    ResourceState,
)
from interfaces.iac_protocols import IaCStateStore
from workflows.iac.models import (
    DocumentSource,
    NodesRequest,
    PlanDigest,
    PlanNode,
    PlanRequest,
    SavedPlanRequest,
    StackTarget,
)

# A result that travels through history stays well under Temporal's 256 KB payload warning:
# a plan is inlined only below this size, and a page of nodes stops at it.
PAYLOAD_BUDGET = 128 * 1024

log = logging.getLogger(__name__)
NODE_FIELDS = full_fields(PlanNode)


def target_of(doc: StackDocument, raw: Mapping[str, object]) -> StackTarget:
    return StackTarget(
        stack=doc.stack,
        state=dict(raw.get("state") or {}),  # type: ignore[call-overload]
        providers={key: block.model_dump() for key, block in doc.providers.items()},
    )


def parsed(cache: IacCache, source: DocumentSource) -> tuple[StackDocument, StackTarget, str]:
    """The source's document as the worker's cached parse, its target and its digest. The
    document as read is let go on return: 100,000 resources held 60 MB beside the parse
    through every plan, and planning a destroy after an apply parsed a second ~180 MB copy."""
    raw, document_digest = documents.resolve(cache, source)
    doc = cache.document(raw, f'stack "{raw.get("stack", "?")}"', document_digest)
    return doc, target_of(doc, raw), document_digest


def validated(cache: IacCache, doc: StackDocument, target: StackTarget) -> StackDocument:
    """The document, checked against its providers' capabilities."""
    capabilities = {key: cache.provider(target, key).capabilities() for key in doc.providers}
    declared = _declared_outputs(cache, target, doc, capabilities)
    validate_stack(doc, capabilities, f'stack "{doc.stack}"', declared)
    return doc


def _declared_outputs(
    cache: IacCache,
    target: StackTarget,
    doc: StackDocument,
    capabilities: Mapping[str, Iterable[CapabilityDeclaration]],
) -> dict[str, frozenset[str]]:
    """The output keys each resource's driver declares, for the drivers that declare them."""
    supported = {key: {c.resource_type for c in found} for key, found in capabilities.items()}
    declared: dict[str, frozenset[str]] = {}
    for resource in doc.resources:
        if resource.type not in supported.get(resource.provider, set()):
            continue  # validate_stack names the unknown provider or type
        driver = cache.provider(target, resource.provider).resource_driver(resource.type)
        # Drivers outside DriverBase (a plug-in's own) may not have the attribute at all.
        outputs = getattr(driver, "OUTPUTS", None)
        if outputs is not None:
            declared[resource.name] = outputs
    return declared


def plan_stack(cache: IacCache, request: PlanRequest) -> PlanDigest:
    cache.forget_plans(request.stack)
    doc, target, document_digest = parsed(cache, request)
    validated(cache, doc, target)
    store = cache.store(target)
    # Serial first: a change landing between the two reads makes the plan stale, never wrong.
    serial = store.serial()
    states = _listed(store)
    currents: dict[str, ResourceOutput] = {}
    if request.destroy:
        desired: dict[str, ResourceSpec] = {}
        diffs: dict[str, DiffResult | None] = {}
    else:
        desired = desired_specs(
            doc, _sizings(cache, target, doc), {n: s.outputs for n, s in states.items()}
        )
        diffs, currents = _driver_diffs(cache, target, desired, states)
        # Deleted behind our back (a ghost): plan a create, as Terraform does; its new state
        # replaces the recorded one, and what references it is updated to the new outputs.
        gone = set(needs_driver_diff(desired, states)) - set(currents)
        states = {name: state for name, state in states.items() if name not in gone}
    plan = compute_plan(
        doc,
        desired,
        states,
        diffs,
        plan_id=request.plan_id,
        created_at=datetime.fromisoformat(request.created_at),
        state_serial=serial,
        targets=request.targets,
        rediff=_rediff(cache, target, states, currents),
    )
    violations = protected_violations(plan, doc, request.allow_replace)
    if violations:
        raise ConfigError(violations)
    # Compact before the save: serializing it is this activity's largest moment.
    store.save_plan(compact_plan(plan))
    cache.remember_plan(target, plan)
    return digest(cache, target, plan, doc, states, request.inline_limit, document_digest)


def load_saved_plan(cache: IacCache, request: SavedPlanRequest) -> PlanDigest:
    if not request.check_serial and request.target is not None and request.document_digest:
        # A continue-as-new of a run by reference whose nodes this worker holds: neither the
        # document (100,000 resources: seconds to parse, ~175 MB parsed) nor the state is
        # read again.
        held = _held(cache, request.target, request.plan_id, request.inline_limit,
                     request.document_digest)
        if held is not None:
            return held
    doc, target, document_digest = parsed(cache, request)
    store = cache.store(target)
    plan = cache.plan(target, request.plan_id)
    if request.check_serial:
        serial = store.serial()
        if serial != plan.state_serial:
            raise StalePlanError(
                f"Saved plan is stale: the state of stack {doc.stack!r} changed since plan "
                f"{plan.id} was made (serial {plan.state_serial}, now {serial}); plan again."
            )
        violations = protected_violations(plan, doc, request.allow_replace)
        if violations:
            raise ConfigError(violations)
    else:
        # A continue-as-new of the run walking this plan: its nodes are the ones this worker
        # computed when the chain began, whatever the state says by now (10,000 entries to
        # read and order again at every continue-as-new).
        held = _held(cache, target, plan.id, request.inline_limit, document_digest)
        if held is not None:
            return held
    states = _listed(store)
    return digest(cache, target, plan, doc, states, request.inline_limit, document_digest)


def _held(
    cache: IacCache,
    target: StackTarget,
    plan_id: str,
    inline_limit: int,
    document_digest: str,
) -> PlanDigest | None:
    """The digest of a plan whose nodes this worker holds, made without reading the state."""
    nodes = cache.nodes(target, plan_id)
    if nodes is None:
        return None
    plan = cache.plan(target, plan_id)
    return _digest_of(plan, target.stack, nodes, inline_limit, document_digest)


def plan_nodes(cache: IacCache, request: NodesRequest) -> list[PlanNode]:
    """One page of a plan's nodes (computed again if this worker has not got them): at most
    `limit`, and no more than PAYLOAD_BUDGET of them (at least one)."""
    return _page(all_nodes(cache, request, request.plan_id), request.offset, request.limit)


def all_nodes(cache: IacCache, source: DocumentSource, plan_id: str) -> PlanNodes:
    """Every node of a saved plan, in plan order: this worker's, or computed again."""
    if source.target is not None:
        nodes = cache.nodes(source.target, plan_id)
        if nodes is not None:
            return nodes
    doc, target, _ = parsed(cache, source)
    nodes = cache.nodes(target, plan_id)
    if nodes is None:
        plan = cache.plan(target, plan_id)
        states = _listed(cache.store(target))
        nodes = _nodes(plan, doc, states)
        cache.remember_nodes(target, plan_id, nodes)
    return nodes


def _listed(store: IaCStateStore) -> dict[str, ResourceState]:
    """The recorded entries by name, compact: a destroy's plan holds every one of them."""
    return {state.name: state for state in all_shared(store.list_resources())}


def page_size(
    nodes: list[PlanNode], limit: int, budget: int = PAYLOAD_BUDGET, per_node: int = 0
) -> int:
    """How many of `nodes` (at most `limit`, at least one) fit in `budget`, each taking
    `per_node` bytes more of it (what the result carries for each besides the node)."""
    return len(_page(nodes, 0, limit, budget, per_node))


def _page(
    nodes: list[PlanNode],
    offset: int,
    limit: int,
    budget: int = PAYLOAD_BUDGET,
    per_node: int = 0,
) -> list[PlanNode]:
    page, size = [], 0
    for node in nodes[offset : offset + limit]:
        size += len(node.model_dump_json()) + 1 + per_node
        if page and size > budget:
            break
        page.append(node)
    return page


def digest(
    cache: IacCache,
    target: StackTarget,
    plan: Plan,
    doc: StackDocument,
    states: Mapping[str, ResourceState],
    inline_limit: int,
    document_digest: str = "",
) -> PlanDigest:
    nodes = _nodes(plan, doc, states)
    cache.remember_nodes(target, plan.id, nodes)
    return _digest_of(plan, doc.stack, nodes, inline_limit, document_digest)


def _digest_of(
    plan: Plan,
    stack: str,
    nodes: list[PlanNode],
    inline_limit: int,
    document_digest: str = "",
) -> PlanDigest:
    small = len(plan.actions) <= inline_limit and _fits(plan, nodes)
    return PlanDigest(
        plan_id=plan.id,
        stack=stack,
        state_serial=plan.state_serial,
        counts=plan_counts(plan),
        node_count=len(nodes),
        nodes=nodes if small else [],
        plan=plan if small else None,
        document_digest=document_digest,
    )


def _fits(plan: Plan, nodes: list[PlanNode]) -> bool:
    """Whether the plan and its nodes together stay within PAYLOAD_BUDGET as a result."""
    size = len(plan.model_dump_json())
    return size + sum(len(node.model_dump_json()) for node in nodes) <= PAYLOAD_BUDGET


def _nodes(plan: Plan, doc: StackDocument, states: Mapping[str, ResourceState]) -> PlanNodes:
    actions = {action.resource.name: action for action in plan.actions}
    nodes = PlanNodes()
    for step in plan_steps(plan, doc, states):
        action = actions[step.name]
        name = step.name
        declared = doc.by_name.get(name)
        if declared is not None and action.action != "delete":
            provider = declared.provider
        else:
            provider = action.current.provider if action.current else ""
        block = doc.providers.get(provider)
        if declared is not None:
            depends_on = sorted(resource_dependencies(declared))
        else:
            depends_on = list(action.current.dependencies) if action.current else []
        # Built from values already checked, and kept per worker for the whole chain:
        # constructed, not validated again, with every field given and repeated strings
        # held once (compact: 100,000 nodes took 116 MB as validated models).
        nodes.append(
            PlanNode.model_construct(
                NODE_FIELDS,
                name=sys.intern(name),
                action=sys.intern(action.action),
                type=sys.intern(action.resource.type),
                provider=sys.intern(provider),
                provider_type=sys.intern(block.type if block else provider),
                deps=interned(need for need in step.waits if need != step.key),
                depends_on=interned(depends_on),
                create_before_destroy=step.create_before_destroy,
                part=step.part,
                pending_only=False,
            )
        )
    return nodes


def _sizings(
    cache: IacCache, target: StackTarget, doc: StackDocument
) -> dict[str, ProviderSizing | None]:
    sizings: dict[str, ProviderSizing | None] = {}
    for resource in doc.resources:
        if resource.size is not None:
            provider = cache.provider(target, resource.provider)
            sizings[resource.name] = provider.resolve_sizing(
                resource.type, resource.size, resource.hints
            )
    return sizings


def _driver_diffs(
    cache: IacCache,
    target: StackTarget,
    desired: Mapping[str, ResourceSpec],
    states: Mapping[str, ResourceState],
) -> tuple[dict[str, DiffResult | None], dict[str, ResourceOutput]]:
    """The driver's diff and the live resource of each desired resource with state; one
    whose read finds nothing (a ghost) has neither."""
    names = needs_driver_diff(desired, states)
    found = read_live(cache, target, [states[name] for name in names])
    diffs: dict[str, DiffResult | None] = {}
    currents: dict[str, ResourceOutput] = {}
    for name in names:  # in order: the first failure is the one a user is shown
        current = found[name]
        if isinstance(current, Exception):
            raise current
        if current is None:
            continue
        state = states[name]
        driver = cache.provider(target, state.provider).resource_driver(state.type)
        currents[name] = current
        diffs[name] = driver.diff(desired[name], current)
    return diffs, currents


def _rediff(
    cache: IacCache,
    target: StackTarget,
    states: Mapping[str, ResourceState],
    currents: Mapping[str, ResourceOutput],
) -> Rediff:
    """Diff a spec again against the live resource read for the first diff (no cloud call)."""

    def rediff(spec: ResourceSpec) -> DiffResult | None:
        current, state = currents.get(spec.name), states.get(spec.name)
        if current is None or state is None:
            return None
        driver = cache.provider(target, state.provider).resource_driver(state.type)
        try:
            return driver.diff(spec, current)
        except Exception as error:  # a driver that cannot read the stand-in value
            log.warning(
                "cannot tell whether %s must be replaced for its new references (%s); "
                "planning an update",
                spec.name,
                error,
            )
            return None

    return rediff
