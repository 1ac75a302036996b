"""infra.cdn (CloudFront) and infra.secret (Secrets Manager) on a moto server over real HTTP.

The sandbox keeps a distribution InProgress for a few reads after each change, refuses a
stale If-Match and refuses to delete an enabled distribution, as CloudFront does; a secret's
value comes from the worker's environment or is generated, and is found nowhere but in
Secrets Manager.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError
from temporalio.client import Client

from engine.iac.stack import parse_stack, validate_stack
from interfaces import CapabilityDeclaration, ResourceRef, ResourceSpec, ResourceStatus
from interfaces.errors import ConfigError, NotFoundError, ProviderError
from providers.aws import AwsProvider
from providers.aws.drivers import DRIVERS
from providers.creation_journal import creation_journal
from tests.declared_outputs import assert_outputs_declared
from tests.iac_wf_support import iac_worker, start
from tests.test_codec_history import readable_texts

if TYPE_CHECKING:
    from tests.aws_fixtures import ThrottlingProxy

pytest_plugins = ["tests.aws_fixtures"]

MakeProvider = Callable[..., AwsProvider]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def with_config(spec: ResourceSpec, **changes: Any) -> ResourceSpec:
    return spec.model_copy(update={"config": {**spec.config, **changes}}, deep=True)


def ref_of(spec: ResourceSpec, provider_id: str) -> ResourceRef:
    return ResourceRef(name=spec.name, type=spec.type, provider_id=provider_id)


def distributions(provider: AwsProvider) -> list[dict[str, Any]]:
    found = provider.context.session.client("cloudfront").list_distributions()
    return found["DistributionList"].get("Items") or []


# -- infra.cdn -------------------------------------------------------------------------------


def test_cdn_lifecycle_waits_for_deployed_and_deletes_by_disabling_first(
    aws_provider: MakeProvider,
) -> None:
    provider = aws_provider()
    cloudfront = provider.context.session.client("cloudfront")
    driver = provider.resource_driver("infra.cdn")
    spec = ResourceSpec(
        name="site", type="infra.cdn", config={"origin": "my-site-bucket", "tags": {"team": "web"}}
    )
    created = driver.create(spec)
    # The sandbox keeps a new distribution InProgress for a few reads: create waited.
    assert created.status == ResourceStatus.READY and created.outputs["status"] == "Deployed"
    assert created.outputs["origin"] == "my-site-bucket.s3.amazonaws.com"
    assert created.outputs["domain_name"].endswith(".cloudfront.net")
    assert (created.outputs["enabled"], created.outputs["price_class"]) == (True, "PriceClass_100")
    assert created.outputs["tags"] == {"team": "web"}
    assert_outputs_declared([created], DRIVERS)
    again = driver.create(spec)  # a retried create adopts the first one's distribution
    assert again.provider_id == created.provider_id
    mine = [d for d in distributions(provider) if d["Id"] == created.provider_id]
    assert len(mine) == 1 and len(
        [d for d in distributions(provider) if d["Comment"] == mine[0]["Comment"]]
    ) == 1
    ref = ref_of(spec, created.provider_id)
    assert driver.diff(spec, driver.read(ref)).changes == []
    assert driver.health_check(ref).healthy

    changed = with_config(
        spec, origin="https://www.example.com/", price_class="PriceClass_All",
        default_root_object="index.html", tags={"team": "edge"},
    )  # fmt: skip
    diff = driver.diff(changed, driver.read(ref))
    assert diff.needs_update and not diff.needs_replace
    assert {c.path for c in diff.changes} == {
        "origin", "price_class", "default_root_object", "tags"
    }  # fmt: skip
    updated = driver.update(ref, changed)
    assert updated.outputs["status"] == "Deployed"
    assert (updated.outputs["origin"], updated.outputs["price_class"]) == (
        "www.example.com", "PriceClass_All"
    )  # fmt: skip
    assert driver.diff(changed, driver.read(ref)).changes == []

    # Drift: disabled behind the engine's back, the diff names it and an update restores it.
    found = cloudfront.get_distribution_config(Id=ref.provider_id)
    cloudfront.update_distribution(
        Id=ref.provider_id, IfMatch=found["ETag"],
        DistributionConfig={**found["DistributionConfig"], "Enabled": False},
    )  # fmt: skip
    drifted = driver.diff(changed, driver.read(ref))
    assert [(c.path, c.old, c.new) for c in drifted.changes] == [("enabled", False, True)]
    assert driver.update(ref, changed).outputs["enabled"] is True

    for given in (created.provider_id, created.outputs["arn"]):
        state = provider.import_resource(given, "infra.cdn")
        assert state.provider_id == created.provider_id
        imported = ResourceSpec(name="site", type="infra.cdn", config=state.applied_config)
        assert driver.diff(imported, driver.read(ref)).changes == []

    # What the sandbox holds CloudFront to: an enabled distribution is not deleted.
    etag = cloudfront.get_distribution_config(Id=ref.provider_id)["ETag"]
    with pytest.raises(ClientError, match="DistributionNotDisabled"):
        cloudfront.delete_distribution(Id=ref.provider_id, IfMatch=etag)
    with pytest.raises(ClientError, match="PreconditionFailed"):
        cloudfront.delete_distribution(Id=ref.provider_id, IfMatch="stale")

    driver.delete(ref)
    driver.delete(ref)  # already gone is what we wanted
    with pytest.raises(NotFoundError):
        driver.read(ref)


def test_cdn_refuses_aliases_without_a_certificate_and_unknown_price_classes(
    aws_provider: MakeProvider,
) -> None:
    driver = aws_provider().resource_driver("infra.cdn")
    spec = ResourceSpec(
        name="site", type="infra.cdn",
        config={"origin": "example.com", "aliases": ["cdn.example.com"]},
    )  # fmt: skip
    with pytest.raises(ProviderError, match="aliases need certificate_arn") as refused:
        driver.create(spec)
    assert refused.value.code == "InvalidConfig"
    bad = ResourceSpec(name="x", type="infra.cdn", config={"origin": "a.com", "price_class": "Z"})
    with pytest.raises(ProviderError, match="price_class 'Z' is not one of"):
        driver.create(bad)


def test_a_cdn_create_that_fails_after_the_call_is_journalled_and_destroyable(
    aws_provider: MakeProvider, throttling_proxy: Callable[..., ThrottlingProxy]
) -> None:
    proxy = throttling_proxy(
        times=1,
        match=lambda r: r.method == "GET" and "/distribution/" in r.path,
        code="Throttling",
    )
    provider = aws_provider(endpoint_url=proxy.url)
    driver = provider.resource_driver("infra.cdn")
    spec = ResourceSpec(name="site", type="infra.cdn", config={"origin": "example.com"})
    recorded: list[str] = []
    with creation_journal(recorded.append), pytest.raises(ProviderError) as failed:
        driver.create(spec)
    assert failed.value.retryable
    assert len(recorded) == 1  # the pending state entry knows the distribution
    assert driver.locate(spec) == recorded[0]
    driver.delete(ref_of(spec, recorded[0]))
    assert recorded[0] not in {d["Id"] for d in distributions(provider)}


# -- infra.secret ----------------------------------------------------------------------------


def test_secret_from_the_environment_is_written_and_never_returned(
    aws_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = f"mk{uuid.uuid4().hex}"
    monkeypatch.setenv("API_KEY_VALUE", marker)
    provider = aws_provider()
    sm = provider.context.session.client("secretsmanager")
    driver = provider.resource_driver("infra.secret")
    spec = ResourceSpec(
        name="api-key", type="infra.secret",
        config={"value_env": "API_KEY_VALUE", "description": "the partner API key"},
    )  # fmt: skip
    created = driver.create(spec)
    assert sm.get_secret_value(SecretId=created.provider_id)["SecretString"] == marker
    assert marker not in json.dumps(created.model_dump(mode="json"))
    assert created.sensitive == ["arn"]
    assert_outputs_declared([created], DRIVERS)
    assert created.outputs["secret_name"] == f"{provider.context.stack}/api-key"
    assert (created.outputs["value_env"], created.outputs["generate_length"]) == (
        "API_KEY_VALUE", 0
    )  # fmt: skip
    again = driver.create(spec)
    assert again.provider_id == created.provider_id
    ref = ref_of(spec, created.provider_id)
    assert driver.diff(spec, driver.read(ref)).changes == []

    # From the environment to a generated value: an update writes a new one.
    generated = ResourceSpec(
        name="api-key", type="infra.secret",
        config={"generate_length": 40, "description": "the partner API key"},
    )  # fmt: skip
    diff = driver.diff(generated, driver.read(ref))
    assert {c.path for c in diff.changes} == {"value_env", "generate_length"}
    assert not diff.needs_replace
    updated = driver.update(ref, generated)
    value = sm.get_secret_value(SecretId=ref.provider_id)["SecretString"]
    assert len(value) == 40 and value.isalnum() and value != marker
    assert updated.outputs["version_id"] != created.outputs["version_id"]
    assert driver.diff(generated, driver.read(ref)).changes == []
    # Only a description change: the value stays.
    driver.update(ref, with_config(generated, description="rotated by hand"))
    assert sm.get_secret_value(SecretId=ref.provider_id)["SecretString"] == value

    driver.delete(ref)
    driver.delete(ref)
    with pytest.raises(NotFoundError):
        driver.read(ref)


def test_a_generated_secret_keeps_its_value_through_a_retried_create(
    aws_provider: MakeProvider,
) -> None:
    provider = aws_provider()
    sm = provider.context.session.client("secretsmanager")
    driver = provider.resource_driver("infra.secret")
    spec = ResourceSpec(name="session-key", type="infra.secret")
    created = driver.create(spec)
    first = sm.get_secret_value(SecretId=created.provider_id)["SecretString"]
    assert len(first) == 32
    driver.create(spec)
    assert sm.get_secret_value(SecretId=created.provider_id)["SecretString"] == first
    # Imported without knowing its source: the imported config plans no new value.
    state = provider.import_resource(created.provider_id, "infra.secret")
    imported = ResourceSpec(name="session-key", type="infra.secret", config=state.applied_config)
    assert driver.diff(imported, driver.read(ref_of(spec, created.provider_id))).changes == []
    driver.delete(ref_of(spec, created.provider_id))


def test_a_secret_create_that_fails_after_the_call_is_journalled_and_destroyable(
    aws_provider: MakeProvider, throttling_proxy: Callable[..., ThrottlingProxy]
) -> None:
    describes: list[str] = []

    def second_describe(request: Any) -> bool:
        """The lookup before creating passes; the read after it is throttled."""
        if request.action == "DescribeSecret":
            describes.append(request.path)
        return request.action == "DescribeSecret" and len(describes) == 2

    proxy = throttling_proxy(times=1, match=second_describe)
    driver = aws_provider(endpoint_url=proxy.url).resource_driver("infra.secret")
    spec = ResourceSpec(name="late-failure", type="infra.secret")
    recorded: list[str] = []
    with creation_journal(recorded.append), pytest.raises(ProviderError) as failed:
        driver.create(spec)
    assert failed.value.retryable and len(proxy.throttled) == 1
    assert len(recorded) == 1 and recorded[0].startswith("arn:aws:secretsmanager:")
    assert driver.locate(spec) == recorded[0]
    ref = ref_of(spec, recorded[0])
    driver.delete(ref)
    with pytest.raises(NotFoundError):
        driver.read(ref)


def test_a_recoverable_secret_deleted_by_a_destroy_is_restored_by_the_next_apply(
    aws_provider: MakeProvider,
) -> None:
    provider = aws_provider()
    sm = provider.context.session.client("secretsmanager")
    driver = provider.resource_driver("infra.secret")
    spec = ResourceSpec(name="kept", type="infra.secret", config={"recovery_days": 7})
    created = driver.create(spec)
    value = sm.get_secret_value(SecretId=created.provider_id)["SecretString"]
    ref = ref_of(spec, created.provider_id)
    driver.delete(ref)
    with pytest.raises(NotFoundError, match="scheduled for deletion"):
        driver.read(ref)
    again = driver.create(spec)  # the name is still taken: ours, so it is restored
    assert again.provider_id == created.provider_id
    assert sm.get_secret_value(SecretId=created.provider_id)["SecretString"] == value
    driver.delete(ref_of(spec, created.provider_id))


def test_secret_refuses_a_literal_value_and_an_unset_variable(
    aws_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    driver = aws_provider().resource_driver("infra.secret")
    literal = ResourceSpec(name="k", type="infra.secret", config={"value": "hunter2"})
    with pytest.raises(ProviderError, match="never goes in the stack") as refused:
        driver.create(literal)
    assert "hunter2" not in str(refused.value)
    unset = ResourceSpec(name="k", type="infra.secret", config={"value_env": "NOT_SET_ANYWHERE"})
    with pytest.raises(ProviderError, match="value_env NOT_SET_ANYWHERE is not set"):
        driver.create(unset)
    short = ResourceSpec(name="k", type="infra.secret", config={"generate_length": 4})
    with pytest.raises(ProviderError, match="generate_length must be a whole number 16..4096"):
        driver.create(short)


def test_validation_refuses_a_literal_secret_value_naming_the_resource() -> None:
    doc = parse_stack({
        "stack": "shop",
        "providers": {"aws": {"type": "aws"}},
        "resources": [{"name": "api-key", "type": "infra.secret", "config": {"value": "x1"}}],
    })  # fmt: skip
    offered = [CapabilityDeclaration(resource_type="infra.secret", tier=1, operations=[])]
    with pytest.raises(ConfigError) as refused:
        validate_stack(doc, {"aws": offered}, "shop.yaml")
    assert 'shop.yaml: resource "api-key": config.value: a secret\'s value never goes in' in str(
        refused.value
    )
    assert "x1" not in str(refused.value)


async def test_a_site_with_a_cdn_and_a_secret_applies_and_destroys_and_history_holds_no_value(
    client: Client,
    aws_provider: MakeProvider,
    moto_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    marker = f"mk{uuid.uuid4().hex}"
    monkeypatch.setenv("SITE_TOKEN", marker)  # the in-process worker's environment
    stack = unique("site")
    resources: list[dict[str, Any]] = [
        {"name": "assets", "type": "infra.storage", "config": {}},
        {"name": "edge", "type": "infra.cdn",
         "config": {"origin": "${assets.outputs.domain_name}",
                    "default_root_object": "index.html"}},
        {"name": "token", "type": "infra.secret", "config": {"value_env": "SITE_TOKEN"}},
    ]  # fmt: skip
    document = {
        "stack": stack,
        "state": {"backend": "sqlite", "path": str(tmp_path / "state.db")},
        "providers": {"aws": {"type": "aws", "region": "us-east-1",
                              "endpoint_url": moto_endpoint, "max_attempts": 1,
                              "poll_interval": 0.05, "wait_timeout": 20}},
        "resources": resources,
    }  # fmt: skip
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, {**document, "auto_approve": True})
        applied = await handle.result()
        assert applied.status == "applied", applied.errors
        history = json.dumps((await handle.fetch_history()).to_json_dict())
        destroyed = await (
            await start(client, "DestroyWorkflow", queue, {**document, "auto_approve": True})
        ).result()
    outputs = {r.name: r.outputs for r in applied.resources}
    assert outputs["edge"]["origin"] == outputs["assets"]["domain_name"]
    assert outputs["edge"]["status"] == "Deployed"
    # Payloads are base64 in the dump: read them decoded. They hold what the creates returned
    # (the secret's name, which no input spells out), but not the value.
    texts = list(readable_texts(history))
    assert any(f"{stack}/token" in text for text in texts)
    assert not any(marker in text for text in texts)
    assert marker not in (tmp_path / "state.db").read_bytes().decode("latin-1")
    assert destroyed.status == "applied", destroyed.errors
    assert sorted(destroyed.destroyed) == ["assets", "edge", "token"]
    provider = aws_provider(stack=stack)
    for live in applied.resources:
        with pytest.raises(NotFoundError):
            provider.resource_driver(live.type).read(
                ResourceRef(name=live.name, type=live.type, provider_id=live.provider_id)
            )
