"""infra.cdn on DigitalOcean: a CDN endpoint in front of a Spaces bucket, on the fake.

The fake refuses what DigitalOcean refuses (tests/fakes/digitalocean_cdn.py): origins that
are not Spaces, a second endpoint for one origin, TTLs outside the five values, a custom
domain without an existing certificate, an origin changed in place.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from interfaces import ResourceRef, ResourceSpec
from interfaces.errors import NotFoundError, ProviderError
from providers.creation_journal import creation_journal
from providers.digitalocean import DigitalOceanProvider
from providers.digitalocean.drivers import DRIVERS
from tests.declared_outputs import assert_outputs_declared
from tests.fakes.digitalocean import DigitalOceanFake
from tests.iac_wf_support import iac_worker, start, state_block

TOKEN_ENV = "WFCTL_TEST_DO_CDN_TOKEN"


@pytest.fixture(scope="module")
def fake() -> Iterator[DigitalOceanFake]:
    server = DigitalOceanFake(token="cdn-token", settle_polls=1).start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TOKEN_ENV, "cdn-token")
        yield server
    server.stop()


@pytest.fixture
def provider(fake: DigitalOceanFake) -> Iterator[DigitalOceanProvider]:
    made = DigitalOceanProvider()
    made.initialize({**fake.provider_config(TOKEN_ENV), "stack": f"c-{uuid.uuid4().hex[:8]}"})
    yield made
    made.close()


def cdn(name: str = "edge", **config: object) -> ResourceSpec:
    return ResourceSpec(name=name, type="infra.cdn", config=dict(config))


def test_cdn_endpoint_lifecycle(provider: DigitalOceanProvider, fake: DigitalOceanFake) -> None:
    bucket = f"assets-{uuid.uuid4().hex[:6]}"
    certificate = fake.handle(
        "POST", "/v2/certificates", {"authorization": "Bearer cdn-token"},
        b'{"name": "%s", "type": "custom", "private_key": "k", "leaf_certificate": "TUlJ"}'
        % bucket.encode(),
    )[2]["certificate"]["id"]  # fmt: skip
    driver = provider.resource_driver("infra.cdn")
    spec = cdn(origin=bucket)
    recorded: list[str] = []
    with creation_journal(recorded.append):
        created = driver.create(spec)
    assert recorded == [created.provider_id]
    assert created.outputs["origin"] == f"{bucket}.nyc3.digitaloceanspaces.com"
    assert created.outputs["domain_name"] == f"{bucket}.nyc3.cdn.digitaloceanspaces.com"
    assert created.outputs["ttl"] == 3600
    assert_outputs_declared([created], DRIVERS)
    assert driver.create(spec).provider_id == created.provider_id  # the retry adopts
    assert len(fake.objects["cdn_endpoints"]) == len(
        {e["origin"] for e in fake.objects["cdn_endpoints"].values()}
    )
    ref = ResourceRef(name="edge", type="infra.cdn", provider_id=created.provider_id)
    assert driver.diff(spec, driver.read(ref)).changes == []

    changed = cdn(origin=bucket, ttl=86400, custom_domain="cdn.example.com",
                  certificate_id=certificate)  # fmt: skip
    diff = driver.diff(changed, driver.read(ref))
    assert {c.path for c in diff.changes} == {"ttl", "custom_domain", "certificate_id"}
    assert not diff.needs_replace
    updated = driver.update(ref, changed)
    assert (updated.outputs["ttl"], updated.outputs["domain_name"]) == (86400, "cdn.example.com")
    assert driver.diff(changed, driver.read(ref)).changes == []
    assert driver.diff(cdn(origin="other-bucket"), driver.read(ref)).needs_replace

    state = provider.import_resource(ref.provider_id, "infra.cdn")
    imported = ResourceSpec(name="edge", type="infra.cdn", config=state.applied_config)
    assert driver.diff(imported, driver.read(ref)).changes == []

    driver.delete(ref)
    driver.delete(ref)
    with pytest.raises(NotFoundError):
        driver.read(ref)


def test_the_driver_refuses_what_digitalocean_would(provider: DigitalOceanProvider) -> None:
    driver = provider.resource_driver("infra.cdn")
    with pytest.raises(ProviderError, match="serves Spaces buckets only"):
        driver.create(cdn(origin="www.example.com"))
    with pytest.raises(ProviderError, match="ttl 5 is not one of"):
        driver.create(cdn(origin="b-ttl", ttl=5))
    with pytest.raises(ProviderError, match="custom_domain needs certificate_id"):
        driver.create(cdn(origin="b-dom", custom_domain="cdn.example.com"))


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("POST", "/v2/cdn/endpoints", b"{}", 422, "origin: required"),
        ("POST", "/v2/cdn/endpoints", b'{"origin": "example.com"}', 422, "is not the FQDN"),
        ("POST", "/v2/cdn/endpoints",
         b'{"origin": "taken.nyc3.digitaloceanspaces.com"}', 409, "already exists"),
        ("POST", "/v2/cdn/endpoints",
         b'{"origin": "ttl-b.nyc3.digitaloceanspaces.com", "ttl": 7}', 422, "ttl must be one of"),
        ("POST", "/v2/cdn/endpoints",
         b'{"origin": "dom-b.nyc3.digitaloceanspaces.com", "custom_domain": "a.example.com"}',
         422, "certificate_id is required"),
        ("POST", "/v2/cdn/endpoints",
         b'{"origin": "cert-b.nyc3.digitaloceanspaces.com", "custom_domain": "a.example.com",'
         b' "certificate_id": "nope"}', 422, "certificate nope not found"),
        ("PUT", "/v2/cdn/endpoints/{taken}",
         b'{"origin": "moved.nyc3.digitaloceanspaces.com"}', 422, "origin cannot change"),
    ],
)  # fmt: skip
def test_the_fake_refuses_what_digitalocean_refuses(
    fake: DigitalOceanFake, method: str, path: str, body: bytes, status: int, says: str
) -> None:
    headers = {"authorization": "Bearer cdn-token"}
    taken = next(
        (e["id"] for e in fake.objects["cdn_endpoints"].values()
         if e["origin"].startswith("taken.")), None,
    )  # fmt: skip
    if taken is None:
        taken = fake.handle(
            "POST", "/v2/cdn/endpoints", headers, b'{"origin": "taken.nyc3.digitaloceanspaces.com"}'
        )[2]["endpoint"]["id"]
    answer_status, _, answer = fake.handle(method, path.format(taken=taken), headers, body)
    assert answer_status == status and answer is not None
    assert says in answer["message"]


async def test_a_failed_create_leaves_the_endpoint_on_record_and_destroy_removes_it(
    client: Client, fake: DigitalOceanFake, tmp_path: Path
) -> None:
    bucket = f"half-{uuid.uuid4().hex[:6]}"
    doc = {
        "stack": f"cdn-{uuid.uuid4().hex[:6]}",
        "state": state_block("sqlite", tmp_path),
        "providers": {"do": fake.provider_config(TOKEN_ENV)},
        "resources": [{"name": "edge", "type": "infra.cdn", "config": {"origin": bucket}}],
    }
    # The endpoint is made, then reading it back is refused for good: the create fails.
    fake.inject("GET", r"/v2/cdn/endpoints/[\w-]+", 403)
    async with iac_worker(client) as queue:
        applied = await (
            await start(client, "ApplyWorkflow", queue, {**doc, "auto_approve": True})
        ).result()
        assert applied.status == "failed"
        made = [e for e in fake.objects["cdn_endpoints"].values() if e["origin"].startswith(bucket)]
        assert len(made) == 1
        destroyed = await (
            await start(client, "DestroyWorkflow", queue, {**doc, "auto_approve": True})
        ).result()
    assert destroyed.status == "applied", destroyed.errors
    assert destroyed.destroyed == ["edge"]
    assert made[0]["id"] not in fake.objects["cdn_endpoints"]
