"""The tags that make an ARM resource ours.

Every resource (and a resource group the stack creates) carries `wfctl-stack` and
`wfctl-name`. ARM ids are names, so a retried create PUTs the same id and adopts; the tags
keep it from adopting somebody else's resource of the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STACK_TAG = "wfctl-stack"
NAME_TAG = "wfctl-name"


def resource_tags(stack: str, name: str, *extra: Mapping[str, Any] | None) -> dict[str, str]:
    """Our two tags plus user tags (provider-wide first, then the resource's own)."""
    tags: dict[str, str] = {}
    for more in extra:
        tags.update({str(k): str(v) for k, v in (more or {}).items()})
    tags.update({STACK_TAG: stack, NAME_TAG: name})
    return tags


def user_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    """Tags without our bookkeeping ones: what a resource's `tags` output shows."""
    return {str(k): str(v) for k, v in (tags or {}).items() if not str(k).startswith("wfctl-")}


def is_ours(tags: Mapping[str, Any] | None, stack: str, name: str) -> bool:
    tags = tags or {}
    return tags.get(STACK_TAG) == stack and tags.get(NAME_TAG) == name
