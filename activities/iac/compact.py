"""Smaller per-resource objects for the documents, plans, nodes and states a worker keeps.

A pydantic instance carries its own set of the names of the fields it was given. With five
names or more that set takes ~730 bytes, more than the values of a plan node: at 100,000
resources the validated nodes held 116 MB, the listed states 217 MB, the parsed document
174 MB. The objects here share one set per model instead, holding every field name.

That is safe because nothing in wfctl asks which fields were given (no `exclude_unset`, no
`model_fields_set`; tests/test_iac_compact.py keeps it so), and because the shared set
already holds every name: pydantic adds a name to it when a field is assigned, which never
changes it, and model_copy copies the set before it adds to it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

from pydantic import BaseModel

from engine.iac.stack import Lifecycle, StackDocument
from interfaces.iac import Plan

M = TypeVar("M", bound=BaseModel)

_FULL: dict[type[BaseModel], set[str]] = {}


def full_fields(model: type[BaseModel]) -> set[str]:
    """The one shared set of every field name of `model`."""
    found = _FULL.get(model)
    if found is None:
        found = _FULL.setdefault(model, set(model.model_fields))
    return found


def shared(instance: M) -> M:
    """`instance`, holding its model's shared set of field names instead of its own."""
    object.__setattr__(instance, "__pydantic_fields_set__", full_fields(type(instance)))
    return instance


# The lifecycle of every resource that declares none, in the worker's cached documents
# (read, never changed: IacCache.document).
_NO_LIFECYCLE = shared(Lifecycle())


def all_shared(instances: Iterable[M]) -> list[M]:
    return [shared(instance) for instance in instances]


def interned(names: Iterable[str]) -> list[str]:
    """The names as interned strings: each resource name is held once, however many nodes
    list it among their dependencies."""
    return [sys.intern(name) for name in names]


def compact_document(document: StackDocument) -> StackDocument:
    """A parsed document made smaller in place, for the worker's cache (shared, read-only)."""
    for resource in all_shared(document.resources):
        if resource.lifecycle == _NO_LIFECYCLE:
            resource.__dict__["lifecycle"] = _NO_LIFECYCLE
    return document


def compact_plan(plan: Plan) -> Plan:
    """A plan made smaller in place, for the worker's cache: a destroy's plan holds a spec
    and the recorded entry of every resource."""
    for action in all_shared(plan.actions):
        shared(action.resource)
        if action.current is not None:
            shared(action.current)
        all_shared(action.changes)
    return plan
