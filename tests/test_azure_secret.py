"""infra.secret on Azure: a Key Vault of its own with one secret, on the ARM fake.

Every PUT is checked against azure-mgmt-keyvault's models; the fake holds Key Vault's rules
beyond them (tests/fakes/azure_keyvault.py): names, soft-deleted names reserved until purged,
secret values written but never read back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from interfaces import ResourceRef, ResourceSpec
from interfaces.errors import NotFoundError, ProviderError
from providers.azure import AzureProvider
from providers.azure.drivers import DRIVERS
from providers.creation_journal import creation_journal
from tests.declared_outputs import assert_outputs_declared
from tests.fakes.azure import FAKE_TOKEN, SUBSCRIPTION, TENANT, ArmFake, provider_config, serving

MakeProvider = Callable[..., AzureProvider]
API = "api-version=2023-07-01"


@pytest.fixture(scope="module")
def arm() -> Iterator[ArmFake]:
    yield from serving(polls=1)


@pytest.fixture
def azure(arm: ArmFake) -> Iterator[MakeProvider]:
    made: list[AzureProvider] = []

    def make(**extra: Any) -> AzureProvider:
        provider = AzureProvider()
        provider.initialize({**provider_config(arm, **extra), "stack": f"k-{uuid.uuid4().hex[:6]}"})
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def secret(name: str = "api-key", **config: Any) -> ResourceSpec:
    return ResourceSpec(name=name, type="infra.secret", config={"tenant_id": TENANT, **config})


def written_values(arm: ArmFake, vault_id: str) -> list[str]:
    """The values the driver sent, newest last (the fake, like ARM, never returns them)."""
    return [
        r.body["properties"]["value"] for r in arm.requests("PUT", f"{vault_id}/secrets/")
    ]


def test_secret_lifecycle_in_its_own_vault(
    azure: MakeProvider, arm: ArmFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = f"mk{uuid.uuid4().hex}"
    monkeypatch.setenv("PARTNER_KEY", marker)
    provider = azure()
    driver = provider.resource_driver("infra.secret")
    wanted = secret(value_env="PARTNER_KEY", tags={"team": "api"})
    recorded: list[str] = []
    with creation_journal(recorded.append):
        created = driver.create(wanted)
    assert recorded == [created.provider_id]
    assert written_values(arm, created.provider_id) == [marker]
    assert marker not in json.dumps(created.model_dump(mode="json"))
    stored = arm.get(created.outputs["secret_id"])
    assert stored is not None and "value" not in stored["properties"]
    assert created.outputs["vault_uri"] == f"https://{created.outputs['vault_name']}.vault.azure.net/"
    assert created.outputs["secret_uri"].endswith("/secrets/api-key")
    assert_outputs_declared([created], DRIVERS)
    assert created.outputs["value_env"] == "PARTNER_KEY"
    assert created.outputs["tags"] == {"team": "api"}
    ref = ResourceRef(name="api-key", type="infra.secret", provider_id=created.provider_id)
    assert driver.diff(wanted, driver.read(ref)).changes == []

    generated = secret(generate_length=20, tags={"team": "api"})
    diff = driver.diff(generated, driver.read(ref))
    assert {c.path for c in diff.changes} == {"value_env", "generate_length"}
    assert not diff.needs_replace
    driver.update(ref, generated)
    values = written_values(arm, ref.provider_id)
    assert len(values) == 2 and len(values[-1]) == 20
    driver.update(ref, secret(generate_length=20, tags={"team": "web"}, sku="premium"))
    assert len(written_values(arm, ref.provider_id)) == 2  # tags and sku keep the value
    assert driver.read(ref).outputs["sku"] == "premium"
    assert driver.diff(secret(generate_length=20, secret_name="other"),
                       driver.read(ref)).needs_replace  # fmt: skip

    state = provider.import_resource(ref.provider_id, "infra.secret")
    imported = ResourceSpec(name="api-key", type="infra.secret", config=state.applied_config)
    assert driver.diff(imported, driver.read(ref)).changes == []

    driver.delete(ref)
    driver.delete(ref)
    with pytest.raises(NotFoundError):
        driver.read(ref)
    # Purged: the same stack can make the same vault again at once.
    again = driver.create(generated)
    assert again.provider_id == created.provider_id
    driver.delete(ref)


def test_a_generated_value_survives_a_retried_create(azure: MakeProvider, arm: ArmFake) -> None:
    driver = azure().resource_driver("infra.secret")
    created = driver.create(secret("session"))
    driver.create(secret("session"))
    assert len(written_values(arm, created.provider_id)) == 1
    driver.delete(ResourceRef(name="session", type="infra.secret", provider_id=created.provider_id))


def test_the_driver_refuses_what_key_vault_would(
    azure: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_TENANT_ID", raising=False)
    driver = azure().resource_driver("infra.secret")
    with pytest.raises(ProviderError, match="a vault needs tenant_id"):
        driver.create(ResourceSpec(name="k", type="infra.secret"))
    with pytest.raises(ProviderError, match="vault_name 'x_y'"):
        driver.create(secret(vault_name="x_y"))
    with pytest.raises(ProviderError, match="never goes in the stack"):
        driver.create(secret(value="hunter2"))


def test_the_fake_holds_key_vaults_rules(arm: ArmFake) -> None:
    group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/kv-{uuid.uuid4().hex[:6]}"
    headers = {"Authorization": f"Bearer {FAKE_TOKEN}"}
    vaults = f"{group}/providers/Microsoft.KeyVault/vaults"
    name = f"kv{uuid.uuid4().hex[:8]}"
    body = {"location": "westeurope", "properties": {
        "tenantId": TENANT, "sku": {"family": "A", "name": "standard"}}}  # fmt: skip
    with httpx.Client(base_url=arm.url, headers=headers) as http:
        assert http.put(f"{group}?{API}", json={"location": "westeurope"}).status_code in (200, 201)

        def put(path: str, payload: dict[str, Any]) -> httpx.Response:
            return http.put(f"{path}?{API}", json=payload)

        # The model: a vault needs a tenant and a sku.
        missing = put(f"{vaults}/{name}", {"location": "westeurope", "properties": {}})
        assert missing.status_code == 400 and "tenantId: required" in missing.text
        # The service: names, retention, global uniqueness, soft-deleted names reserved.
        assert put(f"{vaults}/9starts-with-digit", body).json()["error"]["code"] == (
            "VaultNameNotValid"
        )
        short = {**body, "properties": {**body["properties"], "softDeleteRetentionInDays": 3}}
        assert put(f"{vaults}/{name}", short).status_code == 400
        assert put(f"{vaults}/{name}", body).status_code in (200, 201)
        other_group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/other"
        other = f"{other_group}/providers/Microsoft.KeyVault/vaults"
        http.put(f"{other_group}?{API}", json={"location": "westeurope"})
        assert put(f"{other}/{name}", body).json()["error"]["code"] == "VaultAlreadyExists"
        bad_secret = put(f"{vaults}/{name}/secrets/no_underscores", {"properties": {"value": "v"}})
        assert bad_secret.status_code == 400
        assert http.delete(f"{vaults}/{name}?{API}").status_code == 200
        reserved = put(f"{vaults}/{name}", body)
        assert reserved.status_code == 409 and "deleted state" in reserved.text
        purge = (f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.KeyVault/locations/"
                 f"westeurope/deletedVaults/{name}/purge?{API}")  # fmt: skip
        assert http.post(purge).status_code == 202
        assert put(f"{vaults}/{name}", body).status_code in (200, 201)
