"""References to resources an apply makes anew: ghosts recreated, dependencies replaced.

What a Terraform user expects: one apply brings the dependents along (updated, or replaced
when the field holding the reference forces a new resource), in an order a real cloud
accepts (no resource deleted while another still uses it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from statestore import open_state_store
from tests.iac_wf_support import Stack, iac_worker, start


def call_log(stack: Stack) -> list[dict[str, Any]]:
    return [c for c in stack.cloud.calls() if c["op"] in ("create", "update", "delete")]


def span(calls: list[dict[str, Any]], op: str, name: str) -> dict[str, Any]:
    (found,) = [c for c in calls if (c["op"], c["name"]) == (op, name)]
    return found


def before(first: dict[str, Any], then: dict[str, Any]) -> bool:
    return bool(first["ended"] <= then["started"])


async def test_a_ghost_and_its_dependent_are_repaired_in_one_apply(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path, latency=0.02)
    stack.add("cache", "test.database", config={"size": 1})
    stack.add("dns", config={"target": "${cache.outputs.id}", "ttl": 60})
    async with iac_worker(client) as queue:
        first = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await first.result()).status == "applied"
        old_cache = stack.cloud.live()["cache"]["provider_id"]
        stack.cloud.remove("cache")  # deleted behind the engine's back

        repair = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        result = await repair.result()
        assert result.status == "applied", result.errors
        assert result.counts == {"create": 1, "update": 1}
        live = stack.cloud.live()
        assert live["cache"]["provider_id"] != old_cache
        assert live["dns"]["config"] == {"target": live["cache"]["provider_id"], "ttl": 60}

        store = open_state_store(stack.state, stack.name)
        try:
            states = {s.name: s for s in store.list_resources()}
        finally:
            store.close()
        assert states["cache"].provider_id == live["cache"]["provider_id"]
        assert states["dns"].applied_config["target"] == live["cache"]["provider_id"]

        again = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await again.result()).status == "no_changes"


@pytest.mark.parametrize("create_before_destroy", [False, True])
async def test_a_replaced_dependency_replaces_users_holding_it_in_a_force_new_field(
    client: Client, tmp_path: Path, create_before_destroy: bool
) -> None:
    stack = Stack(tmp_path, latency=0.05, force_new=["cidr", "vpc"])
    stack.add("net", "test.network", config={"cidr": "10.0.0.0/16"},
              lifecycle={"create_before_destroy": create_before_destroy})  # fmt: skip
    stack.add("fw", config={"vpc": "${net.outputs.id}"})  # force-new: replaced
    stack.add("app", config={"net": "${net.outputs.id}"})  # in place: updated
    async with iac_worker(client) as queue:
        first = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await first.result()).status == "applied"
        old = {name: r["provider_id"] for name, r in stack.cloud.live().items()}
        applied = len(call_log(stack))

        stack.resources[0]["config"] = {"cidr": "10.1.0.0/16"}
        second = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        result = await second.result()
    assert result.status == "applied", result.errors
    assert result.counts == {"replace": 2, "update": 1}
    live = stack.cloud.live()
    assert live["fw"]["config"] == {"vpc": live["net"]["provider_id"]}
    assert live["app"]["config"] == {"net": live["net"]["provider_id"]}
    assert live["app"]["provider_id"] == old["app"]  # updated in place
    assert live["fw"]["provider_id"] != old["fw"] and live["net"]["provider_id"] != old["net"]

    calls = call_log(stack)[applied:]
    delete_fw, delete_net = span(calls, "delete", "fw"), span(calls, "delete", "net")
    create_fw, create_net = span(calls, "create", "fw"), span(calls, "create", "net")
    update_app = span(calls, "update", "app")
    assert delete_net["provider_id"] == old["net"] and delete_fw["provider_id"] == old["fw"]
    assert before(delete_fw, create_fw) and before(create_net, create_fw)
    assert before(create_net, update_app)
    if create_before_destroy:
        # New VPC first, its users moved to it, then the old VPC goes.
        assert before(create_fw, delete_net) and before(update_app, delete_net)
    else:
        # The old firewall goes before the old VPC, which goes before the new VPC.
        assert before(delete_fw, delete_net) and before(delete_net, create_net)
