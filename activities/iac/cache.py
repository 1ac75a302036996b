"""Providers and state stores kept open across activities of one worker.

Opening a provider (SDK clients, credential lookup) or a database connection per activity
would dominate a 50 ms action; both are cached, providers per (stack, provider key, config
hash) so a changed provider block gets a fresh instance, stores per (stack, state block).
Parsed stack documents are kept by content digest: a large apply reads its plan's nodes in
pages and loads its plan again at every continue-as-new, each time with the same document,
whose parse costs ~100x its digest (10,000 resources: ~140 ms against ~15 ms).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from engine.iac.stack import StackDocument, parse_stack
from interfaces.errors import ConfigError
from interfaces.iac import Plan, PlanAction
from interfaces.iac_protocols import IaCProvider, IaCStateStore
from providers.registry import create_provider
from statestore import open_state_store
from workflows.iac.models import PlanNode, StackTarget

MAX_STORES = 32
MAX_PLANS = 8
MAX_DOCUMENTS = 4


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class IacCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._providers: dict[tuple[str, str, str], IaCProvider] = {}
        self._stores: OrderedDict[tuple[str, str], IaCStateStore] = OrderedDict()
        self._plans: OrderedDict[tuple[str, str], dict[str, PlanAction]] = OrderedDict()
        self._plan_objects: OrderedDict[tuple[str, str], Plan] = OrderedDict()
        self._nodes: OrderedDict[tuple[str, str], list[PlanNode]] = OrderedDict()
        self._documents: OrderedDict[str, StackDocument] = OrderedDict()

    def document(self, raw: Any, source: str) -> StackDocument:
        """parse_stack(raw), parsed once per content. The document is shared: callers read
        it, never change it (a model_copy for a change)."""
        key = _digest(raw)
        with self._lock:
            found = self._documents.get(key)
            if found is not None:
                self._documents.move_to_end(key)
                return found
        document = parse_stack(raw, source)  # a ConfigError is not kept: it is raised again
        with self._lock:
            self._documents[key] = document
            while len(self._documents) > MAX_DOCUMENTS:
                self._documents.popitem(last=False)
        return document

    def provider(self, target: StackTarget, key: str) -> IaCProvider:
        block = target.providers.get(key)
        if not isinstance(block, dict) or not block.get("type"):
            raise ConfigError(f'stack "{target.stack}" has no provider "{key}"')
        cache_key = (target.stack, key, _digest(block))
        with self._lock:
            found = self._providers.get(cache_key)
        if found is not None:
            return found
        provider = create_provider(str(block["type"]))
        provider.initialize({**block, "stack": target.stack})
        with self._lock:
            # Another thread may have opened the same provider meanwhile; keep one.
            kept = self._providers.setdefault(cache_key, provider)
        if kept is not provider:
            provider.close()
        return kept

    def store(self, target: StackTarget) -> IaCStateStore:
        cache_key = (target.stack, _digest(target.state))
        with self._lock:
            found = self._stores.get(cache_key)
            if found is not None:
                self._stores.move_to_end(cache_key)
                return found
        store = open_state_store(target.state, target.stack)
        evicted: list[IaCStateStore] = []
        with self._lock:
            kept = self._stores.setdefault(cache_key, store)
            self._stores.move_to_end(cache_key)
            while len(self._stores) > MAX_STORES:
                evicted.append(self._stores.popitem(last=False)[1])
        if kept is not store:
            evicted.append(store)
        for old in evicted:
            old.close()
        return kept

    def plan(self, target: StackTarget, plan_id: str) -> Plan:
        """A saved plan, read once per worker: a plan id is never saved twice, and a large
        apply loads its plan again at every continue-as-new (10,000 actions to parse)."""
        with self._lock:
            found = self._plan_objects.get((target.stack, plan_id))
        if found is not None:
            return found
        stored = self.store(target).get_plan(plan_id)
        if stored is None:
            raise ConfigError(f'stack "{target.stack}" has no saved plan "{plan_id}"')
        self.remember_plan(target, stored)
        return stored

    def planned_action(self, target: StackTarget, plan_id: str, name: str) -> PlanAction:
        """The plan's action for `name`; plans are indexed once per worker, not per action."""
        with self._lock:
            actions = self._plans.get((target.stack, plan_id))
        if actions is None:
            self.plan(target, plan_id)
            with self._lock:
                actions = self._plans[(target.stack, plan_id)]
        try:
            return actions[name]
        except KeyError:
            raise ConfigError(f'plan {plan_id} has no action for "{name}"') from None

    def remember_plan(self, target: StackTarget, plan: Plan) -> None:
        actions = {action.resource.name: action for action in plan.actions}
        with self._lock:
            self._plans[(target.stack, plan.id)] = actions
            self._plan_objects[(target.stack, plan.id)] = plan
            while len(self._plans) > MAX_PLANS:
                self._plans.popitem(last=False)
            while len(self._plan_objects) > MAX_PLANS:
                self._plan_objects.popitem(last=False)

    def nodes(self, target: StackTarget, plan_id: str) -> list[PlanNode] | None:
        with self._lock:
            return self._nodes.get((target.stack, plan_id))

    def remember_nodes(self, target: StackTarget, plan_id: str, nodes: list[PlanNode]) -> None:
        with self._lock:
            self._nodes[(target.stack, plan_id)] = nodes
            while len(self._nodes) > MAX_PLANS:
                self._nodes.popitem(last=False)

    def close(self) -> None:
        with self._lock:
            providers, stores = list(self._providers.values()), list(self._stores.values())
            self._providers.clear()
            self._stores.clear()
            self._plans.clear()
            self._plan_objects.clear()
            self._nodes.clear()
            self._documents.clear()
        for provider in providers:
            provider.close()
        for store in stores:
            store.close()
