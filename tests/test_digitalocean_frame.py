"""The DigitalOcean provider's frame and drivers on the local API fake (real pydo over HTTP)."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from interfaces import ResourceHints, ResourceRef, ResourceSpec, Size
from interfaces.errors import (
    ConfigError,
    NotFoundError,
    ProviderError,
    UnsupportedOperationError,
)
from providers.digitalocean import DigitalOceanProvider
from providers.registry import create_provider
from tests.fakes.digitalocean import DigitalOceanFake

TOKEN_ENV = "WFCTL_TEST_DO_FRAME_TOKEN"
MakeProvider = Callable[..., DigitalOceanProvider]


@pytest.fixture(scope="module")
def fake() -> Iterator[DigitalOceanFake]:
    server = DigitalOceanFake(token="frame-token").start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TOKEN_ENV, "frame-token")
        yield server
    server.stop()


@pytest.fixture
def make_provider(fake: DigitalOceanFake) -> Iterator[MakeProvider]:
    made: list[DigitalOceanProvider] = []

    def make(stack: str = "", **extra: Any) -> DigitalOceanProvider:
        provider = DigitalOceanProvider()
        config = {**fake.provider_config(TOKEN_ENV), **extra}
        provider.initialize({**config, "stack": stack or f"f-{uuid.uuid4().hex[:8]}"})
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def ref_of(output: Any) -> ResourceRef:
    return ResourceRef(name=output.name, type=output.type, provider_id=output.provider_id)


def pem(der: bytes) -> str:
    body = base64.b64encode(der).decode()
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


# One spec per resource type, with what each needs to exist on the fake.
def specs_for(domain: str) -> list[ResourceSpec]:
    return [
        ResourceSpec(name="net", type="infra.vpc", config={"ip_range": "10.30.0.0/20"}),
        ResourceSpec(name="fw", type="infra.firewall", config={"ingress": [{"ports": "443"}]}),
        ResourceSpec(name="web", type="infra.droplet", config={"instance_type": "s-1vcpu-2gb"}),
        ResourceSpec(name="data", type="infra.volume", config={"size_gb": 20}),
        ResourceSpec(name="db", type="infra.database", config={"db_names": ["app"]}),
        ResourceSpec(name="cache", type="infra.cache"),
        ResourceSpec(name="lb", type="infra.load_balancer"),
        ResourceSpec(name="zone", type="infra.dns",
                     config={"domain": domain,
                             "records": [{"type": "A", "name": "www", "data": "192.0.2.1"}]}),
        ResourceSpec(name="app", type="infra.container_service",
                     config={"image": "nginxinc/nginx-unprivileged:1.27"}),
        ResourceSpec(name="cert", type="infra.certificate",
                     config={"leaf_certificate": pem(b"leaf"), "private_key_env": TOKEN_ENV}),
    ]  # fmt: skip


async def test_capabilities_and_registry_name_the_twelve_types() -> None:
    provider = create_provider("digitalocean")
    assert isinstance(provider, DigitalOceanProvider)
    types = [c.resource_type for c in provider.capabilities()]
    assert types == sorted(
        ["infra.vpc", "infra.firewall", "infra.droplet", "infra.volume", "infra.database",
         "infra.cache", "infra.load_balancer", "infra.dns", "infra.registry",
         "infra.container_service", "infra.certificate", "infra.cdn"]
    )  # fmt: skip
    with pytest.raises(UnsupportedOperationError):
        provider.resource_driver("infra.iam_role")


async def test_the_token_comes_from_the_environment_never_from_config(
    fake: DigitalOceanFake, make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="never goes in provider config"):
        make_provider(token="frame-token")
    monkeypatch.delenv("DIGITALOCEAN_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"no API token in \$DIGITALOCEAN_TOKEN"):
        make_provider(credentials_env="")
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "frame-token")
    vpc = make_provider(credentials_env="").resource_driver("infra.vpc")
    assert vpc.create(ResourceSpec(name="n", type="infra.vpc")).provider_id
    assert fake.requests[-1].method == "GET"

    monkeypatch.setenv("WFCTL_TEST_DO_WRONG", "not-the-token")
    wrong = make_provider(credentials_env="WFCTL_TEST_DO_WRONG").resource_driver("infra.vpc")
    with pytest.raises(ProviderError) as refused:
        wrong.create(ResourceSpec(name="n", type="infra.vpc"))
    assert (refused.value.code, refused.value.retryable) == ("unauthorized", False)


async def test_plain_http_is_only_for_a_loopback_fake(make_provider: MakeProvider) -> None:
    with pytest.raises(ConfigError, match="not https"):
        make_provider(insecure_http=False)
    with pytest.raises(ConfigError, match="local test fakes only"):
        make_provider(endpoint="http://api.digitalocean.com")


async def test_sizing_follows_the_table_and_hints_override() -> None:
    provider = DigitalOceanProvider()

    def slug(resource_type: str, size: str, **hints: str) -> str:
        return provider.resolve_sizing(
            resource_type, Size(size), ResourceHints(**hints) if hints else None
        ).instance_type

    assert [slug("infra.droplet", s.value) for s in Size] == [
        "s-1vcpu-512mb-10gb", "s-1vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-8gb", "s-8vcpu-16gb"
    ]  # fmt: skip
    for kind in ("infra.database", "infra.cache"):
        assert [slug(kind, s.value) for s in Size] == [
            "db-s-1vcpu-1gb", "db-s-1vcpu-2gb", "db-s-2vcpu-4gb", "db-s-4vcpu-8gb",
            "db-s-8vcpu-16gb",
        ]  # fmt: skip
    assert [slug("infra.container_service", s.value) for s in Size] == [
        "apps-s-1vcpu-0.5gb", "apps-s-1vcpu-1gb", "apps-d-2vcpu-4gb", "apps-d-4vcpu-8gb",
        "apps-d-8vcpu-16gb",
    ]  # fmt: skip
    units = [
        provider.resolve_sizing("infra.load_balancer", s, None).specs["size_unit"] for s in Size
    ]
    assert units == [1, 1, 2, 4, 8]
    assert slug("infra.database", "s", cpu="2", memory="4Gi") == "db-s-2vcpu-4gb"
    assert slug("infra.droplet", "xs", cpu="4", memory="8Gi") == "s-4vcpu-8gb"
    db = provider.resolve_sizing("infra.database", Size.S, ResourceHints(storage="40Gi"))
    assert db.specs == {"storage_gb": 40}
    with pytest.raises(ConfigError):
        provider.resolve_sizing("infra.vpc", Size.S, None)


@pytest.mark.parametrize("index", range(10), ids=[s.type for s in specs_for("x.test")])
async def test_each_driver_creates_adopts_reads_and_deletes_idempotently(
    fake: DigitalOceanFake, make_provider: MakeProvider, index: int
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example.com"
    spec = specs_for(domain)[index]
    driver = make_provider().resource_driver(spec.type)
    posts = len(fake.calls("POST", r"/v2/[a-z_]+"))

    created = driver.create(spec)
    assert created.status.value == "ready", created
    assert created.provider_id and created.provider_id != spec.name
    # A create retried after a lost answer adopts what the first one made.
    assert driver.create(spec).provider_id == created.provider_id
    assert len(fake.calls("POST", r"/v2/[a-z_]+")) == posts + 1
    assert not driver.diff(spec, driver.read(ref_of(created))).needs_update
    assert driver.health_check(ref_of(created)).healthy

    driver.delete(ref_of(created))
    driver.delete(ref_of(created))  # already gone: still fine
    with pytest.raises(NotFoundError):
        driver.read(ref_of(created))


async def test_a_404_body_is_not_found_and_other_errors_are_classified(
    fake: DigitalOceanFake, make_provider: MakeProvider
) -> None:
    provider = make_provider()
    droplets = provider.resource_driver("infra.droplet")
    vpcs = provider.resource_driver("infra.vpc")
    # pydo hands back {"id": "not_found"} on GET /v2/droplets/{id} instead of raising.
    with pytest.raises(NotFoundError):
        droplets.read(ResourceRef(name="gone", type="infra.droplet", provider_id="987654"))
    assert fake.requests[-1].status == 404
    with pytest.raises(NotFoundError):  # the registry's 404 is raised by pydo instead
        provider.resource_driver("infra.registry").read(
            ResourceRef(name="r", type="infra.registry", provider_id="nothing")
        )

    spec = ResourceSpec(name="n", type="infra.vpc")
    for status, code, retryable in [
        (422, "unprocessable_entity", False),
        (403, "forbidden", False),
        (401, "unauthorized", False),
        (409, "conflict", False),
        (500, "server_error", True),
        (503, "error", True),
    ]:
        fake.inject("POST", r"/v2/vpcs", status)
        with pytest.raises(ProviderError) as failed:
            vpcs.create(spec)
        assert (failed.value.code, failed.value.retryable) == (code, retryable), status
        assert not isinstance(failed.value, NotFoundError)

    fake.inject_rate_limit("POST", r"/v2/vpcs", reset_in=3)
    with pytest.raises(ProviderError) as limited:
        vpcs.create(spec)
    assert limited.value.retryable and limited.value.code == "too_many_requests"
    assert limited.value.retry_after is not None and 2 <= limited.value.retry_after <= 4


async def test_a_droplet_resize_powers_off_resizes_and_powers_on_each_action_waited(
    fake: DigitalOceanFake, make_provider: MakeProvider
) -> None:
    driver = make_provider().resource_driver("infra.droplet")
    spec = ResourceSpec(name="web", type="infra.droplet", config={"instance_type": "s-1vcpu-2gb"})
    created = driver.create(spec)
    bigger = spec.model_copy(update={"config": {"instance_type": "s-2vcpu-4gb"}})
    diff = driver.diff(bigger, created)
    assert [(c.path, c.force_new) for c in diff.changes] == [("instance_type", False)]

    start = len(fake.requests)
    updated = driver.update(ref_of(created), bigger)
    assert updated.outputs["instance_type"] == "s-2vcpu-4gb"
    assert updated.outputs["state"] == "active"
    path = f"/v2/droplets/{created.provider_id}/actions"
    log = fake.requests[start:]
    posted = [
        (i, r.body["type"]) for i, r in enumerate(log) if (r.method, r.path) == ("POST", path)
    ]
    assert [kind for _, kind in posted] == ["power_off", "resize", "power_on"]
    assert log[posted[1][0]].body == {"type": "resize", "size": "s-2vcpu-4gb", "disk": False}
    # Each action is polled until completed before the next one is posted.
    for (at, _), (following, _) in zip(posted, posted[1:], strict=False):
        polls = [r for r in log[at:following] if r.path.startswith("/v2/actions/")]
        assert len(polls) >= fake.settle_polls
    driver.delete(ref_of(created))


async def test_force_new_fields_need_a_new_resource(make_provider: MakeProvider) -> None:
    provider = make_provider()
    cases = [
        ("infra.droplet", {"image": "debian-12-x64"}, "image"),
        ("infra.droplet", {"region": "ams3"}, "region"),
        ("infra.vpc", {"ip_range": "10.99.0.0/20"}, "ip_range"),
        ("infra.vpc", {"region": "fra1"}, "region"),
        ("infra.database", {"engine": "mysql"}, "engine"),
        ("infra.database", {"version": "15"}, "version"),
        ("infra.database", {"region": "sfo3"}, "region"),
    ]
    made: dict[str, Any] = {}
    for resource_type, change, field in cases:
        driver = provider.resource_driver(resource_type)
        spec = ResourceSpec(name="x", type=resource_type, config={"version": "16"}
                            if resource_type == "infra.database" else {})  # fmt: skip
        current = made.get(resource_type) or driver.create(spec)
        made[resource_type] = current
        changed = spec.model_copy(update={"config": {**spec.config, **change}})
        diff = driver.diff(changed, current)
        assert diff.needs_replace and [c.path for c in diff.changes] == [field], diff
    for resource_type, current in made.items():
        provider.resource_driver(resource_type).delete(ref_of(current))


async def test_dns_records_converge_and_absent_records_are_removed(
    fake: DigitalOceanFake, make_provider: MakeProvider
) -> None:
    driver = make_provider().resource_driver("infra.dns")
    domain = f"{uuid.uuid4().hex[:8]}.example.org"
    spec = ResourceSpec(name="zone", type="infra.dns", config={
        "domain": domain,
        "records": [{"type": "A", "name": "www", "data": "192.0.2.10", "ttl": 300},
                    {"type": "TXT", "name": "@", "data": "v=spf1 -all"}],
    })  # fmt: skip
    created = driver.create(spec)
    assert created.provider_id == domain
    # Someone adds a stale record by hand; the stack says it must go.
    driver.do.domains.create_record(domain, {"type": "A", "name": "old", "data": "192.0.2.99"})
    absent = [{"type": "A", "name": "old"}]
    stale = spec.model_copy(update={"config": {**spec.config, "absent_records": absent}})
    diff = driver.diff(stale, driver.read(ref_of(created)))
    assert [c.path for c in diff.changes] == ["absent_records"]
    updated = driver.update(ref_of(created), stale)
    names = {(r["type"], r["name"]) for r in updated.outputs["records"]}
    assert names == {("A", "www"), ("TXT", "@")}
    assert not driver.diff(stale, updated).needs_update
    assert updated.outputs["name_servers"] == [
        "ns1.digitalocean.com", "ns2.digitalocean.com", "ns3.digitalocean.com"
    ]  # fmt: skip
    driver.delete(ref_of(created))


async def test_a_volume_attaches_grows_and_detaches_through_actions(
    fake: DigitalOceanFake, make_provider: MakeProvider
) -> None:
    provider = make_provider()
    droplet = provider.resource_driver("infra.droplet").create(
        ResourceSpec(name="host", type="infra.droplet")
    )
    volumes = provider.resource_driver("infra.volume")
    config = {"size_gb": 10, "droplet_id": droplet.outputs["droplet_id"]}
    spec = ResourceSpec(name="data", type="infra.volume", config=config)
    created = volumes.create(spec)
    assert created.outputs["droplet_id"] == droplet.outputs["droplet_id"]
    grown = volumes.update(ref_of(created), spec.model_copy(
        update={"config": {**spec.config, "size_gb": 40}}))  # fmt: skip
    assert grown.outputs["size_gb"] == 40
    with pytest.raises(ProviderError, match="cannot shrink"):
        volumes.update(ref_of(created), spec)
    volumes.delete(ref_of(created))  # detaches first
    actions = fake.calls("POST", rf"/v2/volumes/{created.provider_id}/actions")
    kinds = [r.body["type"] for r in actions]
    assert kinds == ["attach", "resize", "detach"]
    provider.resource_driver("infra.droplet").delete(ref_of(droplet))


async def test_scale_and_import(fake: DigitalOceanFake, make_provider: MakeProvider) -> None:
    provider = make_provider()
    db_driver = provider.resource_driver("infra.database")
    db = db_driver.create(ResourceSpec(name="db", type="infra.database", config={"users": ["app"]}))
    assert db_driver.scale(ref_of(db), 3).outputs["num_nodes"] == 3
    assert set(db.sensitive) == {"password", "uri"}
    lb_driver = provider.resource_driver("infra.load_balancer")
    lb = lb_driver.create(ResourceSpec(name="lb", type="infra.load_balancer"))
    assert lb_driver.scale(ref_of(lb), 4).outputs["size_unit"] == 4
    app_driver = provider.resource_driver("infra.container_service")
    app = app_driver.create(ResourceSpec(name="app", type="infra.container_service",
                                         config={"image": "nginx:1"}))  # fmt: skip
    assert app_driver.scale(ref_of(app), 2).outputs["instance_count"] == 2
    with pytest.raises(UnsupportedOperationError):
        provider.resource_driver("infra.vpc").scale(ref_of(lb), 2)

    imported = provider.import_resource(db.provider_id, "infra.database")
    assert imported.provider_id == db.provider_id
    assert imported.applied_config["users"] == ["app"]
    assert imported.applied_config["engine"] == "pg"
    for driver, output in ((db_driver, db), (lb_driver, lb), (app_driver, app)):
        driver.delete(ref_of(output))


async def test_the_registry_is_one_per_account(
    fake: DigitalOceanFake, make_provider: MakeProvider
) -> None:
    driver = make_provider(stack="frame-reg").resource_driver("infra.registry")
    spec = ResourceSpec(
        name="images", type="infra.registry", config={"subscription_tier": "starter"}
    )
    created = driver.create(spec)
    assert created.provider_id == "frame-reg-images"
    assert created.outputs["endpoint"] == "registry.digitalocean.com/frame-reg-images"
    other = make_provider(stack="frame-other").resource_driver("infra.registry")
    with pytest.raises(ProviderError) as taken:
        other.create(spec)
    assert taken.value.code == "RegistryExists" and not taken.value.retryable
    upgraded = driver.update(ref_of(created), spec.model_copy(
        update={"config": {"subscription_tier": "basic"}}))  # fmt: skip
    assert upgraded.outputs["subscription_tier"] == "basic"
    driver.delete(ref_of(created))
    assert fake.registry is None


async def test_waits_time_out_retryably(
    fake: DigitalOceanFake, make_provider: MakeProvider
) -> None:
    driver = make_provider(wait_timeout=0.2).resource_driver("infra.database")
    fake.settle_polls = 10_000
    try:
        started = time.monotonic()
        with pytest.raises(ProviderError) as waited:
            driver.create(ResourceSpec(name="slow", type="infra.database"))
        assert waited.value.code == "WaitTimeout" and waited.value.retryable
        assert time.monotonic() - started < 5
    finally:
        fake.settle_polls = 2


async def test_a_vpc_delete_waits_for_its_members_to_leave(
    fake: DigitalOceanFake, make_provider: MakeProvider
) -> None:
    provider = make_provider()
    vpcs = provider.resource_driver("infra.vpc")
    net = vpcs.create(ResourceSpec(name="net", type="infra.vpc"))
    droplet = provider.resource_driver("infra.droplet").create(
        ResourceSpec(name="member", type="infra.droplet", config={"vpc_id": net.provider_id})
    )
    # The droplet leaves the VPC a moment after the delete starts, as in DigitalOcean.
    leaving = threading.Timer(0.2, fake.remove, ("droplets", droplet.provider_id))
    leaving.start()
    vpcs.delete(ref_of(net))
    leaving.join()
    answers = [r.status for r in fake.calls("DELETE", rf"/v2/vpcs/{net.provider_id}")]
    assert answers[0] == 403 and answers[-1] == 204
    with pytest.raises(NotFoundError):
        vpcs.read(ref_of(net))
