"""What makes a Google resource ours: deterministic names, labels and a description marker.

Compute names are unique per project (and scope), so a resource's name is derived from the
stack and resource names: a retried create finds what the first attempt made under that
name and adopts it. Types that take labels carry `wfctl-stack` / `wfctl-name`; the ones that
do not (networks, firewalls, certificates, load balancer parts) carry the same facts in their
description, which is how a name clash with someone else's resource is told apart.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

STACK_LABEL = "wfctl-stack"
NAME_LABEL = "wfctl-name"
MARKER = "managed by wfctl"


def resource_name(stack: str, name: str, *suffix: str, max_length: int = 63) -> str:
    """A Google resource name for `name` of `stack` (and a part of it, `suffix`)."""
    return valid_name("-".join((stack, name, *suffix)), max_length)


def valid_name(text: str, max_length: int = 63) -> str:
    """`text` as a Google resource name (`[a-z]([-a-z0-9]*[a-z0-9])?`).

    Too long a name is shortened with a digest of the whole, so two resources never share one.
    """
    cleaned = _clean(text)
    if len(cleaned) > max_length:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        cleaned = f"{cleaned[: max_length - 9].rstrip('-')}-{digest}"
    return cleaned


def label_value(text: str) -> str:
    """Label values: lowercase letters, digits, `-` and `_`, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower())[:63]


def labels(stack: str, name: str, *extra: Mapping[str, Any] | None) -> dict[str, str]:
    """Our two labels plus user labels (provider-wide first, then the resource's own)."""
    found: dict[str, str] = {}
    for more in extra:
        found.update({str(k): label_value(str(v)) for k, v in (more or {}).items()})
    found.update({STACK_LABEL: label_value(stack), NAME_LABEL: label_value(name)})
    return found


def user_labels(found: Mapping[str, str] | None) -> dict[str, str]:
    """Labels without our bookkeeping ones: what a resource's `labels` output shows."""
    return {k: v for k, v in (found or {}).items() if k not in (STACK_LABEL, NAME_LABEL)}


def description(stack: str, name: str) -> str:
    return f"{MARKER}: stack={stack} name={name}"


def is_ours(
    stack: str, name: str, *, labels_found: Mapping[str, str] | None = None, text: str = ""
) -> bool:
    if labels_found and labels_found.get(STACK_LABEL) == label_value(stack):
        return labels_found.get(NAME_LABEL) == label_value(name)
    return text == description(stack, name)


def _clean(text: str) -> str:
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]+", "-", text.lower())).strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"w-{cleaned}"
    return cleaned
