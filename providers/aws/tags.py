"""The tags that make a resource ours, in the shapes the different AWS APIs want.

Every resource carries `wfctl:stack` and `wfctl:name`; create looks them up before creating,
so a retried create adopts what the first attempt made instead of making a second one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

STACK_TAG = "wfctl:stack"
NAME_TAG = "wfctl:name"


def resource_tags(
    stack: str, name: str, *extra: Mapping[str, Any] | None
) -> dict[str, str]:
    """Our two tags plus user tags (provider-wide first, then the resource's own)."""
    tags: dict[str, str] = {}
    for more in extra:
        tags.update({str(k): str(v) for k, v in (more or {}).items()})
    tags.update({STACK_TAG: stack, NAME_TAG: name})
    return tags


def tag_list(
    tags: Mapping[str, str], key: str = "Key", value: str = "Value"
) -> list[dict[str, str]]:
    """[{"Key": k, "Value": v}] for EC2, RDS, S3, Route53, IAM...; ECS wants key/value."""
    return [{key: k, value: v} for k, v in tags.items()]


def tags_from_list(
    items: Iterable[Mapping[str, Any]] | None, key: str = "Key", value: str = "Value"
) -> dict[str, str]:
    return {str(item[key]): str(item.get(value, "")) for item in items or []}


def user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags without our own bookkeeping ones: what a resource's `tags` output shows."""
    return {k: v for k, v in tags.items() if not k.startswith(("wfctl:", "aws:"))}


def is_ours(tags: Mapping[str, str], stack: str, name: str) -> bool:
    return tags.get(STACK_TAG) == stack and tags.get(NAME_TAG) == name


def ec2_filters(stack: str, name: str) -> list[dict[str, Any]]:
    """EC2 Describe* filters selecting the resource `name` of `stack`."""
    return [
        {"Name": f"tag:{STACK_TAG}", "Values": [stack]},
        {"Name": f"tag:{NAME_TAG}", "Values": [name]},
    ]


def ec2_tag_spec(resource_type: str, tags: Mapping[str, str]) -> list[dict[str, Any]]:
    """TagSpecifications for an EC2 Create* call: tagged atomically with the create."""
    return [{"ResourceType": resource_type, "Tags": tag_list(tags)}]


def tag_changes(
    current: Mapping[str, str], desired: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """(tags to set, user tag keys to remove) turning `current` into `desired`.

    Tags AWS manages (aws:*) are never removed.
    """
    to_set = {k: v for k, v in desired.items() if current.get(k) != v}
    to_remove = [k for k in current if k not in desired and not k.startswith("aws:")]
    return to_set, to_remove


def sync_ec2_tags(
    ec2: Any, resource_id: str, current: Mapping[str, str], desired: Mapping[str, str]
) -> None:
    to_set, to_remove = tag_changes(current, desired)
    if to_set:
        ec2.create_tags(Resources=[resource_id], Tags=tag_list(to_set))
    if to_remove:
        ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": k} for k in to_remove])
