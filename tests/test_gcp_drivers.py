"""The GCP provider's drivers on the real SDKs against the local fake: wire shapes, adopt and
refuse, error classification (HTTP and operation errors), sizing, import, and the example
stack applied and destroyed through the workflows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client

from engine.iac.stack import load_stack_file, validate_stack
from interfaces import ResourceRef, ResourceSpec, Size
from interfaces.errors import ConfigError, NotFoundError, ProviderError
from providers.gcp import GcpProvider
from providers.gcp.labels import description
from providers.registry import create_provider
from tests.fakes.gcp import GcpFake
from tests.iac_wf_support import iac_worker, start

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "drv-project"


@pytest.fixture(scope="module")
def fake() -> Iterator[GcpFake]:
    with GcpFake(pending_polls=2) as server:
        yield server


def settings(fake: GcpFake) -> dict[str, Any]:
    # max_attempts 1: no per-call retries, so each injected error reaches the test.
    return {"project": PROJECT, "region": "us-central1", "endpoint": fake.url,
            "anonymous_credentials": True, "poll_interval": 0.01, "wait_timeout": 10,
            "max_attempts": 1}  # fmt: skip


@pytest.fixture
def provider(fake: GcpFake) -> Iterator[GcpProvider]:
    made = GcpProvider()
    made.initialize({**settings(fake), "stack": f"s{uuid.uuid4().hex[:6]}"})
    yield made
    made.close()


def spec(type_: str, name: str = "", **config: Any) -> ResourceSpec:
    return ResourceSpec(name=name or f"r{uuid.uuid4().hex[:6]}", type=type_, config=config)


def network(provider: GcpProvider) -> str:
    """A network made for the test, named as `${net.outputs.network}` names it."""
    made = provider.resource_driver("infra.vpc").create(spec("infra.vpc"))
    return str(made.outputs["network"])


def test_the_registry_offers_eight_types_with_the_issue_sizing() -> None:
    gcp = create_provider("gcp")
    assert isinstance(gcp, GcpProvider)
    assert [c.resource_type for c in gcp.capabilities()] == sorted(
        ["infra.vpc", "infra.firewall", "infra.instance", "infra.load_balancer",
         "infra.certificate", "infra.database", "infra.cache", "infra.secret"]
    )  # fmt: skip
    machines = [gcp.resolve_sizing("infra.instance", s, None).instance_type for s in Size]
    assert machines == ["e2-micro", "e2-small", "n2-standard-2", "n2-standard-4", "n2-standard-8"]
    databases = [gcp.resolve_sizing("infra.database", s, None) for s in Size]
    assert [(d.instance_type, d.specs["storage_gb"]) for d in databases] == [
        ("db-f1-micro", 10), ("db-g1-small", 50), ("db-custom-2-8192", 100),
        ("db-custom-4-15360", 500), ("db-custom-8-30720", 1000),
    ]  # fmt: skip
    caches = [gcp.resolve_sizing("infra.cache", s, None).specs for s in Size]
    assert [(c["tier"], c["memory_size_gb"]) for c in caches] == [
        ("BASIC", 1), ("BASIC", 5), ("STANDARD_HA", 10), ("STANDARD_HA", 30),
        ("STANDARD_HA", 100),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "config",
    [{"region": "us-central1"}, {"project": "p", "region": "r", "private_key": "x"}],
)
def test_config_without_a_project_or_with_a_secret_is_refused(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        GcpProvider().initialize({**config, "stack": "s", "anonymous_credentials": True})


def test_a_retried_create_adopts_and_operations_are_polled_on_the_configured_endpoint(
    provider: GcpProvider, fake: GcpFake
) -> None:
    driver = provider.resource_driver("infra.firewall")
    wanted = spec("infra.firewall", network="default", allow=[{"protocol": "tcp", "ports": [22]}])
    first = driver.create(wanted)
    again = driver.create(wanted)
    assert again.provider_id == first.provider_id
    posts = [r for r in fake.calls("POST", r"/global/firewalls$")
             if r.body["name"] == first.provider_id]  # fmt: skip
    assert len(posts) == 1
    assert posts[0].body["allowed"] == [{"IPProtocol": "tcp", "ports": ["22"]}]
    assert posts[0].body["description"] == description(provider.context.stack, wanted.name)
    uuid.UUID(posts[0].query["requestId"])  # compute wants a UUID
    assert fake.calls("GET", rf"/projects/{PROJECT}/global/operations/operation-")


def test_a_resource_of_the_same_name_that_is_not_ours_is_refused(
    provider: GcpProvider, fake: GcpFake
) -> None:
    driver = provider.resource_driver("infra.certificate")
    wanted = spec("infra.certificate", domains=["x.example.com"])
    name = f"{provider.context.stack}-{wanted.name}"
    fake.resources[f"global/sslCertificates/{name}"] = {"name": name, "description": "theirs"}
    with pytest.raises(ProviderError) as raised:
        driver.create(wanted)
    assert raised.value.code == "AlreadyExists" and not raised.value.retryable


def test_throttling_is_retryable_with_retry_after_and_quota_is_final(
    provider: GcpProvider, fake: GcpFake
) -> None:
    driver = provider.resource_driver("infra.vpc")
    made = driver.create(spec("infra.vpc"))
    ref = ResourceRef(name="net", type="infra.vpc", provider_id=made.provider_id)
    fake.fail_next("GET", rf"/networks/{made.provider_id}$", 429, "rateLimitExceeded",
                   retry_after=7)  # fmt: skip
    with pytest.raises(ProviderError) as throttled:
        driver.read(ref)
    assert throttled.value.retryable and throttled.value.retry_after == 7
    # (503s the SDK retries itself, idempotently thanks to requestId; 500s come back to us.)
    fake.fail_next("GET", rf"/networks/{made.provider_id}$", 500, "backendError")
    with pytest.raises(ProviderError) as unavailable:
        driver.read(ref)
    assert unavailable.value.retryable
    fake.fail_next("POST", r"/global/networks$", 403, "quotaExceeded", "Quota NETWORKS exceeded")
    with pytest.raises(ProviderError) as quota:
        driver.create(spec("infra.vpc"))
    assert not quota.value.retryable and quota.value.code == "quotaExceeded"


def test_operation_errors_become_the_right_error_class(
    provider: GcpProvider, fake: GcpFake
) -> None:
    vpc = provider.resource_driver("infra.vpc")
    fake.fail_operation(r"global/networks/", "QUOTA_EXCEEDED", "Quota 'NETWORKS' exceeded.")
    with pytest.raises(ProviderError) as quota:
        vpc.create(spec("infra.vpc"))
    assert not quota.value.retryable and "QUOTA_EXCEEDED" in str(quota.value)
    fake.fail_operation(r"global/networks/", "INTERNAL_ERROR", "try again", http_status=503)
    with pytest.raises(ProviderError) as internal:
        vpc.create(spec("infra.vpc"))
    assert internal.value.retryable

    sql = provider.resource_driver("infra.database")
    fake.fail_operation(r"^sql/", "QUOTA_EXCEEDED", "too many Cloud SQL instances")
    with pytest.raises(ProviderError) as sql_quota:
        sql.create(spec("infra.database"))
    assert not sql_quota.value.retryable and "QUOTA_EXCEEDED" in str(sql_quota.value)

    cache = provider.resource_driver("infra.cache")
    net = network(provider)
    fake.fail_operation(r"^redis/", "14", "backend unavailable")
    with pytest.raises(ProviderError) as unavailable:
        cache.create(spec("infra.cache", network=net))
    assert unavailable.value.retryable and unavailable.value.code == "UNAVAILABLE"
    fake.fail_operation(r"^redis/", "8", "Quota exceeded for redis memory")
    with pytest.raises(ProviderError) as exhausted:
        cache.create(spec("infra.cache", network=net))
    assert not exhausted.value.retryable and exhausted.value.code == "RESOURCE_EXHAUSTED"


def test_wire_shapes_of_cloud_sql_and_memorystore(provider: GcpProvider, fake: GcpFake) -> None:
    stack = provider.context.stack
    db = provider.resource_driver("infra.database").create(
        spec("infra.database", "orders", instance_type="db-g1-small", storage_gb=50,
             authorized_networks=["203.0.113.0/24"])
    )  # fmt: skip
    inserted = fake.calls("POST", rf"^/v1/projects/{PROJECT}/instances$")[-1].body
    assert inserted["databaseVersion"] == "POSTGRES_16"
    assert inserted["settings"]["tier"] == "db-g1-small"
    # Sent, not left to Cloud SQL: PostgreSQL 16 would default to ENTERPRISE_PLUS, which
    # refuses the shared-core tiers.
    assert inserted["settings"]["edition"] == "ENTERPRISE"
    assert inserted["settings"]["userLabels"] == {"wfctl-stack": stack, "wfctl-name": "orders"}
    assert {"name": "cloudsql.iam_authentication", "value": "on"} in inserted["settings"][
        "databaseFlags"
    ]
    assert db.outputs["connection_name"] == f"{PROJECT}:us-central1:{db.provider_id}"
    assert db.outputs["authorized_networks"] == ["203.0.113.0/24"]

    cache = provider.resource_driver("infra.cache").create(
        spec("infra.cache", "sessions", tier="STANDARD_HA", memory_size_gb=10,
             network=network(provider))
    )  # fmt: skip
    created = fake.calls("POST", r"/locations/us-central1/instances$")[-1]
    assert created.query["instanceId"] == f"{stack}-sessions"
    assert created.body["tier"] in ("STANDARD_HA", 3)  # REST numeric enums
    assert created.body["labels"]["wfctl-name"] == "sessions"
    assert (cache.outputs["tier"], cache.outputs["memory_size_gb"]) == ("STANDARD_HA", 10)
    assert cache.outputs["port"] == 6379 and cache.outputs["host"]


def test_import_reads_a_network_by_its_self_link_and_deletes_are_idempotent(
    provider: GcpProvider,
) -> None:
    driver = provider.resource_driver("infra.vpc")
    wanted = spec("infra.vpc", subnets=["10.9.0.0/24"], routing_mode="GLOBAL")
    made = driver.create(wanted)
    imported = provider.import_resource(made.outputs["self_link"], "infra.vpc")
    assert imported.provider_id == made.provider_id
    assert imported.applied_config["routing_mode"] == "GLOBAL"
    assert [s["cidr"] for s in imported.applied_config["subnets"]] == ["10.9.0.0/24"]
    ref = ResourceRef(name=wanted.name, type="infra.vpc", provider_id=made.provider_id)
    driver.delete(ref)
    driver.delete(ref)
    with pytest.raises(NotFoundError):
        driver.read(ref)


def test_a_changed_subnet_range_forces_a_new_network_but_an_added_subnet_does_not(
    provider: GcpProvider,
) -> None:
    driver = provider.resource_driver("infra.vpc")
    wanted = spec("infra.vpc", subnets=["10.1.0.0/24"])
    live = driver.create(wanted)
    added = wanted.model_copy(update={"config": {"subnets": ["10.1.0.0/24", "10.2.0.0/24"]}})
    assert not driver.diff(added, live).needs_replace and driver.diff(added, live).needs_update
    moved = wanted.model_copy(update={"config": {"subnets": ["10.7.0.0/24"]}})
    assert driver.diff(moved, live).needs_replace


async def test_the_example_stack_applies_and_destroys_against_the_fake(
    client: Client, fake: GcpFake, tmp_path: Path
) -> None:
    path = ROOT / "examples" / "gcp-stack.yaml"
    doc = load_stack_file(path)
    validate_stack(doc, {"gcp": GcpProvider().capabilities()}, str(path))
    data = yaml.safe_load(path.read_text())
    data["stack"] = f"example-{uuid.uuid4().hex[:6]}"
    data["state"] = {"backend": "sqlite", "path": str(tmp_path / "example.db")}
    data["providers"]["gcp"].update(settings(fake))
    async with iac_worker(client) as queue:
        applied = await (await start(client, "ApplyWorkflow", queue,
                                     {**data, "auto_approve": True})).result()  # fmt: skip
        assert applied.status == "applied", applied.errors
        assert applied.counts == {"create": len(data["resources"])}
        destroyed = await (
            await start(client, "DestroyWorkflow", queue,
                        {**data, "auto_approve": True, "allow_replace": ["orders-db"]})
        ).result()
    assert destroyed.status == "applied", destroyed.errors
    assert not [k for k in fake.resources if data["stack"] in k]
