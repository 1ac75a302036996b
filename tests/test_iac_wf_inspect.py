"""Drift (changed fields and ghosts), import of an existing resource, live status."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from interfaces.iac import ResourceSpec, ResourceStatus
from statestore import open_state_store
from tests.iac_test_provider import TestDriver
from tests.iac_wf_support import Stack, iac_worker, start


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_drift_reports_changed_fields_and_ghosts(
    client: Client, tmp_path: Path, backend: str
) -> None:
    stack = Stack(tmp_path, backend)
    stack.add("same", config={"size": 1})
    stack.add("changed", config={"size": 1, "tags": {"env": "prod"}})
    stack.add("ignored", config={"tags": "a"}, lifecycle={"ignore_changes": ["tags"]})
    stack.add("ghost", config={"size": 1})
    async with iac_worker(client) as queue:
        applied = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await applied.result()).status == "applied"

        clean = await start(client, "DriftWorkflow", queue, stack.document())
        assert (await clean.result()).drifted is False

        stack.cloud.set_config("changed", "size", 3)
        stack.cloud.set_config("ignored", "tags", "b")
        stack.cloud.remove("ghost")
        report = await (await start(client, "DriftWorkflow", queue, stack.document())).result()
    assert report.drifted and report.checked == 4
    assert report.ghosts == ["ghost"]
    by_name = {result.name: result for result in report.results}
    assert set(by_name) == {"changed", "ghost"}
    assert by_name["changed"].fields == ["config.size"]
    assert by_name["changed"].expected == {"config.size": 1}
    assert by_name["changed"].actual == {"config.size": 3}


async def test_import_adopts_an_existing_resource_then_status_reads_it(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path)
    stack.add("legacy", config={"size": 5})
    driver = TestDriver("test.thing", stack.cloud, {})
    made = driver.create(ResourceSpec(name="legacy", type="test.thing", config={"size": 5}))
    async with iac_worker(client) as queue:
        imported = await (
            await start(
                client,
                "ImportWorkflow",
                queue,
                stack.document(
                    resource={
                        "name": "legacy",
                        "type": "test.thing",
                        "provider": "main",
                        "id": made.provider_id,
                    }
                ),
            )
        ).result()
        assert imported.provider_id == made.provider_id and imported.provider == "main"

        # The imported resource matches the stack: nothing to do.
        plan = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await plan.result()).status == "no_changes"

        status = await (
            await start(
                client, "StatusWorkflow", queue, stack.document(), f"stack:{stack.name}:status:1"
            )
        ).result()
    assert [(r.name, r.status) for r in status.resources] == [("legacy", ResourceStatus.READY)]
    assert stack.cloud.fresh_creates() == {"legacy": 1}
    store = open_state_store(stack.state, stack.name)
    try:
        assert store.get_resource("legacy").provider_id == made.provider_id  # type: ignore[union-attr]
    finally:
        store.close()
