"""Schedule triggers end to end: `wfctl schedules sync` makes a Temporal Schedule that fires
the pipeline, updates it when the trigger changes and deletes it when the trigger is gone."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from typer.testing import CliRunner, Result

from activities.step_catalog import default_registry
from engine.pipeline_config import parse_pipelines_text
from interfaces.errors import ConfigError
from tests.pipeline_harness import running_pipelines
from wfctl.cli import app
from wfctl.connection import ConnectionSettings
from wfctl.schedules import list_schedules, schedule_id
from worker import serve
from workflows.search_attributes import PIPELINE_NAME


def config_text(name: str, trigger: str) -> str:
    return f"""
pipelines:
  {name}:
    {trigger}
    steps:
      - name: stamp
        type: step.set
        config: {{values: {{seen: "{{{{ source }}}}"}}}}
"""


async def wfctl(client: Client, *args: str) -> Result:
    env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host}
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result


async def test_sync_creates_a_schedule_that_fires_then_updates_and_deletes_it(
    client: Client, tmp_path: Path
) -> None:
    name = f"tick-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "tick.yaml"
    config.write_text(config_text(
        name, "trigger: {type: schedule, interval: 1s, data: {source: clock}, overlap: skip}"
    ))
    async with running_pipelines(client, config) as executor:
        queue = executor.task_queue
        sync = ("schedules", "sync", "--config", str(config), "--task-queue", queue)
        created = await wfctl(client, *sync)
        sid = schedule_id(name)
        assert f"created   {sid}" in created.output

        handle = client.get_schedule_handle(sid)
        for _ in range(100):
            actions = (await handle.describe()).info.recent_actions
            if actions:
                break
            await asyncio.sleep(0.1)
        run = client.get_workflow_handle(actions[0].action.workflow_id)  # type: ignore[attr-defined]
        assert run.id.startswith(f"pipeline:{name}:scheduled-")
        assert await run.result() == {"source": "clock", "seen": "clock"}
        described = await run.describe()
        assert described.typed_search_attributes.get(PIPELINE_NAME) == name

        assert f"unchanged {sid}" in (await wfctl(client, *sync)).output
        listed = await wfctl(client, "schedules", "list", "--task-queue", queue, "--json")
        [row] = [json.loads(line) for line in listed.output.splitlines()]
        assert row["pipeline"] == name and row["spec"] == "every 0:00:01"

        config.write_text(config_text(name, 'trigger: {type: schedule, cron: "0 3 * * *"}'))
        assert f"updated   {sid}" in (await wfctl(client, *sync)).output
        spec = (await handle.describe()).schedule.spec
        assert not spec.intervals and [c.hour[0].start for c in spec.calendars] == [3]

        config.write_text(config_text(name, ""))
        assert f"deleted   {sid}" in (await wfctl(client, *sync)).output
        with pytest.raises(RPCError) as gone:
            await handle.describe()
        assert gone.value.status == RPCStatusCode.NOT_FOUND


def test_trigger_needs_exactly_one_of_cron_and_interval() -> None:
    for trigger, problem in [
        ("trigger: {type: schedule}", "give either `cron` or `interval`"),
        ('trigger: {type: schedule, cron: "* *"}', "needs 5 fields"),
        ("trigger: {type: schedule, interval: 1s, overlap: sometimes}", "overlap"),
    ]:
        with pytest.raises(ConfigError) as info:
            parse_pipelines_text(config_text("p", trigger), "t.yaml", default_registry())
        assert problem in "\n".join(info.value.problems)


async def test_worker_syncs_schedules_at_start_and_after_a_reload(
    client: Client, tmp_path: Path
) -> None:
    name = f"nightly-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "nightly.yaml"
    config.write_text(config_text(name, 'trigger: {type: schedule, cron: "0 3 * * *"}'))
    queue = f"test-serve-{uuid.uuid4().hex[:8]}"
    settings = ConnectionSettings.from_env(address=client.service_client.config.target_host)
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(
        settings, str(config), stop, with_iac=False, task_queue=queue,
        sync_schedules=True, reload_interval=0.1,
    ))
    handle = client.get_schedule_handle(schedule_id(name))
    try:
        for _ in range(100):
            if [row for row in await list_schedules(client, queue) if row.pipeline == name]:
                break
            await asyncio.sleep(0.1)
        assert (await handle.describe()).schedule.state.note.endswith("0 3 * * *")
        config.write_text(config_text(name, ""))
        for _ in range(100):
            try:
                await handle.describe()
            except RPCError as exc:
                assert exc.status == RPCStatusCode.NOT_FOUND
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the schedule outlived its trigger")
    finally:
        stop.set()
        await serving
