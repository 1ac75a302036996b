"""The tag that makes a resource this stack's, and DigitalOcean names derived from specs.

DigitalOcean tags are plain strings (letters, digits, `:`, `-`, `_`), and only droplets,
volumes and database clusters carry them. Every resource gets a name derived from the stack
and resource names; create looks for that name (and, where tags exist, the stack tag) before
creating, so a retried create adopts what the first attempt made.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

STACK_TAG_PREFIX = "wfctl-stack:"


def stack_tag(stack: str) -> str:
    return tag_name(f"{STACK_TAG_PREFIX}{stack}")


def tag_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9:_-]+", "-", text)[:255]


def user_tags(tags: Iterable[str] | None) -> list[str]:
    """Tags without our bookkeeping one: what a resource's `tags` output shows."""
    return sorted(t for t in tags or [] if not t.startswith(STACK_TAG_PREFIX))


def resource_tags(stack: str, *extra: Iterable[str] | None) -> list[str]:
    tags = {stack_tag(stack)}
    for more in extra:
        tags.update(tag_name(str(t)) for t in more or [])
    return sorted(tags)


def resource_name(stack: str, name: str, max_length: int = 63) -> str:
    """`<stack>-<name>` as a hostname-like DigitalOcean name: lowercase letters, digits and
    single hyphens, starting with a letter."""
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]+", "-", f"{stack}-{name}".lower()))
    cleaned = cleaned.strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"w-{cleaned}"
    return cleaned[:max_length].rstrip("-")
