"""GCP instances read in bulk on the fake: the same outputs and ghosts as one GET each, in
two list calls per zone; and the fake's list filter is as strict as Compute's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from interfaces.errors import NotFoundError
from providers.gcp import GcpProvider
from tests.fakes.gcp import GcpFake
from tests.fakes.gcp_list import ListError, page

PROJECT = "bulk-project"


@pytest.fixture(scope="module")
def fake() -> Iterator[GcpFake]:
    with GcpFake(pending_polls=1) as server:
        yield server


def provider_on(fake: GcpFake, stack: str) -> GcpProvider:
    made = GcpProvider()
    made.initialize({"project": PROJECT, "region": "us-central1", "endpoint": fake.url,
                     "anonymous_credentials": True, "poll_interval": 0.01, "wait_timeout": 10,
                     "max_attempts": 1, "stack": stack})  # fmt: skip
    return made


def test_instances_read_in_bulk_as_one_by_one(fake: GcpFake) -> None:
    stack = f"s{uuid.uuid4().hex[:6]}"
    provider, other = provider_on(fake, stack), provider_on(fake, f"o{uuid.uuid4().hex[:6]}")
    try:
        driver = provider.resource_driver("infra.instance")
        refs = []
        for name in ("web", "api", "gone"):
            made = driver.create(ResourceSpec(name=name, type="infra.instance",
                                              config={"labels": {"team": name}}))  # fmt: skip
            refs.append(ResourceRef(name=name, type="infra.instance", provider_id=made.provider_id))
        # Another stack's instance in the same zone is not listed.
        other.resource_driver("infra.instance").create(
            ResourceSpec(name="web", type="infra.instance")
        )
        gone = [k for k in fake.resources if k.endswith(f"/instances/{stack}-gone")]
        fake.resources.pop(gone[0])
        expected: dict[str, ResourceOutput | None] = {}
        for ref in refs:
            try:
                expected[ref.name] = driver.read(ref)
            except NotFoundError:
                expected[ref.name] = None
        before = len(fake.requests)
        assert driver.read_many(refs) == expected  # type: ignore[attr-defined]
        assert expected["gone"] is None and expected["web"] is not None
        gets = [(r.method, r.path.rsplit("/", 2)[-2:], r.query.get("filter"))
                for r in fake.requests[before:]]  # fmt: skip
        # Instances by the stack's label, the zone's disks, and the ghost confirmed by a GET.
        assert gets == [
            ("GET", ["us-central1-a", "instances"], f'labels.wfctl-stack = "{stack}"'),
            ("GET", ["us-central1-a", "disks"], None),
            ("GET", ["instances", f"{stack}-gone"], None),
        ]
    finally:
        provider.close()
        other.close()


ITEMS: list[dict[str, Any]] = [
    {"name": "a", "status": "RUNNING", "labels": {"wfctl-stack": "s1", "team": "x"}},
    {"name": "b", "status": "TERMINATED", "labels": {"wfctl-stack": "s1"}},
    {"name": "c", "status": "RUNNING"},
]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", ["a", "b", "c"]),
        ('labels.wfctl-stack = "s1"', ["a", "b"]),
        ("labels.wfctl-stack = s1", ["a", "b"]),
        ("labels.wfctl-stack != s1", ["c"]),
        ('(labels.wfctl-stack = "s1") (status = RUNNING)', ["a"]),
        ('(labels.wfctl-stack = "s1") AND (status = "TERMINATED")', ["b"]),
    ],
)
def test_the_fake_filters_as_compute_does(text: str, names: list[str]) -> None:
    assert [i["name"] for i in page(ITEMS, {"filter": text})["items"]] == names


@pytest.mark.parametrize(
    "query",
    [
        {"filter": "labels.wfctl-stack eq s1"},  # the legacy regex form: not this grammar
        {"filter": "(name = a) OR (name = b)"},
        {"filter": "name = a status = RUNNING"},  # several terms need parentheses
        {"filter": "name : a"},
        {"filter": "(name = a"},
        {"maxResults": "501"},
        {"maxResults": "-1"},
        {"pageToken": "not-a-token"},
    ],
)
def test_the_fake_refuses_what_compute_refuses_or_wfctl_never_sends(query: dict[str, str]) -> None:
    with pytest.raises(ListError, match="Invalid value for field"):
        page(ITEMS, query)


def test_the_fake_pages_at_max_results() -> None:
    first = page(ITEMS, {"maxResults": "2"})
    assert [i["name"] for i in first["items"]] == ["a", "b"]
    rest = page(ITEMS, {"maxResults": "2", "pageToken": first["nextPageToken"]})
    assert [i["name"] for i in rest["items"]] == ["c"] and "nextPageToken" not in rest
