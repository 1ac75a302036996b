"""Providers and state stores kept open across activities of one worker.

Opening a provider (SDK clients, credential lookup) or a database connection per activity
would dominate a 50 ms action; both are cached, providers per (stack, provider key, config
hash) so a changed provider block gets a fresh instance, stores per (stack, state block).
Parsed stack documents are kept by content digest: a large apply reads its plan's nodes in
pages and loads its plan again at every continue-as-new, each time with the same document,
whose parse costs ~100x its digest (10,000 resources: ~140 ms against ~15 ms).

Plans, nodes and documents are bounded by what they hold (actions, nodes, resources), not by
how many there are: eight plans of 100,000 actions took the worker past 1.7 GB. The entry used
last is always kept, however large, so a large apply never parses its plan once per action.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from activities.iac.compact import compact_document, compact_plan
from engine.iac.stack import StackDocument, parse_stack
from interfaces.errors import ConfigError
from interfaces.iac import Plan, PlanAction
from interfaces.iac_protocols import IaCProvider, IaCStateStore
from providers.registry import create_provider
from statestore import documents, open_state_store
from workflows.iac.models import PlanNode, StackTarget

MAX_STORES = 32
# The bound of each by size: the actions of the plans kept, their nodes, the resources of the
# documents -- about one 100,000-resource stack's worth each (its plan, nodes and document),
# or many small stacks' (bench/README.md "IaC at scale" has the memory it saves).
# WFCTL_IAC_CACHE_SIZE sets all three (a worker serving several large stacks at once wants
# room for each: below that, their actions take turns re-reading their plans).
CACHE_SIZE = int(os.environ.get("WFCTL_IAC_CACHE_SIZE", "") or 120_000)

V = TypeVar("V")


class SizedLru(Generic[V]):
    """Least recently used entries dropped once the sizes held pass `budget`; the newest is
    always kept. Not locked: IacCache calls it under its own lock."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self.held = 0  # the sum of the sizes kept

    def get(self, key: Hashable) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        return found[0]

    def put(self, key: Hashable, value: V, size: int) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.held -= old[1]
        self._entries[key] = (value, max(1, size))
        self.held += max(1, size)
        while self.held > self.budget and len(self._entries) > 1:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.held -= dropped

    def drop(self, keep: Callable[[Hashable], bool]) -> None:
        """Drop the entries whose key `keep` refuses."""
        for key in [key for key in self._entries if not keep(key)]:
            self.held -= self._entries.pop(key)[1]

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self.held = 0


class PlanNodes(list[PlanNode]):
    """A plan's nodes as the cache keeps them; weakly referable, so what is derived from
    them (activities.iac.windows' order) goes when they go."""

    __slots__ = ("__weakref__",)


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _document_digest(raw: Any) -> str:
    """The digest the state store gives `raw`; a document it would refuse (a date from YAML,
    NaN) still gets a key of its own, and parse_stack says what is wrong with it."""
    try:
        return documents.digest_of(documents.canonical_json(raw))
    except (TypeError, ValueError):
        return "unstored:" + _digest(raw)


class IacCache:
    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._lock = threading.Lock()
        self._providers: dict[tuple[str, str, str], IaCProvider] = {}
        self._stores: OrderedDict[tuple[str, str], IaCStateStore] = OrderedDict()
        # A plan with its actions indexed by name (the same objects: counted once).
        self._plans: SizedLru[tuple[Plan, dict[str, PlanAction]]] = SizedLru(size)
        self._nodes: SizedLru[PlanNodes] = SizedLru(size)
        self._documents: SizedLru[StackDocument] = SizedLru(size)

    def document(self, raw: Any, source: str, digest: str = "") -> StackDocument:
        """parse_stack(raw), parsed once per content: `digest` is the stored document's
        (statestore.documents), computed here when not given. The document is shared:
        callers read it, never change it (a model_copy for a change)."""
        key = digest or _document_digest(raw)
        with self._lock:
            found = self._documents.get(key)
        if found is not None:
            return found
        # A ConfigError is not kept: it is raised again.
        document = compact_document(parse_stack(raw, source))
        with self._lock:
            self._documents.put(key, document, len(document.resources))
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
            found = self._plans.get((target.stack, plan_id))
        if found is not None:
            return found[0]
        stored = self.store(target).get_plan(plan_id)
        if stored is None:
            raise ConfigError(f'stack "{target.stack}" has no saved plan "{plan_id}"')
        self.remember_plan(target, stored)
        return stored

    def planned_action(self, target: StackTarget, plan_id: str, name: str) -> PlanAction:
        """The plan's action for `name`; plans are indexed once per worker, not per action."""
        with self._lock:
            found = self._plans.get((target.stack, plan_id))
        actions = found[1] if found is not None else self._index(self.plan(target, plan_id))
        try:
            return actions[name]
        except KeyError:
            raise ConfigError(f'plan {plan_id} has no action for "{name}"') from None

    def remember_plan(self, target: StackTarget, plan: Plan) -> None:
        actions = self._index(compact_plan(plan))
        with self._lock:
            self._plans.put((target.stack, plan.id), (plan, actions), len(plan.actions))

    @staticmethod
    def _index(plan: Plan) -> dict[str, PlanAction]:
        return {action.resource.name: action for action in plan.actions}

    def forget_plans(self, stack: str) -> None:
        """Drop the stack's plans and nodes before it is planned again: a new plan of a
        100,000-resource stack built while the last one is still held took the worker past
        1 GB. A run still walking an older plan reads it back from the store, once."""
        with self._lock:
            for kept in (self._plans, self._nodes):
                kept.drop(lambda key: not (isinstance(key, tuple) and key[0] == stack))

    def nodes(self, target: StackTarget, plan_id: str) -> PlanNodes | None:
        with self._lock:
            return self._nodes.get((target.stack, plan_id))

    def remember_nodes(self, target: StackTarget, plan_id: str, nodes: PlanNodes) -> None:
        with self._lock:
            self._nodes.put((target.stack, plan_id), nodes, len(nodes))

    def held(self) -> dict[str, int]:
        """What the cache holds, by size: plan actions, nodes, document resources."""
        with self._lock:
            return {
                "plan_actions": self._plans.held,
                "nodes": self._nodes.held,
                "document_resources": self._documents.held,
            }

    def close(self) -> None:
        with self._lock:
            providers, stores = list(self._providers.values()), list(self._stores.values())
            self._providers.clear()
            self._stores.clear()
            self._plans.clear()
            self._nodes.clear()
            self._documents.clear()
        for provider in providers:
            provider.close()
        for store in stores:
            store.close()
