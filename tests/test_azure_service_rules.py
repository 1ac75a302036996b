"""Azure's rules outside the schemas, twice over: the local ARM fake refuses what the real
services refuse (each rule shown refusing a bad request over http), and the drivers keep to
those rules (valid SQL service objectives per size, container group properties that force a
new group, private image pulls, Redis PATCH and downgrades, SQL administrator endpoints)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from interfaces import ResourceRef, ResourceSpec, Size
from interfaces.errors import ProviderError
from providers.azure import AzureProvider
from tests.fakes.azure import FAKE_TOKEN, SUBSCRIPTION, ArmFake, provider_config, serving

MakeProvider = Callable[..., AzureProvider]
ADMIN = "6f1d3c2a-0000-4000-8000-00000000d0a5"


@pytest.fixture(scope="module")
def arm() -> Iterator[ArmFake]:
    yield from serving(polls=1)


@pytest.fixture
def azure(arm: ArmFake) -> Iterator[MakeProvider]:
    made: list[AzureProvider] = []

    def make(**extra: Any) -> AzureProvider:
        provider = AzureProvider()
        provider.initialize({**provider_config(arm, **extra), "stack": f"r-{uuid.uuid4().hex[:8]}"})
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def spec(name: str, type: str, **config: Any) -> ResourceSpec:
    return ResourceSpec(name=name, type=type, config=config)


def ref_of(output: Any, type: str) -> ResourceRef:
    return ResourceRef(name=output.name, type=type, provider_id=output.provider_id)


# -- the fake refuses what Azure refuses -------------------------------------------------------


class Wire:
    """Raw ARM requests to the fake, as any client would send them."""

    def __init__(self, arm: ArmFake) -> None:
        self.arm = arm
        self.group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rules-{uuid.uuid4().hex[:6]}"
        self.send("PUT", self.group, {"location": "westeurope"})

    def send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(
            method, f"{self.arm.url}{path}", params={"api-version": "2023-01-01"}, json=body,
            headers={"Authorization": f"Bearer {FAKE_TOKEN}"},
        )  # fmt: skip

    def put(self, arm_type: str, name: str, body: Any) -> httpx.Response:
        return self.send("PUT", f"{self.group}/providers/{arm_type}/{name}", body)


def refused(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    return str(error["message"])


GROUP_BODY: dict[str, Any] = {
    "location": "westeurope",
    "properties": {
        "osType": "Linux", "restartPolicy": "Always",
        "containers": [{"name": "main", "properties": {
            "image": "nginx:1", "resources": {"requests": {"cpu": 1.0, "memoryInGB": 1.5}}}}],
    },
}  # fmt: skip


def test_the_fake_refuses_members_the_model_does_not_know_or_requires(arm: ArmFake) -> None:
    wire = Wire(arm)
    typo = {"location": "westeurope",
            "properties": {"adressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}  # fmt: skip
    message = refused(wire.put("Microsoft.Network/virtualNetworks", "n", typo),
                      400, "InvalidRequestContent")  # fmt: skip
    assert "properties.adressSpace: not a member of VirtualNetworkPropertiesFormat" in message
    nested = {"location": "westeurope", "properties": {"containers": [
        {"name": "main", "properties": {"image": "nginx:1"}}], "osType": "Linux"}}  # fmt: skip
    message = refused(wire.put("Microsoft.ContainerInstance/containerGroups", "g", nested),
                      400, "InvalidRequestContent")  # fmt: skip
    assert "properties.containers[0].properties.resources: required" in message
    refused(wire.put("Microsoft.Storage/storageAccounts", "s", {"location": "westeurope"}),
            400, "InvalidRequestContent")  # fmt: skip
    refused(wire.put("Microsoft.Web/sites", "w", {"location": "westeurope"}),
            400, "NoRegisteredModel")  # fmt: skip
    assert wire.put("Microsoft.ContainerInstance/containerGroups", "g", GROUP_BODY).is_success


def test_the_fake_refuses_sql_service_objectives_azure_does_not_sell(arm: ArmFake) -> None:
    wire = Wire(arm)
    server = {"location": "westeurope", "properties": {"version": "12.0"}}
    assert wire.put("Microsoft.Sql/servers", "sql1", server).is_success

    def database(sku: dict[str, Any], **props: Any) -> httpx.Response:
        body = {"location": "westeurope", "sku": sku, "properties": props}
        return wire.put("Microsoft.Sql/servers", "sql1/databases/db", body)

    gp = {"name": "GP_Gen5", "tier": "GeneralPurpose", "family": "Gen5"}
    serverless = {**gp, "name": "GP_S_Gen5"}
    assert "GP_Gen5_1" in refused(database({**gp, "capacity": 1}), 400, "InvalidSku")
    refused(database({**gp, "tier": "BusinessCritical", "capacity": 2}), 400, "InvalidSku")
    refused(database({**serverless, "name": "BC_S_Gen5", "capacity": 2}), 400, "InvalidSku")
    refused(database({**serverless, "capacity": 1}, minCapacity=2.0), 400, "InvalidMinCapacity")
    refused(database({**serverless, "capacity": 1}, autoPauseDelay=5), 400,
            "InvalidAutoPauseDelay")  # fmt: skip
    refused(database({**gp, "capacity": 2}, minCapacity=0.5), 400, "InvalidRequestContent")
    hyperscale = {"name": "HS_S_Gen5", "tier": "Hyperscale", "family": "Gen5", "capacity": 2}
    refused(database(hyperscale, autoPauseDelay=60), 400, "InvalidAutoPauseDelay")
    assert database(hyperscale, minCapacity=0.5).is_success
    assert database({**serverless, "capacity": 1}, minCapacity=0.5, autoPauseDelay=60).is_success
    assert database({**gp, "capacity": 2}).is_success
    assert database({"name": "S0", "tier": "Standard"}).is_success


def test_the_fake_keeps_what_a_container_group_cannot_change_in_place(arm: ArmFake) -> None:
    wire = Wire(arm)
    assert wire.put("Microsoft.ContainerInstance/containerGroups", "g", GROUP_BODY).is_success
    container = GROUP_BODY["properties"]["containers"][0]
    for change in (
        {"osType": "Windows"},
        {"restartPolicy": "Never"},
        {"containers": [{**container, "properties": {**container["properties"], "resources": {
            "requests": {"cpu": 2.0, "memoryInGB": 1.5}}}}]},
        {"subnetIds": [{"id": "/subscriptions/x/virtualNetworks/n/subnets/s"}]},
    ):  # fmt: skip
        body = {**GROUP_BODY, "properties": {**GROUP_BODY["properties"], **change}}
        message = refused(wire.put("Microsoft.ContainerInstance/containerGroups", "g", body),
                          409, "ContainerGroupUpdateNotAllowed")  # fmt: skip
        assert "delete the group" in message
    new_image = {"containers": [{**container, "properties": {**container["properties"],
                                                             "image": "nginx:2"}}]}  # fmt: skip
    body = {**GROUP_BODY, "properties": {**GROUP_BODY["properties"], **new_image}}
    assert wire.put("Microsoft.ContainerInstance/containerGroups", "g", body).is_success


def test_the_fake_pulls_a_private_image_only_with_a_credential(arm: ArmFake) -> None:
    wire = Wire(arm)
    private = {"containers": [{"name": "main", "properties": {
        "image": "shop.azurecr.io/web:1",
        "resources": {"requests": {"cpu": 1.0, "memoryInGB": 1.5}}}}]}  # fmt: skip
    body = {**GROUP_BODY, "properties": {**GROUP_BODY["properties"], **private}}
    refused(wire.put("Microsoft.ContainerInstance/containerGroups", "p", body),
            400, "InaccessibleImage")  # fmt: skip
    by_identity = {**body, "properties": {**body["properties"], "imageRegistryCredentials": [
        {"server": "shop.azurecr.io", "identity": "/subscriptions/x/identities/a"}]}}  # fmt: skip
    refused(wire.put("Microsoft.ContainerInstance/containerGroups", "p", by_identity),
            400, "InvalidImageRegistryCredentialIdentity")  # fmt: skip
    half = {**body, "properties": {**body["properties"], "imageRegistryCredentials": [
        {"server": "shop.azurecr.io", "username": "shop"}]}}  # fmt: skip
    refused(wire.put("Microsoft.ContainerInstance/containerGroups", "p", half),
            400, "InvalidImageRegistryCredential")  # fmt: skip
    by_admin = {**body, "properties": {**body["properties"], "imageRegistryCredentials": [
        {"server": "shop.azurecr.io", "username": "shop", "password": "s3cret"}]}}  # fmt: skip
    made = wire.put("Microsoft.ContainerInstance/containerGroups", "p", by_admin)
    assert made.is_success and "s3cret" not in made.text  # ARM never returns the password


def test_the_fake_refuses_redis_downgrades(arm: ArmFake) -> None:
    wire = Wire(arm)

    def cache(tier: str, size: int) -> dict[str, Any]:
        return {"properties": {"sku": {"name": tier, "family": "C", "capacity": size}}}

    assert wire.put("Microsoft.Cache/redis", "r",
                    {"location": "westeurope", **cache("Standard", 1)}).is_success  # fmt: skip
    cache_id = f"{wire.group}/providers/Microsoft.Cache/redis/r"
    assert "lower pricing tier" in refused(wire.send("PATCH", cache_id, cache("Basic", 1)),
                                           400, "BadRequest")  # fmt: skip
    assert "C0" in refused(wire.send("PATCH", cache_id, cache("Standard", 0)), 400, "BadRequest")
    refused(wire.send("PATCH", cache_id, {"properties": {"sku": {"name": "Standard"},
                                                         "shards": 2}}),
            400, "InvalidRequestContent")  # fmt: skip
    assert wire.send("PATCH", cache_id, cache("Standard", 2)).is_success
    assert wire.put("Microsoft.Cache/redis", "b",
                    {"location": "westeurope", **cache("Basic", 1)}).is_success  # fmt: skip
    basic_id = f"{wire.group}/providers/Microsoft.Cache/redis/b"
    assert "same operation" in refused(wire.send("PATCH", basic_id, cache("Standard", 2)),
                                       400, "BadRequest")  # fmt: skip
    assert wire.send("PATCH", basic_id, cache("Standard", 1)).is_success


def test_the_fake_ignores_sql_administrators_on_a_server_update(arm: ArmFake) -> None:
    wire = Wire(arm)
    admin = {"administratorType": "ActiveDirectory", "login": "a", "sid": ADMIN,
             "azureADOnlyAuthentication": True}  # fmt: skip
    server = {"location": "westeurope", "properties": {"administrators": admin}}
    assert wire.put("Microsoft.Sql/servers", "s1", server).is_success
    other = {**admin, "login": "b", "sid": str(uuid.uuid4())}
    updated = wire.put("Microsoft.Sql/servers", "s1",
                       {"location": "westeurope", "properties": {"administrators": other}})
    assert updated.json()["properties"]["administrators"]["login"] == "a"
    refused(wire.put("Microsoft.Sql/servers", "s1/administrators/Other",
                     {"properties": {"login": "b", "sid": other["sid"]}}),
            400, "InvalidServerAdministratorTypePropertyName")  # fmt: skip
    endpoint = {"properties": {"login": "b", "sid": other["sid"],
                               "administratorType": "ActiveDirectory"}}  # fmt: skip
    assert wire.put("Microsoft.Sql/servers", "s1/administrators/ActiveDirectory",
                    endpoint).is_success  # fmt: skip
    refused(wire.put("Microsoft.Sql/servers", "s1/azureADOnlyAuthentications/Other",
                     {"properties": {"azureADOnlyAuthentication": False}}),
            400, "InvalidResourceRequestBody")  # fmt: skip
    assert wire.put("Microsoft.Sql/servers", "s1/azureADOnlyAuthentications/Default",
                    {"properties": {"azureADOnlyAuthentication": False}}).is_success  # fmt: skip
    found = arm.get(f"{wire.group}/providers/Microsoft.Sql/servers/s1")
    assert found is not None
    assert found["properties"]["administrators"]["login"] == "b"
    assert found["properties"]["administrators"]["azureADOnlyAuthentication"] is False


def test_the_fake_lists_registry_credentials_only_with_the_admin_user_on(arm: ArmFake) -> None:
    wire = Wire(arm)
    for name, admin_user in (("closed", False), ("open", True)):
        body = {"location": "westeurope", "sku": {"name": "Basic"},
                "properties": {"adminUserEnabled": admin_user}}  # fmt: skip
        assert wire.put("Microsoft.ContainerRegistry/registries", name, body).is_success
    base = f"{wire.group}/providers/Microsoft.ContainerRegistry/registries"
    refused(wire.send("POST", f"{base}/closed/listCredentials"), 400, "AdminUserDisabled")
    listed = wire.send("POST", f"{base}/open/listCredentials").json()
    assert listed["username"] == "open" and listed["passwords"][0]["value"]


# -- the drivers keep to the rules ----------------------------------------------------------


@pytest.mark.parametrize("size", [s.value for s in Size])
def test_every_database_size_is_a_service_objective_azure_sells(
    azure: MakeProvider, arm: ArmFake, size: str
) -> None:
    provider = azure()
    sizing = provider.resolve_sizing("infra.database", Size(size), None)
    made = provider.resource_driver("infra.database").create(spec(
        "db", "infra.database", admin_login="dba", admin_object_id=ADMIN,
        instance_type=sizing.instance_type, storage_gb=sizing.specs["storage_gb"],
    ))  # fmt: skip
    assert made.outputs["instance_type"] == sizing.instance_type
    body = arm.requests("PUT", made.outputs["database_id"])[-1].body
    if sizing.instance_type.startswith("GP_S_"):
        assert (body["properties"]["minCapacity"], body["properties"]["autoPauseDelay"]) == (
            0.5, 60
        )  # fmt: skip


def test_a_database_instance_type_azure_does_not_sell_is_a_clear_error(
    azure: MakeProvider,
) -> None:
    driver = azure().resource_driver("infra.database")
    with pytest.raises(ProviderError, match=r"GP_Gen5_1.*serverless: GP_S_Gen5_1"):
        driver.create(spec("db", "infra.database", admin_login="dba", admin_object_id=ADMIN,
                           instance_type="GP_Gen5_1"))  # fmt: skip


def test_a_database_administrator_change_goes_to_its_own_endpoints_and_settles(
    azure: MakeProvider, arm: ArmFake
) -> None:
    driver = azure().resource_driver("infra.database")
    config = {"admin_login": "dba", "admin_object_id": ADMIN, "instance_type": "GP_Gen5_2"}
    made = driver.create(spec("db", "infra.database", **config))
    changed = spec("db", "infra.database", **{**config, "admin_login": "dba2",
                                              "admin_object_id": str(uuid.uuid4())})  # fmt: skip
    updated = driver.update(ref_of(made, "infra.database"), changed)
    assert updated.outputs["admin_login"] == "dba2"
    assert driver.diff(changed, updated).changes == []
    update_put = [r for r in arm.requests("PUT") if r.path == made.provider_id][-1]
    assert "administrators" not in update_put.body["properties"]
    assert arm.requests("PUT", f"{made.provider_id}/administrators/ActiveDirectory")
    only = arm.requests("PUT", f"{made.provider_id}/azureADOnlyAuthentications/Default")
    assert only[-1].body == {"properties": {"azureADOnlyAuthentication": True}}


def test_container_group_sizes_os_restart_policy_and_public_ip_force_a_new_group(
    azure: MakeProvider,
) -> None:
    driver = azure().resource_driver("infra.container_service")
    config = {"image": "nginx:1", "cpu": "0.5", "memory": "1Gi"}
    made = driver.create(spec("web", "infra.container_service", **config))
    for key, value in (("cpu", "1"), ("memory", "2Gi"), ("public", False),
                       ("os_type", "Windows"), ("restart_policy", "OnFailure")):  # fmt: skip
        changes = driver.diff(spec("web", "infra.container_service", **{**config, key: value}),
                              made).changes  # fmt: skip
        assert [(c.path, c.force_new) for c in changes] == [(key, True)], key
    new_image = spec("web", "infra.container_service", **{**config, "image": "nginx:2"})
    image = driver.diff(new_image, made).changes
    assert [(c.path, c.force_new) for c in image] == [("image", False)]
    updated = driver.update(ref_of(made, "infra.container_service"), new_image)
    assert updated.outputs["image"] == "nginx:2"


def test_a_private_image_is_pulled_with_the_identity_or_the_registry_admin_user(
    azure: MakeProvider, arm: ArmFake
) -> None:
    provider = azure()
    registry = provider.resource_driver("infra.registry").create(
        spec("images", "infra.registry", admin_user=True)
    )
    identity = provider.resource_driver("infra.iam_role").create(spec("id", "infra.iam_role"))
    image = f"{registry.outputs['login_server']}/web:1"
    driver = provider.resource_driver("infra.container_service")

    by_identity = driver.create(spec("a", "infra.container_service", image=image,
                                     identity_id=identity.outputs["identity_id"]))  # fmt: skip
    sent = arm.requests("PUT", by_identity.provider_id)[-1].body["properties"]
    assert sent["imageRegistryCredentials"] == [
        {"server": registry.outputs["login_server"], "identity": identity.outputs["identity_id"]}
    ]

    by_admin = driver.create(spec("b", "infra.container_service", image=image,
                                  registry_id=registry.outputs["registry_id"]))  # fmt: skip
    sent = arm.requests("PUT", by_admin.provider_id)[-1].body["properties"]
    password = arm.registry_passwords[registry.provider_id.lower()]
    assert sent["imageRegistryCredentials"] == [{
        "server": registry.outputs["login_server"], "username": registry.outputs["arm_name"],
        "password": password}]  # fmt: skip
    assert password not in str(by_admin.outputs)  # what goes back into history
    assert by_admin.outputs["registry_server"] == registry.outputs["login_server"]

    with pytest.raises(ProviderError, match="private registry"):
        driver.create(spec("c", "infra.container_service", image=image))
    with pytest.raises(ProviderError, match="not in registry_id's"):
        driver.create(spec("d", "infra.container_service", image="other.azurecr.io/web:1",
                           registry_id=registry.outputs["registry_id"]))  # fmt: skip


def test_redis_changes_in_place_by_patch_and_a_downgrade_replaces(
    azure: MakeProvider, arm: ArmFake
) -> None:
    driver = azure().resource_driver("infra.cache")
    made = driver.create(spec("c", "infra.cache", tier="Basic", instance_type="C1"))
    up = spec("c", "infra.cache", tier="Standard", instance_type="C2")
    assert {c.path: c.force_new for c in driver.diff(up, made).changes} == {
        "tier": False, "instance_type": False
    }
    updated = driver.update(ref_of(made, "infra.cache"), up)
    assert (updated.outputs["tier"], updated.outputs["instance_type"]) == ("Standard", "C2")
    assert len(arm.requests("PUT", made.provider_id)) == 1  # the create only
    patches = [r.body["properties"]["sku"] for r in arm.requests("PATCH", made.provider_id)]
    assert patches == [{"name": "Standard", "family": "C", "capacity": 1},
                       {"name": "Standard", "family": "C", "capacity": 2}]  # fmt: skip
    down = driver.diff(spec("c", "infra.cache", tier="Basic", instance_type="C2"), updated)
    assert [(c.path, c.force_new) for c in down.changes] == [("tier", True)]
    to_c0 = driver.diff(spec("c", "infra.cache", tier="Standard", instance_type="C0"), updated)
    assert [(c.path, c.force_new) for c in to_c0.changes] == [("instance_type", True)]
