"""infra.secret on GCP: a Secret Manager secret on the fake, its value never returned.

The fake checks bodies against the secretmanager v1 discovery document and holds the
service's rules (tests/fakes/gcp_secrets.py); the tests read the stored value back through
the API's own `access` call, which the driver never makes.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from interfaces import ResourceRef, ResourceSpec
from interfaces.errors import NotFoundError, ProviderError
from providers.creation_journal import creation_journal
from providers.gcp import GcpProvider
from providers.gcp.drivers import DRIVERS
from tests.declared_outputs import assert_outputs_declared
from tests.fakes.gcp import GcpFake

PROJECT = "sec-project"


@pytest.fixture(scope="module")
def fake() -> Iterator[GcpFake]:
    with GcpFake(pending_polls=1) as server:
        yield server


@pytest.fixture
def provider(fake: GcpFake) -> Iterator[GcpProvider]:
    made = GcpProvider()
    made.initialize({
        "project": PROJECT, "region": "us-central1", "endpoint": fake.url,
        "anonymous_credentials": True, "poll_interval": 0.01, "wait_timeout": 10,
        "max_attempts": 1, "stack": f"s{uuid.uuid4().hex[:6]}",
    })  # fmt: skip
    yield made
    made.close()


def stored(provider: GcpProvider, secret_id: str) -> str:
    """The latest value, as a program with access would read it."""
    sm = provider.context.clients.secretmanager()
    name = f"projects/{PROJECT}/secrets/{secret_id}/versions/latest"
    found = sm.projects().secrets().versions().access(name=name).execute(num_retries=0)
    return base64.b64decode(found["payload"]["data"]).decode()


def spec(name: str = "api-key", **config: Any) -> ResourceSpec:
    return ResourceSpec(name=name, type="infra.secret", config=config)


def test_secret_lifecycle_from_the_environment_then_generated(
    provider: GcpProvider, fake: GcpFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = f"mk{uuid.uuid4().hex}"
    monkeypatch.setenv("PARTNER_KEY", marker)
    driver = provider.resource_driver("infra.secret")
    wanted = spec(value_env="PARTNER_KEY", labels={"team": "api"}, locations=["us-east1"])
    recorded: list[str] = []
    with creation_journal(recorded.append):
        created = driver.create(wanted)
    assert recorded == [created.provider_id]
    assert stored(provider, created.provider_id) == marker
    assert marker not in json.dumps(created.model_dump(mode="json"))
    assert created.outputs["locations"] == ["us-east1"]
    assert_outputs_declared([created], DRIVERS)
    assert created.outputs["labels"] == {"team": "api"}
    assert created.outputs["latest_version"].endswith("/versions/1")
    again = driver.create(wanted)  # the retry adopts; an env value is written again
    assert again.provider_id == created.provider_id
    ref = ResourceRef(name="api-key", type="infra.secret", provider_id=created.provider_id)
    assert driver.diff(wanted, driver.read(ref)).changes == []

    assert driver.diff(spec(value_env="PARTNER_KEY", locations=["us-west1"]),
                       driver.read(ref)).needs_replace  # fmt: skip
    generated = spec(generate_length=24, labels={"team": "api"}, locations=["us-east1"])
    diff = driver.diff(generated, driver.read(ref))
    assert {c.path for c in diff.changes} == {"value_env", "generate_length"}
    assert not diff.needs_replace
    driver.update(ref, generated)
    value = stored(provider, ref.provider_id)
    assert len(value) == 24 and value != marker
    assert driver.diff(generated, driver.read(ref)).changes == []
    driver.update(ref, spec(generate_length=24, labels={"team": "web"}, locations=["us-east1"]))
    assert stored(provider, ref.provider_id) == value  # a label change keeps the value

    state = provider.import_resource(ref.provider_id, "infra.secret")
    imported = ResourceSpec(name="api-key", type="infra.secret", config=state.applied_config)
    assert driver.diff(imported, driver.read(ref)).changes == []

    driver.delete(ref)
    driver.delete(ref)
    with pytest.raises(NotFoundError):
        driver.read(ref)


def test_a_generated_value_survives_a_retried_create(provider: GcpProvider) -> None:
    driver = provider.resource_driver("infra.secret")
    created = driver.create(spec("session"))
    first = stored(provider, created.provider_id)
    driver.create(spec("session"))
    assert stored(provider, created.provider_id) == first
    assert driver.read(
        ResourceRef(name="session", type="infra.secret", provider_id=created.provider_id)
    ).outputs["latest_version"].endswith("/versions/1")


def test_someone_elses_secret_is_not_adopted_and_a_literal_value_is_refused(
    provider: GcpProvider,
) -> None:
    sm = provider.context.clients.secretmanager()
    sm.projects().secrets().create(
        parent=f"projects/{PROJECT}", secretId="taken",
        body={"replication": {"automatic": {}}},
    ).execute(num_retries=0)  # fmt: skip
    driver = provider.resource_driver("infra.secret")
    with pytest.raises(ProviderError, match="already exists and is not this stack's"):
        driver.create(spec(secret_id="taken"))
    with pytest.raises(ProviderError, match="never goes in the stack"):
        driver.create(spec(value="hunter2"))


def test_the_fake_holds_secret_managers_rules(provider: GcpProvider) -> None:
    secrets = provider.context.clients.secretmanager().projects().secrets()
    parent = f"projects/{PROJECT}"

    def refused(request: Any) -> str:
        with pytest.raises(HttpError) as error:
            request.execute(num_retries=0)
        assert error.value.resp.status == 400
        return str(error.value)

    # The discovery document's schema: no such field.
    assert "Unknown name" in refused(secrets.create(
        parent=parent, secretId="a", body={"replication": {"automatic": {}}, "value": "x"}
    ))  # fmt: skip
    # The service's rules beyond the schema.
    assert "replication is required" in refused(secrets.create(
        parent=parent, secretId="a", body={}
    ))  # fmt: skip
    assert "Invalid secret_id" in refused(secrets.create(
        parent=parent, secretId="no/slash", body={"replication": {"automatic": {}}}
    ))  # fmt: skip
    secrets.create(
        parent=parent, secretId="rules", body={"replication": {"automatic": {}}}
    ).execute(num_retries=0)
    name = f"{parent}/secrets/rules"
    assert "update_mask is required" in refused(secrets.patch(name=name, body={"labels": {}}))
    assert "cannot update replication" in refused(secrets.patch(
        name=name, updateMask="replication", body={"replication": {"automatic": {}}}
    ))  # fmt: skip
    assert "not valid base64" in refused(
        secrets.addVersion(parent=name, body={"payload": {"data": "@@@"}})
    )
    secrets.delete(name=name).execute(num_retries=0)
