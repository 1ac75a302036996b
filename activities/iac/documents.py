"""The stack document of a plan activity, inline or by digest (statestore.documents).

An inline document is stored here, so the run goes on by digest; a document by digest is
read back and checked. The last few documents read are kept parsed from JSON per worker: the
pages of a large plan and every continue-as-new of its apply read the same one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from activities.iac.cache import IacCache
from statestore import documents
from workflows.iac.models import DocumentSource, StackTarget

KEEP = 2

_lock = threading.Lock()
_recent: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()


def inline_target(document: dict[str, Any]) -> StackTarget:
    return StackTarget(
        stack=str(document.get("stack", "")),
        state=dict(document.get("state") or {}),
        providers=dict(document.get("providers") or {}),
    )


def resolve(cache: IacCache, source: DocumentSource) -> tuple[dict[str, Any], str]:
    """The raw document and its digest; an inline one is stored first."""
    if source.target is None or not source.document_digest:
        document = source.document
        target = inline_target(document)
        digest = documents.save_document(cache.store(target), document)
        _keep((target.stack, digest), document)
        return document, digest
    return read(cache, source.target, source.document_digest), source.document_digest


def _keep(key: tuple[str, str], document: dict[str, Any]) -> None:
    with _lock:
        _recent[key] = document
        _recent.move_to_end(key)
        while len(_recent) > KEEP:
            _recent.popitem(last=False)


def read(cache: IacCache, target: StackTarget, digest: str) -> dict[str, Any]:
    """The stored document `digest` of the target's stack (DocumentError if it is not
    there, or not the target's)."""
    key = (target.stack, digest)
    with _lock:
        found = _recent.get(key)
        if found is not None:
            _recent.move_to_end(key)
    if found is None:
        found = documents.load_document(cache.store(target), digest, target.stack)
        _keep(key, found)
    documents.check_inline(found, target.model_dump(), digest)
    return found


def ignore_changes(
    cache: IacCache, target: StackTarget, digest: str, names: list[str]
) -> dict[str, list[str]]:
    """lifecycle.ignore_changes of the named resources, from the stored document."""
    wanted = set(names)
    found: dict[str, list[str]] = {}
    for resource in read(cache, target, digest).get("resources") or []:
        if isinstance(resource, dict) and resource.get("name") in wanted:
            lifecycle = resource.get("lifecycle")
            fields = lifecycle.get("ignore_changes") if isinstance(lifecycle, dict) else None
            if isinstance(fields, list) and fields:
                found[str(resource["name"])] = [str(field) for field in fields]
    return found
