"""What the AWS drivers' bulk reads share: chunks of ids and every page of a describe call.

A bulk read asks for many resources by their ids. Where a call takes a list of ids (VpcIds,
GroupIds) that is asked first: AWS looks them up by index. One missing id fails such a call as
a whole, though, so when it answers NotFound the same ids are asked again as a filter, which
simply leaves the deleted ones out (filtering is also the only way for calls without an id
list, such as RDS's). The first answer costs one call; a stack with a ghost pays two.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from providers.aws.errors import is_not_found_code

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


def describe_by_ids(
    client: Any, operation: str, key: str, ids_param: str, filter_name: str, ids: Sequence[str]
) -> list[dict[str, Any]]:
    """The items of `ids` (up to EC2_FILTER_VALUES): by the id list, else by the id filter."""
    wanted = sorted(set(ids))
    try:
        # No paginator: EC2 refuses MaxResults with an id list, and answers it in one page.
        return list(getattr(client, operation)(**{ids_param: wanted}).get(key, []))
    except ClientError as error:
        if not is_not_found_code(str(error.response.get("Error", {}).get("Code", ""))):
            raise
    return every_page(client, operation, key, Filters=id_filter(filter_name, wanted))
