"""The stack document of a plan activity, inline or by digest (statestore.documents).

An inline document is stored here, so the run goes on by digest; a document by digest is
read back and checked. Documents are not kept here as read: the worker keeps them parsed
(IacCache.document), and a plan activity lets go of the read one once it has the parsed one.
Kept, the read document of 100,000 resources held 60 MB beside the parsed one through every
plan. What drift needs of a document, its ignore_changes, is kept per document instead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from activities.iac.cache import IacCache
from statestore import documents
from workflows.iac.models import DocumentSource, StackTarget

KEEP = 8

_lock = threading.Lock()
# (stack, digest) -> resource name -> lifecycle.ignore_changes, of the last few documents.
_ignored: OrderedDict[tuple[str, str], dict[str, list[str]]] = OrderedDict()


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
        return document, digest
    return read(cache, source.target, source.document_digest), source.document_digest


def read(cache: IacCache, target: StackTarget, digest: str) -> dict[str, Any]:
    """The stored document `digest` of the target's stack (DocumentError if it is not
    there, or not the target's)."""
    found = documents.load_document(cache.store(target), digest, target.stack)
    documents.check_inline(found, target.model_dump(), digest)
    return found


def ignore_changes(
    cache: IacCache, target: StackTarget, digest: str, names: list[str]
) -> dict[str, list[str]]:
    """lifecycle.ignore_changes of the named resources, from the stored document (read once
    per worker: a drift of 100,000 resources asks in 1,000 batches)."""
    key = (target.stack, digest)
    with _lock:
        ignored = _ignored.get(key)
        if ignored is not None:
            _ignored.move_to_end(key)
    if ignored is None:
        ignored = _ignore_lists(read(cache, target, digest))
        with _lock:
            _ignored[key] = ignored
            while len(_ignored) > KEEP:
                _ignored.popitem(last=False)
    return {name: ignored[name] for name in names if name in ignored}


def _ignore_lists(document: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for resource in document.get("resources") or []:
        if isinstance(resource, dict) and isinstance(resource.get("name"), str):
            lifecycle = resource.get("lifecycle")
            fields = lifecycle.get("ignore_changes") if isinstance(lifecycle, dict) else None
            if isinstance(fields, list) and fields:
                found[resource["name"]] = [str(field) for field in fields]
    return found
