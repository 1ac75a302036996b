"""What the AWS drivers' bulk reads share: chunks of ids and every page of a describe call.

A bulk read asks for many resources by a filter on their ids (never by the id parameters
such as VpcIds or DBInstanceIdentifier: one missing id fails those calls as a whole, while a
filter simply leaves it out, which is how a bulk read tells a deleted resource).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# EC2 Describe* calls take at most 200 values per filter; RDS documents no limit, so 100
# keeps its requests as small as the console's.
EC2_FILTER_VALUES = 200
RDS_FILTER_VALUES = 100


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def every_page(client: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """The `key` items of every page of a paginated describe/list call."""
    items: list[dict[str, Any]] = []
    for page in client.get_paginator(operation).paginate(**params):
        items.extend(page.get(key, []))
    return items


def id_filter(name: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    return [{"Name": name, "Values": sorted(set(ids))}]
