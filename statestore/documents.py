"""Stack documents stored once, content addressed, beside the state they describe.

A run of a large stack carries the sha256 digest of its document's canonical JSON instead of
the document: the document is the one value of a run that grows with the stack, and it would
otherwise travel in the workflow input, in the plan activities' inputs and in every
continue-as-new. The store keeps the exact canonical text, so whoever reads it back checks the
digest against the bytes, not against a re-serialisation.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from interfaces.documents import DIGEST_PATTERN, INLINE_FIELDS
from interfaces.errors import DocumentError
from interfaces.iac import DriftResult
from interfaces.iac_protocols import IaCStateStore

_DIGEST = re.compile(DIGEST_PATTERN)
# Documents larger than this (as JSON) travel by reference: stored here, their digest in the
# run's input. Far under Temporal's 256 KB payload warning, with room for the run's options.
INLINE_LIMIT = 128 * 1024


def canonical_json(document: Mapping[str, Any]) -> str:
    """One text per document, whoever serialises it: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def save_document(store: IaCStateStore, document: Mapping[str, Any]) -> str:
    """Store the document (idempotent) and return its digest."""
    text = canonical_json(document)
    digest = digest_of(text)
    store.save_document(digest, text)
    return digest


def by_reference_if_large(
    document: Mapping[str, Any], open_store: Callable[[], IaCStateStore]
) -> dict[str, Any]:
    """The document as a run's input: itself when small, else stored and named by digest."""
    text = canonical_json(document)
    if len(text.encode()) <= INLINE_LIMIT:
        return dict(document)
    store = open_store()
    try:
        digest = digest_of(text)
        store.save_document(digest, text)
    finally:
        store.close()
    return reference(document, digest)


def reference(document: Mapping[str, Any], digest: str) -> dict[str, Any]:
    """The run input naming a stored document: its small fields inline, the digest."""
    kept = {key: document[key] for key in INLINE_FIELDS if key in document}
    return {**kept, "document_digest": digest}


def load_document(store: IaCStateStore, digest: str, stack: str) -> dict[str, Any]:
    """The document stored under `digest`; DocumentError when it is not there or its text
    does not hash to the digest. Check it against the run with check_inline."""
    if not _DIGEST.match(digest):
        raise DocumentError(
            "DocumentMismatch",
            f"stack {stack!r}: document_digest {digest[:80]!r} is not a sha256 digest "
            "(64 lowercase hex characters)",
        )
    text = store.get_document(digest)
    if text is None:
        raise DocumentError(
            "UnknownDocument",
            f"stack {stack!r}: no stored document has digest {digest} in its state store; "
            "store it first (wfctl does) or start the run with the document inline",
        )
    if digest_of(text) != digest:
        raise DocumentError(
            "DocumentMismatch",
            f"stack {stack!r}: the document stored under digest {digest} does not hash to it "
            "(the state store was changed by hand?)",
        )
    return dict(json.loads(text))


def check_inline(document: Mapping[str, Any], expected: Mapping[str, Any], digest: str) -> None:
    """DocumentError unless the stack, state and providers the run carries are the stored
    document's (a reference to another stack's document, or a provider block changed
    without a new document)."""
    stack = expected.get("stack", "?")
    for key in INLINE_FIELDS:
        mine, theirs = document.get(key) or {}, expected.get(key) or {}
        if canonical_json({key: mine}) != canonical_json({key: theirs}):
            raise DocumentError(
                "DocumentMismatch",
                f"stack {stack!r}: the run's {key} is not the {key} of the document stored "
                f"under digest {digest}",
            )


def save_drift(store: IaCStateStore, stack: str, results: Sequence[DriftResult]) -> str:
    """Store one drift batch's results (already masked) and return their digest."""
    return save_document(
        store, {"stack": stack, "drift": [result.model_dump(mode="json") for result in results]}
    )


def load_drift(store: IaCStateStore, digests: Sequence[str], stack: str) -> list[DriftResult]:
    """Every result of a drift report's stored batches, in the report's order."""
    found: list[DriftResult] = []
    for digest in digests:
        stored = load_document(store, digest, stack)
        found.extend(DriftResult.model_validate(result) for result in stored.get("drift", []))
    return found
