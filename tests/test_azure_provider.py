"""The azure provider's drivers against the local ARM fake, over real http on loopback:
the ARM wire shape of request bodies, long-running operations (Azure-AsyncOperation and
Location), adoption, error classification, https enforcement, import and sizing."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.identity import DefaultAzureCredential

from interfaces import ResourceRef, ResourceSpec, ResourceStatus, Size
from interfaces.errors import ConfigError, NotFoundError, ProviderError, UnsupportedOperationError
from providers.azure import AzureProvider
from providers.azure.credentials import make_credential
from providers.azure.tags import NAME_TAG, STACK_TAG
from providers.registry import create_provider
from tests.fakes.azure import FAKE_TOKEN, SUBSCRIPTION, ArmFake, provider_config, serving

MakeProvider = Callable[..., AzureProvider]


@pytest.fixture(scope="module")
def arm() -> Iterator[ArmFake]:
    yield from serving(polls=2)


@pytest.fixture
def azure(arm: ArmFake) -> Iterator[MakeProvider]:
    made: list[AzureProvider] = []

    def make(**extra: Any) -> AzureProvider:
        provider = AzureProvider()
        stack = extra.pop("stack", f"az-{uuid.uuid4().hex[:8]}")
        provider.initialize({**provider_config(arm, **extra), "stack": stack})
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def spec(name: str, type: str, **config: Any) -> ResourceSpec:
    return ResourceSpec(name=name, type=type, config=config)


def put_body(arm: ArmFake, resource_id: str) -> dict[str, Any]:
    puts = [r for r in arm.requests("PUT") if r.path.lower() == resource_id.lower()]
    assert puts, f"no PUT of {resource_id}"
    return puts[-1].body


# -- the wire ------------------------------------------------------------------------------


def test_put_bodies_carry_the_arm_wire_shape(azure: MakeProvider, arm: ArmFake) -> None:
    provider = azure()
    stack = provider.context.stack
    tags = {STACK_TAG: stack}

    net = provider.resource_driver("infra.vpc").create(
        spec("net", "infra.vpc", cidr="10.1.0.0/16", subnets=["10.1.1.0/24"])
    )
    assert put_body(arm, net.provider_id) == {
        "location": "westeurope",
        "tags": {**tags, NAME_TAG: "net"},
        "properties": {
            "addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
            "subnets": [
                {"name": "subnet-10-1-1-0-24", "properties": {"addressPrefix": "10.1.1.0/24"}}
            ],
        },
    }

    fw = provider.resource_driver("infra.firewall").create(
        spec("fw", "infra.firewall", ingress=[{"port": 443, "cidr": "10.0.0.0/8"}])
    )
    assert put_body(arm, fw.provider_id)["properties"]["securityRules"] == [
        {"name": "in-0", "properties": {
            "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
            "sourceAddressPrefix": "10.0.0.0/8", "sourcePortRange": "*",
            "destinationAddressPrefix": "*", "destinationPortRange": "443"}},
    ]  # fmt: skip

    cache = provider.resource_driver("infra.cache").create(
        spec("cache", "infra.cache", instance_type="C1")
    )
    cache_body = put_body(arm, cache.provider_id)
    assert "sku" not in cache_body  # Redis wants its sku inside properties
    assert cache_body["properties"]["sku"] == {"name": "Standard", "family": "C", "capacity": 1}
    assert cache_body["properties"]["enableNonSslPort"] is False

    files = provider.resource_driver("infra.storage").create(
        spec("files", "infra.storage", access_tier="Cool")
    )
    storage_body = put_body(arm, files.provider_id)
    assert (storage_body["kind"], storage_body["sku"]) == ("StorageV2", {"name": "Standard_LRS"})
    assert storage_body["properties"]["accessTier"] == "Cool"
    assert storage_body["properties"]["supportsHttpsTrafficOnly"] is True

    db = provider.resource_driver("infra.database").create(
        spec("db", "infra.database", admin_login="dba", admin_object_id="0000-a",
             instance_type="GP_Gen5_2", storage_gb=100)  # fmt: skip
    )
    server_body = put_body(arm, db.provider_id)
    assert server_body["properties"]["administrators"]["azureADOnlyAuthentication"] is True
    assert "administratorLoginPassword" not in str(server_body)
    database_body = put_body(arm, db.outputs["database_id"])
    assert database_body["sku"] == {
        "name": "GP_Gen5", "tier": "GeneralPurpose", "family": "Gen5", "capacity": 2
    }  # fmt: skip
    assert database_body["properties"] == {"maxSizeBytes": 100 * 1024**3}

    web = provider.resource_driver("infra.container_service").create(
        spec("web", "infra.container_service", image="nginx:1", cpu="0.5", memory="1536Mi")
    )
    container = put_body(arm, web.provider_id)["properties"]["containers"][0]["properties"]
    assert container["resources"] == {"requests": {"cpu": 0.5, "memoryInGB": 1.5}}
    assert web.outputs["ip_address"]

    for resource_id, version in ((net.provider_id, "2023-09-01"),
                                 (files.provider_id, "2023-01-01"),
                                 (db.provider_id, "2021-11-01")):  # fmt: skip
        puts = [r for r in arm.requests("PUT") if r.path == resource_id]
        assert {r.query["api-version"] for r in puts} == {version}
        assert {r.headers["authorization"] for r in puts} == {f"Bearer {FAKE_TOKEN}"}


def test_long_running_operations_are_polled_until_they_finish(
    azure: MakeProvider, arm: ArmFake
) -> None:
    provider = azure()
    vpc = provider.resource_driver("infra.vpc")
    before = len(arm.requests("GET", "/asyncoperations/"))
    net = vpc.create(spec("net", "infra.vpc", cidr="10.2.0.0/16"))
    assert len(arm.requests("GET", "/asyncoperations/")) - before == arm.polls
    assert net.status == ResourceStatus.READY

    # Storage accounts answer 202 + Location, as the real ARM does.
    before = len(arm.requests("GET", "/operationresults/"))
    provider.resource_driver("infra.storage").create(spec("files", "infra.storage"))
    assert len(arm.requests("GET", "/operationresults/")) - before == arm.polls

    # A resource whose operation has not finished is not healthy yet.
    pending_id = vpc.resource_id("pending")
    provider.context.arm.resources.begin_create_or_update_by_id(
        pending_id.lstrip("/"), vpc.body(spec("pending", "infra.vpc", cidr="10.3.0.0/16")),
        api_version=vpc.API_VERSION, polling=False,
    )  # fmt: skip
    ref = ResourceRef(name="pending", type="infra.vpc", provider_id=pending_id)
    health = vpc.health_check(ref)
    assert not health.healthy and vpc.read(ref).status == ResourceStatus.CREATING

    vpc.delete(ResourceRef(name="net", type="infra.vpc", provider_id=net.provider_id))
    assert arm.get(net.provider_id) is None
    vpc.delete(ResourceRef(name="net", type="infra.vpc", provider_id=net.provider_id))
    with pytest.raises(NotFoundError):
        vpc.read(ResourceRef(name="net", type="infra.vpc", provider_id=net.provider_id))


def test_a_retried_create_adopts_and_a_foreign_resource_is_refused(
    azure: MakeProvider, arm: ArmFake
) -> None:
    provider = azure()
    driver = provider.resource_driver("infra.iam_role")
    first = driver.create(spec("app-id", "infra.iam_role"))
    again = driver.create(spec("app-id", "infra.iam_role"))
    assert again.provider_id == first.provider_id
    assert again.outputs["principal_id"] == first.outputs["principal_id"]
    mine = [r for r in arm.of_type("Microsoft.ManagedIdentity/userAssignedIdentities")
            if r["id"] == first.provider_id]  # fmt: skip
    assert len(mine) == 1

    other = azure(resource_group=provider.context.resource_group)  # another stack, same group
    with pytest.raises(ProviderError) as caught:
        other.resource_driver("infra.iam_role").create(spec("app-id", "infra.iam_role"))
    assert caught.value.code == "Conflict" and not caught.value.retryable
    assert arm.get(first.provider_id)["tags"][STACK_TAG] == provider.context.stack


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (409, "Conflict", False),
        (403, "AuthorizationFailed", False),
        (400, "InvalidTemplate", False),
        (409, "QuotaExceeded", False),
        (429, "TooManyRequests", True),
        (503, "ServiceUnavailable", True),
        (409, "RetryableError", True),
    ],
)
def test_arm_errors_are_classified(
    azure: MakeProvider, arm: ArmFake, status: int, code: str, retryable: bool
) -> None:
    provider = azure()
    group = provider.context.resource_group
    arm.fail(status, code, method="PUT", contains=f"{group}/providers/", retry_after=7)
    with pytest.raises(ProviderError) as caught:
        provider.resource_driver("infra.registry").create(spec("images", "infra.registry"))
    error = caught.value
    assert (error.code, error.retryable) == (code, retryable)
    assert code in str(error) and "infra.registry" in str(error)
    assert error.retry_after == (7.0 if retryable else None)


def test_a_failed_long_running_operation_is_final_with_its_code(
    azure: MakeProvider, arm: ArmFake
) -> None:
    provider = azure()
    arm.fail_next_operation("QuotaExceeded", "regional vCPU quota reached")
    with pytest.raises(ProviderError) as caught:
        provider.resource_driver("infra.cache").create(spec("c", "infra.cache"))
    assert caught.value.code == "QuotaExceeded" and not caught.value.retryable
    assert "quota reached" in str(caught.value)


# -- credentials and endpoints -------------------------------------------------------------


def test_plain_http_is_refused_without_the_test_only_setting(
    azure: MakeProvider, arm: ArmFake
) -> None:
    provider = azure(allow_http_loopback=False)
    before = len(arm.recorded)
    with pytest.raises(ProviderError) as caught:
        provider.resource_driver("infra.iam_role").create(spec("x", "infra.iam_role"))
    assert caught.value.code == "HttpsRequired" and not caught.value.retryable
    assert len(arm.recorded) == before  # the token never left the process

    with pytest.raises(ConfigError, match="loopback"):
        azure(endpoint="http://arm.example.com")


def test_credentials_come_from_azure_identity_never_from_config() -> None:
    assert isinstance(make_credential(None), DefaultAzureCredential)
    with pytest.raises(ConfigError, match="unknown credential"):
        make_credential("mine")
    provider = AzureProvider()
    with pytest.raises(ConfigError, match="credentials never go in provider config"):
        provider.initialize({"stack": "s", "subscription_id": SUBSCRIPTION,
                             "location": "westeurope", "client_secret": "x"})  # fmt: skip
    with pytest.raises(ConfigError, match="subscription_id"):
        provider.initialize({"stack": "s", "location": "westeurope"})


# -- import, sizing, the rest --------------------------------------------------------------


def test_import_reads_a_config_that_diffs_clean(azure: MakeProvider) -> None:
    provider = azure()
    made = provider.resource_driver("infra.registry").create(
        spec("images", "infra.registry", sku="Premium", tags={"team": "a"})
    )
    state = provider.import_resource(made.provider_id, "infra.registry")
    assert state.provider_id == made.provider_id
    assert state.applied_config["sku"] == "Premium"
    driver = provider.resource_driver("infra.registry")
    live = driver.read(ResourceRef(name="images", type="infra.registry",
                                   provider_id=made.provider_id))  # fmt: skip
    assert driver.diff(spec("images", "infra.registry", **state.applied_config), live).changes == []


@pytest.mark.parametrize(
    ("size", "vm", "sql", "redis"),
    [
        ("xs", "Standard_B1s", "GP_S_Gen5_1", "C0"),
        ("s", "Standard_B2s", "GP_S_Gen5_2", "C1"),
        ("m", "Standard_D2s_v5", "GP_Gen5_2", "C2"),
        ("l", "Standard_D4s_v5", "GP_Gen5_4", "C3"),
        ("xl", "Standard_D8s_v5", "GP_Gen5_8", "C4"),
    ],
)
def test_sizing_table(size: str, vm: str, sql: str, redis: str) -> None:
    provider = AzureProvider()
    tier = Size(size)
    assert provider.resolve_sizing("infra.container_service", tier, None).instance_type == vm
    assert provider.resolve_sizing("infra.database", tier, None).instance_type == sql
    assert provider.resolve_sizing("infra.cache", tier, None).instance_type == redis


def test_capabilities_registry_and_unsupported_operations(azure: MakeProvider) -> None:
    assert isinstance(create_provider("azure"), AzureProvider)
    provider = azure()
    assert [c.resource_type for c in provider.capabilities()] == sorted(
        ["infra.vpc", "infra.firewall", "infra.database", "infra.cache",
         "infra.container_service", "infra.load_balancer", "infra.dns", "infra.registry",
         "infra.storage", "infra.iam_role", "infra.secret"]
    )  # fmt: skip
    with pytest.raises(UnsupportedOperationError):
        provider.resource_driver("infra.certificate")
    with pytest.raises(UnsupportedOperationError):
        provider.resource_driver("infra.vpc").scale(
            ResourceRef(name="n", type="infra.vpc", provider_id="x"), 2
        )
    with pytest.raises(ProviderError, match="admin_login"):
        provider.resource_driver("infra.database").create(spec("db", "infra.database"))


def test_a_create_while_the_group_is_being_deleted_is_retryable(
    azure: MakeProvider, arm: ArmFake
) -> None:
    provider = azure()
    driver = provider.resource_driver("infra.iam_role")
    driver.create(spec("first", "infra.iam_role"))
    group = f"/subscriptions/{SUBSCRIPTION}/resourcegroups/{provider.context.resource_group}"
    arm.deleting_groups.add(group)
    try:
        with pytest.raises(ProviderError) as caught:
            driver.create(spec("second", "infra.iam_role"))
    finally:
        arm.deleting_groups.discard(group)
    assert caught.value.code == "ResourceGroupBeingDeleted" and caught.value.retryable


def test_dns_record_sets_follow_the_config_and_the_zone_keeps_its_own(
    azure: MakeProvider, arm: ArmFake
) -> None:
    provider = azure()
    driver = provider.resource_driver("infra.dns")
    records = [
        {"name": "www", "type": "A", "values": ["20.0.0.1", "20.0.0.2"]},
        {"name": "txt", "type": "TXT", "ttl": 60, "values": ["v=spf1 -all"]},
    ]
    zone = driver.create(spec("zone", "infra.dns", domain="Shop.Example.com.", records=records))
    assert zone.outputs["domain"] == "shop.example.com"
    assert zone.outputs["records"] == [
        {"name": "txt", "type": "TXT", "ttl": 60, "values": ["v=spf1 -all"]},
        {"name": "www", "type": "A", "ttl": 300, "values": ["20.0.0.1", "20.0.0.2"]},
    ]
    assert put_body(arm, f"{zone.provider_id}/A/www") == {
        "properties": {"TTL": 300, "ARecords": [{"ipv4Address": "20.0.0.1"},
                                                {"ipv4Address": "20.0.0.2"}]}
    }  # fmt: skip
    ref = ResourceRef(name="zone", type="infra.dns", provider_id=zone.provider_id)
    updated = driver.update(ref, spec("zone", "infra.dns", domain="shop.example.com",
                                      records=records[:1]))  # fmt: skip
    assert [r["name"] for r in updated.outputs["records"]] == ["www"]
    assert arm.get(f"{zone.provider_id}/TXT/txt") is None
    assert arm.get(f"{zone.provider_id}/NS/@") is not None  # the zone's own record sets stay
