"""The azure provider through the IaC workflows on the dev server, against the local ARM fake
(real azure-mgmt-resource over http on loopback; the network guard refuses anything else).

One stack of all ten types is applied (created), checked for drift, applied unchanged, updated
in place, partly replaced on force-new changes, drifted and half-deleted behind the engine's
back (drift names the field and the ghost), and destroyed with the resource group it made.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client

from providers.azure.drivers import DRIVERS
from providers.azure.tags import NAME_TAG, STACK_TAG
from tests.declared_outputs import assert_outputs_declared
from tests.fakes.azure import SUBSCRIPTION, ArmFake, provider_config, serving
from tests.iac_wf_support import iac_worker, start, state_block

ADMIN_GROUP = "6f1d3c2a-0000-4000-8000-00000000d0a5"


@pytest.fixture(scope="module")
def arm() -> Iterator[ArmFake]:
    yield from serving(polls=2)


def group_key(stack: str) -> str:
    return f"/subscriptions/{SUBSCRIPTION}/resourcegroups/wfctl-{stack}"


def stack_resources(stack: str) -> list[dict[str, Any]]:
    return [
        {"name": "net", "type": "infra.vpc",
         "config": {"cidr": "10.10.0.0/16", "subnets": ["10.10.1.0/24", "10.10.2.0/24"]}},
        {"name": "web-fw", "type": "infra.firewall",
         "config": {"ingress": [{"port": 80, "cidr": "0.0.0.0/0"}]}},
        {"name": "app-id", "type": "infra.iam_role", "config": {"tags": {"team": "shop"}}},
        {"name": "images", "type": "infra.registry", "config": {"sku": "Basic"}},
        {"name": "files", "type": "infra.storage", "config": {"access_tier": "Hot"}},
        {"name": "orders", "type": "infra.database", "size": "s",
         "config": {"admin_login": "dba-group", "admin_object_id": ADMIN_GROUP}},
        {"name": "sessions", "type": "infra.cache", "size": "xs", "config": {}},
        {"name": "lb", "type": "infra.load_balancer",
         "config": {"port": 80, "target_port": 8080}},
        {"name": "web", "type": "infra.container_service", "size": "xs",
         "config": {"image": "${images.outputs.login_server}/web:1", "container_port": 8080,
                    "identity_id": "${app-id.outputs.identity_id}", "env": {"MODE": "prod"}}},
        {"name": "zone", "type": "infra.dns",
         "config": {"domain": f"{stack}.example.com",
                    "records": [{"name": "www", "type": "A",
                                 "values": ["${lb.outputs.address}"]}]}},
    ]  # fmt: skip


async def test_ten_types_apply_drift_update_replace_and_destroy_through_the_workflows(
    client: Client, arm: ArmFake, tmp_path: Path
) -> None:
    stack = f"az-{uuid.uuid4().hex[:8]}"
    resources = stack_resources(stack)
    by_name = {r["name"]: r for r in resources}

    def document(**options: Any) -> dict[str, Any]:
        return {
            "stack": stack,
            "state": state_block("sqlite", tmp_path),
            "providers": {"azure": provider_config(arm)},
            "resources": resources,
            **options,
        }

    async with iac_worker(client) as queue:

        async def run(workflow: str, **options: Any) -> Any:
            return await (await start(client, workflow, queue, document(**options))).result()

        # -- create ---------------------------------------------------------------------
        applied = await run("ApplyWorkflow", auto_approve=True)
        assert applied.status == "applied", applied.errors
        assert applied.counts == {"create": 10}
        assert_outputs_declared(applied.resources, DRIVERS)
        out = {r.name: r.outputs for r in applied.resources}
        assert out["web"]["image"] == f"{out['images']['login_server']}/web:1"
        assert out["web"]["identity_id"] == out["app-id"]["identity_id"]
        assert (out["web"]["cpu"], out["web"]["memory"]) == ("0.25", "512Mi")  # size xs
        assert (out["orders"]["instance_type"], out["orders"]["storage_gb"]) == ("GP_S_Gen5_2", 50)
        assert out["orders"]["fqdn"].endswith(".database.windows.net")
        assert out["sessions"]["instance_type"] == "C0"
        assert out["lb"]["address"] and out["zone"]["records"] == [
            {"name": "www", "type": "A", "ttl": 300, "values": [out["lb"]["address"]]}
        ]
        group = arm.get(group_key(stack))
        assert group is not None and group["tags"] == {STACK_TAG: stack}
        vnet = arm.get(out["net"]["vnet_id"])
        assert vnet is not None and vnet["tags"][NAME_TAG] == "net"
        # What went over the wire from the activity: ARM's nesting, not our config's keys.
        sent = arm.requests("PUT", out["net"]["vnet_id"])[0].body
        assert set(sent) == {"location", "tags", "properties"}
        assert sent["properties"]["addressSpace"] == {"addressPrefixes": ["10.10.0.0/16"]}
        assert [s["properties"]["addressPrefix"] for s in sent["properties"]["subnets"]] == [
            "10.10.1.0/24", "10.10.2.0/24"
        ]  # fmt: skip

        # -- nothing to do ---------------------------------------------------------------
        drift = await run("DriftWorkflow")
        assert drift.checked == 10 and not drift.drifted, drift.results
        again = await run("ApplyWorkflow", auto_approve=True)
        assert again.status == "no_changes", again

        # -- in place -------------------------------------------------------------------
        by_name["web"]["config"]["image"] = "${images.outputs.login_server}/web:2"
        by_name["web-fw"]["config"]["ingress"] = [{"port": 443, "cidr": "0.0.0.0/0"}]
        by_name["files"]["config"]["access_tier"] = "Cool"
        by_name["images"]["config"]["sku"] = "Standard"
        by_name["sessions"]["size"] = "s"
        by_name["orders"]["size"] = "m"
        by_name["app-id"]["config"]["tags"] = {"team": "payments"}
        by_name["net"]["config"]["subnets"] = ["10.10.1.0/24"]
        by_name["zone"]["config"]["records"].append(
            {"name": "api", "type": "CNAME", "values": [f"www.{stack}.example.com"]}
        )
        updated = await run("ApplyWorkflow", auto_approve=True)
        assert updated.status == "applied", updated.errors
        assert updated.counts == {"update": 9}
        out = {r.name: r.outputs for r in updated.resources}
        assert out["web"]["image"].endswith("/web:2")
        assert out["web-fw"]["ingress"] == [{"port": "443", "cidr": "*", "protocol": "Tcp"}]
        assert out["files"]["access_tier"] == "Cool" and out["images"]["sku"] == "Standard"
        assert out["sessions"]["instance_type"] == "C1"
        assert out["orders"]["instance_type"] == "GP_Gen5_2"
        assert out["app-id"]["tags"] == {"team": "payments"}
        assert out["net"]["subnets"] == ["10.10.1.0/24"]
        assert [r["name"] for r in out["zone"]["records"]] == ["api", "www"]
        settled = await run("ApplyWorkflow", auto_approve=True)
        assert settled.status == "no_changes", settled

        # -- force-new: address space, load balancer sku, zone type, container size --------
        by_name["net"]["config"] = {"cidr": "10.20.0.0/16", "subnets": ["10.20.1.0/24"]}
        by_name["lb"]["config"]["sku"] = "Basic"
        by_name["zone"]["config"]["zone_type"] = "Private"
        by_name["web"]["size"] = "s"  # cpu and memory: ACI cannot change them in place
        plan = await run("PlanWorkflow")
        assert {k: n for k, n in plan.counts.items() if n} == {"replace": 4}, plan.counts
        changes = {a.resource.name: a.changes for a in plan.plan.actions}
        assert [(c.path, c.force_new) for c in changes["net"] if c.path == "config.cidr"] == [
            ("config.cidr", True)
        ]
        assert {c.path: c.force_new for c in changes["web"]} == {
            "config.cpu": True, "config.memory": True
        }
        replaced = await run("ApplyWorkflow", auto_approve=True)
        assert replaced.status == "applied", replaced.errors
        assert replaced.counts == {"replace": 4}
        out.update({r.name: r.outputs for r in replaced.resources})
        assert out["net"]["cidr"] == "10.20.0.0/16" and out["lb"]["sku"] == "Basic"
        assert out["zone"]["zone_type"] == "Private"
        deletes = [r.path for r in arm.requests("DELETE", f"wfctl-{stack}/providers/")]
        assert any(p.endswith("/virtualNetworks/net") for p in deletes)

        # -- behind the engine's back ---------------------------------------------------
        def open_ssh(nsg: dict[str, Any]) -> None:
            nsg["properties"]["securityRules"][0]["properties"]["destinationPortRange"] = "22"

        arm.change(out["web-fw"]["security_group_id"], open_ssh)
        arm.remove(out["images"]["registry_id"])
        drift = await run("DriftWorkflow")
        assert drift.drifted and drift.ghosts == ["images"]
        fields = {r.name: r.fields for r in drift.results}
        assert fields["web-fw"] == ["config.ingress"]
        assert fields["images"] == ["(deleted)"]

        # -- destroy ----------------------------------------------------------------------
        destroyed = await run("DestroyWorkflow", auto_approve=True)
    assert destroyed.status == "applied", destroyed.errors
    assert sorted(destroyed.destroyed) == sorted(by_name)
    left = [k for k in arm.resources if k.startswith(group_key(stack).lower())]
    assert left == []  # the resource group the stack made went with its last resource


async def test_a_resource_group_the_stack_found_is_left_after_destroy(
    client: Client, arm: ArmFake, tmp_path: Path
) -> None:
    stack = f"az-{uuid.uuid4().hex[:8]}"
    group = f"shared-{stack}"
    group_id = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}"
    arm.resources[group_id.lower()] = {
        "id": group_id, "name": group, "type": "Microsoft.Resources/resourceGroups",
        "location": "westeurope", "tags": {"owner": "platform"},
        "properties": {"provisioningState": "Succeeded"},
    }  # fmt: skip
    doc = {
        "stack": stack,
        "state": state_block("sqlite", tmp_path),
        "providers": {"azure": provider_config(arm, resource_group=group)},
        "resources": [{"name": "app-id", "type": "infra.iam_role"}],
    }
    async with iac_worker(client) as queue:
        applied = await (await start(client, "ApplyWorkflow", queue,
                                     {**doc, "auto_approve": True})).result()  # fmt: skip
        assert applied.status == "applied", applied.errors
        assert applied.resources[0].provider_id.startswith(group_id)
        destroyed = await (await start(client, "DestroyWorkflow", queue,
                                       {**doc, "auto_approve": True})).result()  # fmt: skip
    assert destroyed.destroyed == ["app-id"]
    assert arm.get(group_id) is not None  # adopted, so it stays
    assert [k for k in arm.resources if k.startswith(group_id.lower() + "/")] == []


async def test_throttled_put_is_retried_after_retry_after_through_the_workflow(
    client: Client, arm: ArmFake, tmp_path: Path
) -> None:
    stack = f"az-{uuid.uuid4().hex[:8]}"
    doc = {
        "stack": stack,
        "state": state_block("sqlite", tmp_path),
        "providers": {"azure": provider_config(arm)},
        "resources": [{"name": "images", "type": "infra.registry"}],
    }
    throttled = arm.fail(429, "TooManyRequests", method="PUT",
                         contains=f"wfctl-{stack}/providers/Microsoft.ContainerRegistry",
                         retry_after=2)  # fmt: skip
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, {**doc, "auto_approve": True})
        applied = await handle.result()
    assert applied.status == "applied", applied.errors
    puts = arm.requests("PUT", f"wfctl-{stack}/providers/Microsoft.ContainerRegistry")
    assert len(throttled.hits) == 1 and len(puts) == 2
    # The activity's own first retry comes after 0.5 s; ARM's Retry-After said 2.
    assert 2.0 <= puts[1].at - puts[0].at < 6.0
    registries = arm.of_type("Microsoft.ContainerRegistry/registries")
    assert [r["id"] for r in registries if f"wfctl-{stack}/" in r["id"]] == [
        applied.resources[0].provider_id
    ]


async def test_the_example_stack_applies_and_destroys_on_the_fake(
    client: Client, arm: ArmFake, tmp_path: Path
) -> None:
    example = yaml.safe_load((Path(__file__).parent.parent / "examples" / "azure-stack.yaml")
                             .read_text())  # fmt: skip
    settings = example["providers"]["azure"]
    stack = f"{example['stack']}-{uuid.uuid4().hex[:6]}"
    group = f"{settings['resource_group']}-{stack}"
    doc = {
        **example,
        "stack": stack,
        "state": state_block("sqlite", tmp_path),
        "providers": {"azure": provider_config(
            arm, resource_group=group, location=settings["location"], tags=settings["tags"]
        )},
    }  # fmt: skip
    async with iac_worker(client) as queue:
        applied = await (await start(client, "ApplyWorkflow", queue,
                                     {**doc, "auto_approve": True})).result()  # fmt: skip
        assert applied.status == "applied", applied.errors
        assert applied.counts == {"create": len(example["resources"])}
        out = {r.name: r.outputs for r in applied.resources}
        assert out["orders-db"]["storage_gb"] == 100 and out["sessions"]["instance_type"] == "C0"
        assert out["orders-db"]["instance_type"] == "GP_S_Gen5_2"  # size s: serverless
        assert out["web"]["env"]["ORDERS_DB_HOST"] == out["orders-db"]["fqdn"]
        assert out["assets"]["tags"] == {"project": "shop", "env": "demo"}
        drift = await (await start(client, "DriftWorkflow", queue, doc)).result()
        assert not drift.drifted, drift.results
        destroyed = await (await start(
            client, "DestroyWorkflow", queue,
            {**doc, "auto_approve": True, "allow_replace": ["orders-db"]},
        )).result()  # fmt: skip
    assert destroyed.status == "applied", destroyed.errors
    assert len(destroyed.destroyed) == len(example["resources"])


async def test_a_private_image_pull_keeps_the_registry_password_out_of_history(
    client: Client, arm: ArmFake, tmp_path: Path
) -> None:
    stack = f"az-{uuid.uuid4().hex[:8]}"
    doc = {
        "stack": stack,
        "state": state_block("sqlite", tmp_path),
        "providers": {"azure": provider_config(arm)},
        "resources": [
            {"name": "images", "type": "infra.registry", "config": {"admin_user": True}},
            {"name": "web", "type": "infra.container_service", "size": "xs",
             "config": {"image": "${images.outputs.login_server}/web:1",
                        "registry_id": "${images.outputs.registry_id}"}},
        ],
        "auto_approve": True,
    }  # fmt: skip
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, doc)
        applied = await handle.result()
        assert applied.status == "applied", applied.errors
        history = (await handle.fetch_history()).to_json()
    registry = next(r for r in applied.resources if r.name == "images")
    password = arm.registry_passwords[registry.provider_id.lower()]
    group = next(r for r in applied.resources if r.name == "web")
    sent = arm.requests("PUT", group.provider_id)[-1].body["properties"]
    assert sent["imageRegistryCredentials"][0]["password"] == password  # ARM got it...
    assert password not in history  # ...the workflow's history never did
    assert group.outputs["registry_server"] == registry.outputs["login_server"]
