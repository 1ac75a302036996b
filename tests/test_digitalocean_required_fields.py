"""DigitalOcean's required body fields: the drivers send them, the fake refuses bodies without.

The fake's required fields come from pydo's own body templates (tests/fakes/pydo_schema.py)
and, where pydo's template is empty, from DigitalOcean's API reference (REFERENCE_REQUIRED);
each rule has a case below showing the fake refusing a body that breaks it.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from interfaces import ResourceRef, ResourceSpec
from providers.digitalocean import DigitalOceanProvider
from tests.fakes.digitalocean import DigitalOceanFake

TOKEN_ENV = "WFCTL_TEST_DO_REQUIRED_TOKEN"
MakeProvider = Callable[..., DigitalOceanProvider]


@pytest.fixture(scope="module")
def fake() -> Iterator[DigitalOceanFake]:
    server = DigitalOceanFake(token="required-token", settle_polls=1).start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TOKEN_ENV, "required-token")
        yield server
    server.stop()


@pytest.fixture
def make_provider(fake: DigitalOceanFake) -> Iterator[MakeProvider]:
    made: list[DigitalOceanProvider] = []

    def make() -> DigitalOceanProvider:
        provider = DigitalOceanProvider()
        config = fake.provider_config(TOKEN_ENV)
        provider.initialize({**config, "stack": f"r-{uuid.uuid4().hex[:8]}"})
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def ref_of(output: Any) -> ResourceRef:
    return ResourceRef(name=output.name, type=output.type, provider_id=output.provider_id)


# -- the drivers send what DigitalOcean requires ------------------------------------------


async def test_a_dns_record_patch_sends_its_type(
    fake: DigitalOceanFake, make_provider: MakeProvider
) -> None:
    driver = make_provider().resource_driver("infra.dns")
    domain = f"{uuid.uuid4().hex[:8]}.example.org"
    record = {"type": "A", "name": "www", "data": "192.0.2.10", "ttl": 300}
    spec = ResourceSpec(name="zone", type="infra.dns", config={
        "domain": domain, "records": [record]
    })  # fmt: skip
    created = driver.create(spec)
    try:
        records = [{**record, "ttl": 900}]
        longer = spec.model_copy(update={"config": {**spec.config, "records": records}})
        updated = driver.update(ref_of(created), longer)
        patches = fake.calls("PATCH", rf"/v2/domains/{domain}/records/\d+")
        assert [p.body for p in patches] == [{"type": "A", "ttl": 900}]
        assert [p.status for p in patches] == [200]
        assert [r["ttl"] for r in updated.outputs["records"]] == [900]
        assert not driver.diff(longer, updated).needs_update
    finally:
        driver.delete(ref_of(created))


async def test_icmp_rules_send_ports_zero_and_read_back_without_drift(
    fake: DigitalOceanFake, make_provider: MakeProvider
) -> None:
    driver = make_provider().resource_driver("infra.firewall")
    spec = ResourceSpec(name="fw", type="infra.firewall", config={
        "ingress": [{"protocol": "icmp"}, {"ports": "443"}, {"protocol": "udp"}],
    })  # fmt: skip
    created = driver.create(spec)
    try:
        body = fake.calls("POST", "/v2/firewalls")[-1].body
        sent = {
            side: [(r["protocol"], r["ports"]) for r in body[side]]
            for side in ("inbound_rules", "outbound_rules")
        }
        # No egress declared: all outbound traffic, "0" being DigitalOcean's "all ports".
        assert sent == {
            "inbound_rules": [("icmp", "0"), ("tcp", "443"), ("udp", "0")],
            "outbound_rules": [("tcp", "0"), ("udp", "0"), ("icmp", "0")],
        }
        assert [(r["protocol"], r["ports"]) for r in created.outputs["ingress"]] == [
            ("icmp", ""), ("tcp", "443"), ("udp", "all")
        ]  # fmt: skip
        assert not driver.diff(spec, driver.read(ref_of(created))).needs_update
    finally:
        driver.delete(ref_of(created))


# -- the fake refuses what DigitalOcean refuses -------------------------------------------

ALL_PORTS = {"protocol": "tcp", "ports": "0", "sources": {"addresses": ["0.0.0.0/0"]}}
REFUSALS: list[tuple[str, str, dict[str, Any], str]] = [
    # From pydo's templates.
    ("PATCH", "/v2/domains/example.org/records/7", {"ttl": 60}, "type"),
    ("POST", "/v2/firewalls",
     {"name": "fw", "inbound_rules": [{"protocol": "icmp",
                                       "sources": {"addresses": ["0.0.0.0/0"]}}]},
     "inbound_rules[0].ports"),
    ("PUT", "/v2/firewalls/f1",
     {"name": "fw", "inbound_rules": [ALL_PORTS],
      "outbound_rules": [{"ports": "0", "destinations": {"addresses": ["0.0.0.0/0"]}}]},
     "outbound_rules[0].protocol"),
    ("POST", "/v2/databases",
     {"name": "db", "engine": "pg", "region": "nyc3", "size": "db-s-1vcpu-1gb"}, "num_nodes"),
    ("PUT", "/v2/databases/d1/resize", {"size": "db-s-2vcpu-4gb"}, "num_nodes"),
    ("POST", "/v2/databases/d1/dbs", {}, "name"),
    ("POST", "/v2/databases/d1/users", {"password": "x"}, "name"),
    ("POST", "/v2/registry", {"name": "reg"}, "subscription_tier_slug"),
    ("POST", "/v2/apps", {"spec": {"services": [{"name": "web"}]}}, "spec.name"),
    ("PUT", "/v2/apps/a1",
     {"spec": {"name": "app", "services": [{"name": "web", "envs": [{"value": "1"}]}]}},
     "spec.services[0].envs[0].key"),
    # From DigitalOcean's API reference, where pydo's template is empty.
    ("POST", "/v2/domains/example.org/records", {"name": "www", "data": "192.0.2.1"}, "type"),
    ("POST", "/v2/droplets", {"name": "web", "region": "nyc3", "size": "s-1vcpu-1gb"}, "image"),
    ("POST", "/v2/volumes", {"name": "data", "region": "nyc3"}, "size_gigabytes"),
    ("POST", "/v2/load_balancers", {"name": "lb", "region": "nyc3"}, "forwarding_rules"),
    ("PUT", "/v2/load_balancers/l1", {"name": "lb", "region": "nyc3"}, "forwarding_rules"),
    ("POST", "/v2/certificates", {"type": "lets_encrypt", "dns_names": ["a.example.org"]},
     "name"),
    ("POST", "/v2/droplets/1001/actions", {"size": "s-2vcpu-2gb"}, "type"),
    ("POST", "/v2/volumes/v1/actions", {"droplet_id": 1001}, "type"),
]  # fmt: skip


def send(fake: DigitalOceanFake, method: str, path: str, body: Any) -> tuple[int, Any]:
    port = int(fake.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, body=json.dumps(body), headers={
            "Authorization": f"Bearer {fake.token}", "Content-Type": "application/json",
        })  # fmt: skip
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("method", "path", "body", "missing"), REFUSALS, ids=[f"{m} {p} {f}" for m, p, _, f in REFUSALS]
)
def test_the_fake_refuses_a_write_missing_a_required_field(
    fake: DigitalOceanFake, method: str, path: str, body: dict[str, Any], missing: str
) -> None:
    status, answer = send(fake, method, path, body)
    assert status == 422
    assert answer["id"] == "unprocessable_entity"
    assert answer["message"] == f"{missing}: required by the API and missing"


def test_the_fake_keeps_icmp_ports_as_zero(fake: DigitalOceanFake) -> None:
    icmp = {"protocol": "icmp", "ports": "", "sources": {"addresses": ["0.0.0.0/0"]}}
    status, answer = send(fake, "POST", "/v2/firewalls", {"name": "f", "inbound_rules": [icmp]})
    assert status == 202
    assert answer["firewall"]["inbound_rules"][0]["ports"] == "0"
    fake.remove("firewalls", answer["firewall"]["id"])


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("PUT", "/v2/firewalls/{id}", {"inbound_rules": [ALL_PORTS]}, "name is required"),
        ("POST", "/v2/firewalls",
         {"name": "f", "outbound_rules": [{**ALL_PORTS, "protocol": "gre"}]},
         "invalid protocol 'gre'"),
    ],  # fmt: skip
    ids=["firewall update without a name", "outbound rule of an unknown protocol"],
)
def test_the_fake_refuses_a_firewall_the_service_refuses(
    fake: DigitalOceanFake, method: str, path: str, body: dict[str, Any], message: str
) -> None:
    status, made = send(fake, "POST", "/v2/firewalls", {"name": "ok", "inbound_rules": [ALL_PORTS]})
    assert status == 202
    try:
        status, answer = send(fake, method, path.format(id=made["firewall"]["id"]), body)
        assert (status, answer["message"]) == (422, message)
    finally:
        fake.remove("firewalls", made["firewall"]["id"])
