"""Google's rules outside the wire shapes, on both sides: the GCP fake refuses what the real
APIs refuse (bodies checked against the discovery documents, Cloud SQL's edition vs tier and
reserved names, Memorystore's network, the 63-character names), and the drivers send what
those rules allow."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from interfaces import ResourceRef, ResourceSpec
from interfaces.errors import ProviderError
from providers.creation_journal import creation_journal
from providers.gcp import GcpProvider
from tests.fakes.gcp import GcpFake

PROJECT = "rules-project"
SQL = f"/v1/projects/{PROJECT}/instances"
NETWORKS = f"/compute/v1/projects/{PROJECT}/global/networks"
REDIS = f"/v1/projects/{PROJECT}/locations/us-central1/instances"


@pytest.fixture(scope="module")
def fake() -> Iterator[GcpFake]:
    with GcpFake(pending_polls=0) as server:
        yield server


def make_provider(fake: GcpFake, stack: str) -> GcpProvider:
    made = GcpProvider()
    made.initialize({"project": PROJECT, "region": "us-central1", "endpoint": fake.url,
                     "anonymous_credentials": True, "poll_interval": 0.01, "wait_timeout": 10,
                     "max_attempts": 1, "stack": stack})  # fmt: skip
    return made


@pytest.fixture
def provider(fake: GcpFake) -> Iterator[GcpProvider]:
    made = make_provider(fake, f"s{uuid.uuid4().hex[:6]}")
    yield made
    made.close()


def send(fake: GcpFake, method: str, path: str, body: dict[str, Any]) -> tuple[int, str]:
    """One raw request to the fake: (status, error message or "")."""
    request = urllib.request.Request(
        fake.url + path, data=json.dumps(body).encode(), method=method,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, ""
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())["error"]["message"]


def spec(type_: str, name: str = "", **config: Any) -> ResourceSpec:
    return ResourceSpec(name=name or f"r{uuid.uuid4().hex[:6]}", type=type_, config=config)


def sql_body(name: str, **settings: Any) -> dict[str, Any]:
    return {"name": name, "region": "us-central1", "databaseVersion": "POSTGRES_16",
            "settings": {"tier": "db-f1-micro", "edition": "ENTERPRISE", **settings}}  # fmt: skip


# -- the fake refuses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "problem"),
    [
        (NETWORKS, {"name": "n1", "autoCreateSubnetworks": False, "colour": "red"},
         'Unknown name "colour"'),
        (NETWORKS, {"name": "n2", "autoCreateSubnetworks": "no"}, "autoCreateSubnetworks"),
        (NETWORKS, {"name": "n3", "routingConfig": {"routingMode": "SIDEWAYS"}}, "SIDEWAYS"),
        (SQL, sql_body("i1", edition="GOLD"), "settings.edition"),
        (SQL, sql_body("i2", dataDiskSizeGb="ten"), "dataDiskSizeGb"),
        (REDIS + "?instanceId=c1", {"tier": "PLATINUM", "memorySizeGb": 1}, "PLATINUM"),
    ],
)  # fmt: skip
def test_the_fake_refuses_bodies_the_discovery_documents_do_not_allow(
    fake: GcpFake, path: str, body: dict[str, Any], problem: str
) -> None:
    status, message = send(fake, "POST", path, body)
    assert (status, problem in message) == (400, True), message


def test_the_fake_refuses_a_tier_the_edition_does_not_run(fake: GcpFake) -> None:
    # No edition on PostgreSQL 16: Enterprise Plus, which runs no shared-core tier.
    unset = sql_body("e1")
    del unset["settings"]["edition"]
    assert send(fake, "POST", SQL, unset) == (
        400, "Invalid Tier (db-f1-micro) for (ENTERPRISE_PLUS) Edition.",
    )  # fmt: skip
    plus = sql_body("e2", edition="ENTERPRISE", tier="db-perf-optimized-N-2")
    assert send(fake, "POST", SQL, plus)[0] == 400
    standard = sql_body("e3", tier="db-n1-standard-4")
    assert "Only custom or shared-core" in send(fake, "POST", SQL, standard)[1]
    assert send(fake, "POST", SQL, sql_body("e4", tier="db-custom-2-8192"))[0] == 200
    ok = sql_body("e5", edition="ENTERPRISE_PLUS", tier="db-perf-optimized-N-2")
    assert send(fake, "POST", SQL, ok)[0] == 200


def test_the_fake_keeps_a_deleted_cloud_sql_name_reserved(fake: GcpFake) -> None:
    assert send(fake, "POST", SQL, sql_body("gone"))[0] == 200
    assert send(fake, "DELETE", f"{SQL}/gone", {})[0] == 200  # done at once: pending_polls 0
    assert send(fake, "GET", f"{SQL}/gone", {})[0] == 404
    assert send(fake, "POST", SQL, sql_body("gone"))[0] == 409


def test_the_fake_refuses_a_cache_on_a_network_that_does_not_exist(fake: GcpFake) -> None:
    # No authorizedNetwork means the project's `default` network, which this one lacks.
    status, message = send(fake, "POST", REDIS + "?instanceId=nonet", {"tier": "BASIC",
                                                                      "memorySizeGb": 1})
    assert status == 400 and "network not found" in message
    missing = {"tier": "BASIC", "memorySizeGb": 1,
               "authorizedNetwork": f"projects/{PROJECT}/global/networks/nowhere"}  # fmt: skip
    assert send(fake, "POST", REDIS + "?instanceId=nonet", missing)[0] == 400


def test_the_fake_refuses_names_longer_than_each_api_allows(fake: GcpFake) -> None:
    # Compute: 63 characters; Cloud SQL: 98; Memorystore: 40.
    status, message = send(fake, "POST", NETWORKS, {"name": "n" * 64})
    assert status == 400 and "resource.name" in message
    assert send(fake, "POST", NETWORKS, {"name": "n" * 63})[0] == 200
    assert "at most 98" in send(fake, "POST", SQL, sql_body("i" * 99))[1]
    assert send(fake, "POST", SQL, sql_body("i" * 98))[0] == 200
    cache = {"tier": "BASIC", "memorySizeGb": 1,
             "authorizedNetwork": f"projects/{PROJECT}/global/networks/{'n' * 63}"}  # fmt: skip
    assert "1-40" in send(fake, "POST", f"{REDIS}?instanceId={'c' * 41}", cache)[1]
    assert send(fake, "POST", f"{REDIS}?instanceId={'c' * 40}", cache)[0] == 200


# -- the drivers keep to the rules ------------------------------------------------------------


def test_cloud_sql_sends_the_edition_its_tier_runs_on(
    provider: GcpProvider, fake: GcpFake
) -> None:
    driver = provider.resource_driver("infra.database")
    shared = driver.create(spec("infra.database", instance_type="db-g1-small"))
    assert shared.outputs["edition"] == "ENTERPRISE"
    plus = driver.create(spec("infra.database", instance_type="db-perf-optimized-N-2"))
    assert plus.outputs["edition"] == "ENTERPRISE_PLUS"
    posts = len(fake.calls("POST", rf"^{SQL}$"))
    with pytest.raises(ProviderError) as mismatch:
        driver.create(spec("infra.database", "odd", edition="enterprise_plus"))
    assert mismatch.value.code == "InvalidConfig" and not mismatch.value.retryable
    assert "tier 'db-f1-micro' does not run on edition ENTERPRISE_PLUS" in str(mismatch.value)
    assert len(fake.calls("POST", rf"^{SQL}$")) == posts  # refused before asking Google


def test_cloud_sql_names_are_new_per_create_and_kept_through_retries(
    provider: GcpProvider, fake: GcpFake
) -> None:
    driver = provider.resource_driver("infra.database")
    wanted = spec("infra.database", "orders")
    recorded: list[str] = []
    with creation_journal(recorded.append, token="create-1"):
        first = driver.create(wanted)
        again = driver.create(wanted)  # a retry of the same create adopts its instance
    assert again.provider_id == first.provider_id and recorded[0] == first.provider_id
    assert first.provider_id.startswith(f"{provider.context.stack}-orders-")
    driver.delete(ResourceRef(name="orders", type=wanted.type, provider_id=first.provider_id))
    # Destroy, then apply: the old name is reserved, the next create asks for another.
    with creation_journal(recorded.append, token="create-2"):
        second = driver.create(wanted)
    assert second.provider_id != first.provider_id and second.outputs["state"] == "RUNNABLE"
    # A create that lost track of its instance (no token) finds it by its labels.
    assert driver.create(wanted).provider_id == second.provider_id
    assert driver.locate(wanted) == second.provider_id
    inserts = [r for r in fake.calls("POST", rf"^{SQL}$") if "-orders-" in r.body["name"]]
    assert [r.body["name"] for r in inserts] == [first.provider_id, second.provider_id]


def test_a_reserved_cloud_sql_name_is_passed_over_and_all_reserved_is_a_final_error(
    provider: GcpProvider, fake: GcpFake
) -> None:
    driver = provider.resource_driver("infra.database")
    wanted = spec("infra.database", "billing")
    with creation_journal(lambda _id: None, token="reserved-once"):
        first, second = driver.instance_name(wanted, 0), driver.instance_name(wanted, 1)
        fake.sql_reserved.add(first)
        made = driver.create(wanted)
    assert made.provider_id == second  # the reserved name passed over, not retried forever

    others = spec("infra.database", "ledger")
    with creation_journal(lambda _id: None, token="reserved-always"):
        names = [driver.instance_name(others, attempt) for attempt in range(3)]
        fake.sql_reserved.update(names)
        with pytest.raises(ProviderError) as refused:
            driver.create(others)
    assert refused.value.code == "InstanceNameReserved" and not refused.value.retryable
    assert "can stay reserved for a while after deletion" in str(refused.value)
    assert all(name in str(refused.value) for name in names)


def test_an_instance_being_deleted_is_not_adopted(provider: GcpProvider, fake: GcpFake) -> None:
    driver = provider.resource_driver("infra.database")
    wanted = spec("infra.database", "audit")
    dying = driver.create(wanted).provider_id
    fake.sql[dying]["state"] = "PENDING_DELETE"  # as Cloud SQL lists it while deleting
    assert driver.locate(wanted) == ""
    assert driver.create(wanted).provider_id != dying


def test_memorystore_needs_its_network_named(provider: GcpProvider, fake: GcpFake) -> None:
    driver = provider.resource_driver("infra.cache")
    posts = len(fake.calls("POST", rf"^{REDIS}$"))
    with pytest.raises(ProviderError) as refused:
        driver.create(spec("infra.cache", "sessions"))
    assert refused.value.code == "InvalidConfig"
    assert "config.network is required" in str(refused.value)
    assert "${net.outputs.network}" in str(refused.value)
    assert len(fake.calls("POST", rf"^{REDIS}$")) == posts
    net = provider.resource_driver("infra.vpc").create(spec("infra.vpc"))
    made = driver.create(spec("infra.cache", "sessions", network=net.outputs["network"]))
    assert made.outputs["network"] == net.outputs["network"]
    sent = fake.calls("POST", rf"^{REDIS}$")[-1].body["authorizedNetwork"]
    assert sent == f"projects/{PROJECT}/global/networks/{net.outputs['network']}"


def test_load_balancer_parts_of_long_names_fit_63_characters(fake: GcpFake) -> None:
    stack = f"a-stack-with-a-rather-long-name-{uuid.uuid4().hex[:6]}"
    long_provider = make_provider(fake, stack)
    try:
        name = "the-frontend-load-balancer-of-the-shop"
        net = long_provider.resource_driver("infra.vpc").create(spec("infra.vpc"))
        vm = long_provider.resource_driver("infra.instance").create(
            spec("infra.instance", network=net.outputs["network"],
                 subnetwork=net.outputs["subnetwork"])
        )  # fmt: skip
        driver = long_provider.resource_driver("infra.load_balancer")
        wanted = spec("infra.load_balancer", name, instances=[vm.outputs["self_link"]])
        made = driver.create(wanted)
        again = driver.create(wanted)  # deterministic: the retry adopts every part
    finally:
        long_provider.close()
    assert again.provider_id == made.provider_id
    parts = [made.outputs[k] for k in ("health_check", "backend_service", "url_map",
                                       "target_proxy", "forwarding_rule", "instance_group")]
    parts = [str(p).rsplit("/", 1)[-1] for p in parts]
    assert all(len(p) <= 63 for p in parts), parts
    assert len(set(parts)) == len(parts)
    assert made.provider_id.startswith(stack)
