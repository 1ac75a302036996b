"""What the workflows and the document store agree on about stack documents by reference."""

from __future__ import annotations

# A document's name in the store: the sha256 (hex) of its canonical JSON.
DIGEST_PATTERN = r"^[0-9a-f]{64}$"
# What a run by reference still carries inline; the rest (resources) is only in the store.
INLINE_FIELDS = ("stack", "state", "providers")
