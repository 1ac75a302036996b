"""The IaC workflows over the DigitalOcean provider on the local API fake (real pydo, real
Temporal dev server, network guard on): every driver's lifecycle, drift, ghosts, throttling."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client

from providers.digitalocean.drivers import DRIVERS
from tests.declared_outputs import assert_outputs_declared
from tests.fakes.digitalocean import DigitalOceanFake
from tests.iac_wf_support import iac_worker, start, state_block

TOKEN_ENV = "WFCTL_TEST_DO_WF_TOKEN"


@pytest.fixture(scope="module")
def fake() -> Iterator[DigitalOceanFake]:
    server = DigitalOceanFake(token="wf-token").start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TOKEN_ENV, "wf-token")
        yield server
    server.stop()


def stack_document(
    fake: DigitalOceanFake, tmp_path: Path, resources: list[dict[str, Any]], stack: str = ""
) -> dict[str, Any]:
    return {
        "stack": stack or f"do-{uuid.uuid4().hex[:8]}",
        "state": state_block("sqlite", tmp_path),
        "providers": {"do": fake.provider_config(TOKEN_ENV)},
        "resources": resources,
    }


def by_name(outputs: list[Any]) -> dict[str, dict[str, Any]]:
    assert_outputs_declared(outputs, DRIVERS)
    return {r.name: r.outputs for r in outputs}


async def test_every_type_applies_drifts_updates_replaces_and_destroys_through_the_workflows(
    client: Client, fake: DigitalOceanFake, tmp_path: Path
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example.net"
    resources: list[dict[str, Any]] = [
        {"name": "net", "type": "infra.vpc",
         "config": {"ip_range": "10.40.0.0/20", "description": "shop network"}},
        {"name": "web", "type": "infra.droplet", "size": "xs",
         "config": {"vpc_id": "${net.outputs.vpc_id}", "tags": ["web"]}},
        {"name": "web-fw", "type": "infra.firewall",
         "config": {"ingress": [{"ports": "80"}], "droplet_ids": ["${web.outputs.droplet_id}"]}},
        {"name": "data", "type": "infra.volume",
         "config": {"size_gb": 10, "droplet_id": "${web.outputs.droplet_id}"}},
        {"name": "db", "type": "infra.database", "size": "xs",
         "config": {"version": "16", "vpc_id": "${net.outputs.vpc_id}",
                    "db_names": ["shop"], "users": ["shop"]}},
        {"name": "cache", "type": "infra.cache", "size": "xs",
         "config": {"vpc_id": "${net.outputs.vpc_id}"}},
        {"name": "lb", "type": "infra.load_balancer", "size": "s",
         "config": {"vpc_id": "${net.outputs.vpc_id}",
                    "droplet_ids": ["${web.outputs.droplet_id}"]}},
        {"name": "zone", "type": "infra.dns",
         "config": {"domain": domain,
                    "records": [{"type": "A", "name": "www", "data": "${lb.outputs.ip}"}]}},
        {"name": "images", "type": "infra.registry", "config": {"subscription_tier": "basic"}},
        {"name": "app", "type": "infra.container_service", "size": "xs",
         "config": {"image": "registry.digitalocean.com/${images.outputs.name}/shop:1",
                    "envs": {"DATABASE_HOST": "${db.outputs.private_host}"}}},
        {"name": "cert", "type": "infra.certificate", "depends_on": ["zone"],
         "config": {"dns_names": [f"www.{domain}"]}},
    ]  # fmt: skip
    doc = stack_document(fake, tmp_path, resources)
    index = {r["name"]: r for r in resources}

    async with iac_worker(client) as queue:

        async def run(workflow: str, **options: Any) -> Any:
            return await (await start(client, workflow, queue, {**doc, **options})).result()

        applied = await run("ApplyWorkflow", auto_approve=True)
        assert applied.status == "applied", applied.errors
        assert applied.counts == {"create": 11}
        live = by_name(applied.resources)
        ids = {r.name: r.provider_id for r in applied.resources}
        assert ids["web"] == str(live["web"]["droplet_id"])  # numeric ids, never names
        assert ids["net"] == live["net"]["vpc_id"] and ids["db"] == live["db"]["cluster_id"]
        assert live["web"]["instance_type"] == "s-1vcpu-512mb-10gb"  # size xs
        assert live["db"]["instance_type"] == "db-s-1vcpu-1gb"
        assert live["app"]["instance_type"] == "apps-s-1vcpu-0.5gb"
        assert live["lb"]["size_unit"] == 1
        assert live["web"]["vpc_id"] == live["db"]["vpc_id"] == ids["net"]
        assert live["data"]["droplet_id"] == live["web"]["droplet_id"]
        assert live["web-fw"]["droplet_ids"] == [live["web"]["droplet_id"]]
        assert live["zone"]["records"][0]["data"] == live["lb"]["ip"]
        assert live["app"]["envs"] == {"DATABASE_HOST": live["db"]["private_host"]}
        assert live["db"]["password"] == "(sensitive)"  # masked in history
        assert live["cert"]["state"] == "verified"
        droplet = fake.objects["droplets"][ids["web"]]
        assert sorted(droplet["tags"]) == ["web", f"wfctl-stack:{doc['stack']}"]

        drift = await run("DriftWorkflow")
        assert drift.checked == 11 and not drift.drifted, drift.results
        assert (await run("ApplyWorkflow", auto_approve=True)).status == "no_changes"

        # In-place updates of every type that has one (a certificate has none).
        index["net"]["config"]["description"] = "shop network, v2"
        index["web"]["size"] = "s"  # resize through droplet actions
        index["web-fw"]["config"]["ingress"].append({"ports": "443"})
        index["data"]["config"]["size_gb"] = 20
        index["db"]["config"]["users"] = ["shop", "report"]
        index["cache"]["size"] = "s"
        index["lb"]["size"] = "m"
        index["zone"]["config"]["records"].append({"type": "TXT", "name": "@", "data": "hi"})
        index["images"]["config"]["subscription_tier"] = "professional"
        index["app"]["config"]["image"] = "registry.digitalocean.com/${images.outputs.name}/shop:2"
        updated = await run("ApplyWorkflow", auto_approve=True)
        assert updated.status == "applied", updated.errors
        assert updated.counts == {"update": 10}
        after = by_name(updated.resources)
        assert after["web"]["instance_type"] == "s-1vcpu-2gb"
        resize = [r.body for r in fake.calls("POST", rf"/v2/droplets/{ids['web']}/actions")]
        assert resize == [{"type": "power_off"},
                          {"type": "resize", "size": "s-1vcpu-2gb", "disk": False},
                          {"type": "power_on"}]  # fmt: skip
        assert after["web-fw"]["ingress"][1]["ports"] == "443"
        assert after["data"]["size_gb"] == 20 and after["db"]["users"] == ["report", "shop"]
        assert after["cache"]["instance_type"] == "db-s-1vcpu-2gb" and after["lb"]["size_unit"] == 2
        assert after["images"]["subscription_tier"] == "professional"
        assert after["app"]["image"].endswith("/shop:2")
        assert {r["type"] for r in after["zone"]["records"]} == {"A", "TXT"}
        assert {r.name: r.provider_id for r in updated.resources} == {
            n: ids[n] for n in ids if n != "cert"
        }

        # Force-new changes: a droplet's image and a certificate's names make new ones;
        # what reads the droplet's id follows it.
        index["web"]["config"]["image"] = "debian-12-x64"
        index["cert"]["config"]["dns_names"] = [f"www.{domain}", f"api.{domain}"]
        replaced = await run("ApplyWorkflow", auto_approve=True)
        assert replaced.status == "applied", replaced.errors
        assert replaced.counts.get("replace") == 2, replaced.counts
        again = by_name(replaced.resources)
        new_web = str(again["web"]["droplet_id"])
        assert new_web != ids["web"] and str(ids["web"]) not in fake.objects["droplets"]
        assert again["web"]["image"] == "debian-12-x64"
        assert fake.objects["volumes"][ids["data"]]["droplet_ids"] == [int(new_web)]
        assert fake.objects["load_balancers"][ids["lb"]]["droplet_ids"] == [int(new_web)]
        assert len(fake.objects["droplets"]) == 1

        # Behind the engine's back: a droplet resized by hand, a load balancer deleted.
        fake.change("droplets", new_web, size_slug="s-4vcpu-8gb")
        fake.remove("load_balancers", ids["lb"])
        drifted = await run("DriftWorkflow")
        assert drifted.drifted and drifted.ghosts == ["lb"]
        fields = {r.name: r.fields for r in drifted.results}
        assert fields == {"web": ["config.instance_type"], "lb": ["(deleted)"]}
        web_drift = next(r for r in drifted.results if r.name == "web")
        assert web_drift.actual == {"config.instance_type": "s-4vcpu-8gb"}

        destroyed = await run("DestroyWorkflow", auto_approve=True)
    assert destroyed.status == "applied", destroyed.errors
    assert sorted(destroyed.destroyed) == sorted(index)
    left = {kind: list(items) for kind, items in fake.objects.items()
            if items and kind not in ("actions", "tags")}  # fmt: skip
    assert left == {} and fake.registry is None


async def test_a_429_is_waited_out_until_ratelimit_reset(
    client: Client, fake: DigitalOceanFake, tmp_path: Path
) -> None:
    resources = [{"name": "net", "type": "infra.vpc", "config": {"ip_range": "10.50.0.0/20"}}]
    doc = stack_document(fake, tmp_path, resources)
    fake.inject_rate_limit("POST", r"/v2/vpcs", reset_in=2)
    async with iac_worker(client) as queue:
        applied = await (await start(client, "ApplyWorkflow", queue,
                                     {**doc, "auto_approve": True})).result()  # fmt: skip
        assert applied.status == "applied", applied.errors
        attempts = [r for r in fake.calls("POST", r"/v2/vpcs")
                    if (r.body or {}).get("name", "").startswith(doc["stack"])]  # fmt: skip
        assert [a.status for a in attempts] == [429, 201]
        # The second attempt came when the limit said, not at Temporal's 0.5 s first retry.
        reset = float(attempts[0].headers["ratelimit-reset"])
        assert reset - attempts[0].at >= 1.0
        assert reset - 0.05 <= attempts[1].at <= reset + 5, (reset, attempts[1].at)
        destroyed = await (await start(client, "DestroyWorkflow", queue,
                                       {**doc, "auto_approve": True})).result()  # fmt: skip
    assert destroyed.status == "applied"


async def test_a_validation_error_fails_the_action_without_retrying(
    client: Client, fake: DigitalOceanFake, tmp_path: Path
) -> None:
    resources = [{"name": "web", "type": "infra.droplet", "config": {"image": "no-such-image"}}]
    doc = stack_document(fake, tmp_path, resources)
    invalid = {"id": "unprocessable_entity", "message": "You specified an invalid image."}
    fake.inject("POST", r"/v2/droplets", 422, invalid)
    before = len(fake.calls("POST", r"/v2/droplets"))
    async with iac_worker(client) as queue:
        applied = await (await start(client, "ApplyWorkflow", queue,
                                     {**doc, "auto_approve": True})).result()  # fmt: skip
    assert applied.status == "failed"
    assert "unprocessable_entity" in applied.errors[0].error
    assert "invalid image" in applied.errors[0].error
    assert len(fake.calls("POST", r"/v2/droplets")) == before + 1


async def test_the_example_stack_applies_and_destroys_on_the_fake(
    client: Client, fake: DigitalOceanFake, tmp_path: Path
) -> None:
    example = Path(__file__).parent.parent / "examples" / "digitalocean-stack.yaml"
    doc = yaml.safe_load(example.read_text())
    doc["state"] = state_block("sqlite", tmp_path)
    # Only where the API is and how to reach it change; everything else runs as written.
    doc["providers"]["do"] = {**doc["providers"]["do"], **fake.provider_config(TOKEN_ENV)}
    fake.objects["domains"].pop("shop.example.com", None)
    async with iac_worker(client) as queue:
        applied = await (await start(client, "ApplyWorkflow", queue,
                                     {**doc, "auto_approve": True})).result()  # fmt: skip
        assert applied.status == "applied", applied.errors
        assert applied.counts == {"create": len(doc["resources"])}
        live = by_name(applied.resources)
        assert live["web"]["instance_type"] == "s-1vcpu-2gb"
        assert live["orders-db"]["users"] == ["orders"]
        assert live["storefront"]["url"].startswith("https://shop-do-storefront")
        drift = await (await start(client, "DriftWorkflow", queue, doc)).result()
        assert not drift.drifted, drift.results
        destroyed = await (await start(client, "DestroyWorkflow", queue,
                                       {**doc, "auto_approve": True,
                                        "allow_replace": ["orders-db"]})).result()  # fmt: skip
    assert destroyed.status == "applied", destroyed.errors
    assert sorted(destroyed.destroyed) == sorted(r["name"] for r in doc["resources"])
