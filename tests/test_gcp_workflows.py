"""The GCP provider through the IaC workflows on the dev server, against the local GCE fake.

Every driver's lifecycle (plan/apply create, drift, ghost, update, replace, destroy), an
insert retried after its worker was SIGKILLed mid-operation (deduplicated by requestId), and
an operation ending in QUOTA_EXCEEDED failing the action at once.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.iac import iac_activities
from providers.gcp.drivers import DRIVERS
from tests.declared_outputs import assert_outputs_declared
from tests.fakes.gcp import GcpFake, Recorded
from tests.iac_wf_support import iac_worker, start
from tests.test_iac_wf_crash import spawn_worker
from workflows.iac import IAC_WORKFLOWS

PROJECT = "wf-project"
REGION = "us-central1"


@pytest.fixture(scope="module")
def fake() -> Iterator[GcpFake]:
    with GcpFake(pending_polls=2) as server:
        yield server


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def document(
    fake: GcpFake, stack: str, tmp_path: Path, resources: list[dict[str, Any]], **options: Any
) -> dict[str, Any]:
    return {
        "stack": stack,
        "state": {"backend": "sqlite", "path": str(tmp_path / f"{stack}.db")},
        "providers": {"gcp": {"type": "gcp", "project": PROJECT, "region": REGION,
                              "endpoint": fake.url, "anonymous_credentials": True,
                              "poll_interval": 0.02, "wait_timeout": 30,
                              "labels": {"env": "test"}}},
        "resources": resources,
        **options,
    }  # fmt: skip


async def test_every_gcp_driver_applies_drifts_updates_replaces_and_destroys(
    client: Client, fake: GcpFake, tmp_path: Path
) -> None:
    stack = unique("shop")
    resources: list[dict[str, Any]] = [
        {"name": "net", "type": "infra.vpc", "config": {"subnets": ["10.20.1.0/24"]}},
        {"name": "web-fw", "type": "infra.firewall",
         "config": {"network": "${net.outputs.network}", "target_tags": ["web"],
                    "allow": [{"protocol": "tcp", "ports": [80]}]}},
        {"name": "web", "type": "infra.instance", "size": "xs",
         "config": {"network": "${net.outputs.network}",
                    "subnetwork": "${net.outputs.subnetwork}",
                    "network_tags": ["web"], "labels": {"role": "web"}}},
        {"name": "cert", "type": "infra.certificate",
         "config": {"domains": [f"{stack}.example.com"]}},
        {"name": "lb", "type": "infra.load_balancer",
         "config": {"instances": ["${web.outputs.self_link}"],
                    "certificates": ["${cert.outputs.certificate}"]}},
        {"name": "db", "type": "infra.database", "size": "xs",
         "config": {"engine": "postgres", "version": "16"}},
        {"name": "cache", "type": "infra.cache", "size": "xs",
         "config": {"network": "${net.outputs.network}"}},
    ]  # fmt: skip

    async with iac_worker(client) as queue:

        async def run(workflow: str, **options: Any) -> Any:
            doc = document(fake, stack, tmp_path, resources, **options)
            return await (await start(client, workflow, queue, doc)).result()

        applied = await run("ApplyWorkflow", auto_approve=True)
        assert applied.status == "applied", applied.errors
        assert applied.counts == {"create": len(resources)}
        assert_outputs_declared(applied.resources, DRIVERS)
        outputs = {r.name: r.outputs for r in applied.resources}
        assert outputs["web"]["instance_type"] == "e2-micro"  # size xs
        assert (outputs["db"]["instance_type"], outputs["db"]["storage_gb"]) == ("db-f1-micro", 10)
        assert (outputs["cache"]["tier"], outputs["cache"]["memory_size_gb"]) == ("BASIC", 1)
        assert outputs["lb"]["protocol"] == "HTTPS"
        assert outputs["lb"]["instances"] == [outputs["web"]["self_link"]]
        assert outputs["web"]["labels"] == {"env": "test", "role": "web"}
        # Every compute insert carried a requestId; every operation was polled on the fake.
        inserts = [r for r in fake.calls("POST", r"^/compute/") if not r.path.endswith(
            ("/setLabels", "/listInstances", "/wait"))]  # fmt: skip
        assert inserts and all(r.query.get("requestId") for r in inserts)
        assert fake.calls("GET", r"/zones/us-central1-a/operations/")
        assert fake.calls("GET", r"/regions/us-central1/operations/")
        assert fake.calls("GET", r"/global/operations/")

        assert not (await run("DriftWorkflow")).drifted

        # Behind the engine's back: a bigger machine type, and the cache deleted.
        web_key = f"zones/us-central1-a/instances/{outputs['web']['instance']}"
        fake.change(web_key, machineType="zones/us-central1-a/machineTypes/e2-standard-4")
        fake.redis.pop(outputs["cache"]["instance"])
        drift = await run("DriftWorkflow")
        assert drift.drifted and drift.ghosts == ["cache"]
        by_name = {r.name: r for r in drift.results}
        assert by_name["web"].fields == ["config.instance_type"]
        assert by_name["web"].actual == {"config.instance_type": "e2-standard-4"}

        # Apply puts the machine type back (stop, set, start) and makes the cache again.
        resources[2]["config"]["labels"] = {"role": "frontend"}
        updated = await run("ApplyWorkflow", auto_approve=True)
        assert updated.status == "applied", updated.errors
        assert updated.counts.get("update") == 1
        web = next(r for r in updated.resources if r.name == "web").outputs
        assert web["instance_type"] == "e2-micro" and web["labels"]["role"] == "frontend"
        assert fake.calls("POST", r"/instances/[^/]+/stop$")
        assert len(fake.redis) == 1
        assert not (await run("DriftWorkflow")).drifted

        # A new Postgres version needs a new Cloud SQL instance (and a new name).
        resources[5]["config"]["version"] = "15"
        replaced = await run("ApplyWorkflow", auto_approve=True)
        assert replaced.status == "applied", replaced.errors
        assert replaced.counts == {"replace": 1}
        db = next(r for r in replaced.resources if r.name == "db")
        assert db.outputs["version"] == "15" and db.provider_id != outputs["db"]["instance"]
        assert list(fake.sql) == [db.provider_id]

        destroyed = await run("DestroyWorkflow", auto_approve=True)
    assert destroyed.status == "applied", destroyed.errors
    assert sorted(destroyed.destroyed) == sorted(r["name"] for r in resources)
    assert not [k for k in fake.resources if stack in k]
    assert not fake.sql and not fake.redis


async def test_an_insert_retried_after_its_worker_died_is_deduplicated(
    client: Client, fake: GcpFake, tmp_path: Path
) -> None:
    stack = unique("crash")
    resources = [{"name": "net", "type": "infra.vpc", "config": {}}]
    doc = document(fake, stack, tmp_path, resources, auto_approve=True, heartbeat_timeout=1.0)
    network_path = rf"/projects/{PROJECT}/global/networks$"

    def inserts() -> list[Recorded]:
        made = fake.calls("POST", network_path)
        return [r for r in made if r.body.get("name") == f"{stack}-net"]

    queue = f"gcp-crash-{uuid.uuid4()}"
    address = client.service_client.config.target_host
    fake.hold = True  # the insert's operation stays RUNNING while the worker dies
    worker = await asyncio.to_thread(spawn_worker, address, queue)
    try:
        # A workflow task the killed worker had started goes to the next one after 3 s.
        handle = await start(
            client, "ApplyWorkflow", queue, doc, task_timeout=timedelta(seconds=3)
        )
        for _ in range(400):
            if inserts():
                break
            await asyncio.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    finally:
        if worker.poll() is None:
            worker.kill()
    fake.release()
    assert not fake.find(f"global/networks/{stack}-net")  # not made yet: its operation pends

    with ThreadPoolExecutor(8) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=IAC_WORKFLOWS,
            activities=iac_activities(client),
            activity_executor=executor,
        ):
            outcome = await asyncio.wait_for(handle.result(), timeout=60)
    assert outcome.status == "applied", outcome.errors
    first, retried = inserts()  # the dead worker's and the retry's
    assert first.query["requestId"] == retried.query["requestId"]
    assert len(fake.find(rf"global/networks/{stack}-net$")) == 1
    made = [op for op in fake.operations.values()
            if op.kind == "compute" and op.body["operationType"] == "insert"
            and op.body["targetLink"].endswith(f"/networks/{stack}-net")]  # fmt: skip
    assert len(made) == 1


async def test_an_operation_failing_with_quota_exceeded_fails_the_action_at_once(
    client: Client, fake: GcpFake, tmp_path: Path
) -> None:
    stack = unique("quota")
    resources = [{"name": "vm", "type": "infra.instance", "size": "l", "config": {}}]
    message = "Quota 'CPUS' exceeded.  Limit: 8.0 in region us-central1."
    fake.fail_operation(rf"instances/{stack}-vm$", "QUOTA_EXCEEDED", message)
    async with iac_worker(client) as queue:
        doc = document(fake, stack, tmp_path, resources, auto_approve=True)
        handle = await start(client, "ApplyWorkflow", queue, doc)
        outcome = await asyncio.wait_for(handle.result(), timeout=30)
    assert outcome.status == "failed"
    assert "QUOTA_EXCEEDED" in outcome.errors[0].error and "CPUS" in outcome.errors[0].error
    # Final, not retried: one insert only.
    posted = fake.calls("POST", r"/zones/[^/]+/instances$")
    vm_inserts = [r for r in posted if r.body.get("name") == f"{stack}-vm"]
    assert len(vm_inserts) == 1
    assert vm_inserts[0].body["machineType"].endswith("/n2-standard-4")  # size l


async def test_an_insert_whose_operation_failed_transiently_is_retried_under_a_new_request_id(
    client: Client, fake: GcpFake, tmp_path: Path
) -> None:
    stack = unique("blip")
    fake.fail_operation(rf"global/networks/{stack}-net$", "INTERNAL_ERROR", "blip", 503)
    resources = [{"name": "net", "type": "infra.vpc", "config": {}}]
    async with iac_worker(client) as queue:
        doc = document(fake, stack, tmp_path, resources, auto_approve=True)
        outcome = await (await start(client, "ApplyWorkflow", queue, doc)).result()
    assert outcome.status == "applied", outcome.errors
    posted = fake.calls("POST", r"/global/networks$")
    ids = [r.query["requestId"] for r in posted if r.body.get("name") == f"{stack}-net"]
    # The failed attempt's id, sent again by Temporal's retry (Google answers with the failed
    # operation), then the next id of the same series, which makes the network.
    assert len(ids) == 3 and ids[0] == ids[1] != ids[2]
    assert len(fake.find(rf"global/networks/{stack}-net$")) == 1


async def test_a_database_destroyed_then_applied_again_gets_a_name_of_its_own(
    client: Client, fake: GcpFake, tmp_path: Path
) -> None:
    # Cloud SQL may keep a deleted instance's name reserved (the fake always does).
    stack = unique("again")
    resources = [{"name": "db", "type": "infra.database", "size": "xs", "config": {}}]
    async with iac_worker(client) as queue:

        async def run(workflow: str) -> Any:
            doc = document(fake, stack, tmp_path, resources, auto_approve=True)
            return await (await start(client, workflow, queue, doc)).result()

        first = await run("ApplyWorkflow")
        assert first.status == "applied", first.errors
        assert (await run("DestroyWorkflow")).status == "applied"
        second = await run("ApplyWorkflow")
        assert second.status == "applied", second.errors
        old, new = first.resources[0].provider_id, second.resources[0].provider_id
        assert old != new and new in fake.sql and old in fake.sql_reserved
        assert (await run("DestroyWorkflow")).status == "applied"
