"""Hot reload: a changed config reaches new runs only; an invalid one is refused in one line."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from activities.pipeline_catalog import CatalogReloader, PipelineCatalog
from activities.step_catalog import default_registry
from wfctl.client import PipelineExecutor
from worker import pipeline_worker
from workflows.pipeline import PipelineWorkflow


def versioned(version: str, extra: str = "") -> str:
    return f"""
pipelines:
  versioned:
    steps:
      - name: nap
        type: step.sleep
        config: {{duration: "{{{{ nap }}}}"}}
      - name: stamp
        type: step.set
        config: {{values: {{version: {version}}}}}
{extra}"""


ADDED = """
  added:
    steps:
      - {name: hi, type: step.set, config: {values: {hi: true}}}
"""


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never held")


async def test_reload_changes_new_runs_only(
    client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "pipelines.yaml"
    config.write_text(versioned("one"))
    registry = default_registry()
    catalog = PipelineCatalog.load(config, registry)
    reloader = CatalogReloader(catalog, registry, config)
    queue = f"test-reload-{uuid.uuid4().hex[:8]}"
    executor = PipelineExecutor(client, task_queue=queue)
    stop = asyncio.Event()
    async with pipeline_worker(client, catalog, registry, queue):
        watching = asyncio.create_task(reloader.watch(stop, 0.1))
        try:
            running = await executor.start_pipeline("versioned", {"nap": "1500ms"})
            await until_status(running, "nap")

            config.write_text(versioned("two", ADDED))
            await until(lambda: "added" in catalog.names())
            assert (await executor.execute_pipeline("versioned", {"nap": 0}))["version"] == "two"
            assert await executor.execute_pipeline("added") == {"hi": True}
            # Started before the change: it keeps the definition recorded in its history.
            assert (await running.result())["version"] == "one"

            caplog.set_level(logging.INFO, logger="wfctl.config")
            config.write_text("pipelines:\n  versioned:\n    steps: []\n")
            await asyncio.sleep(0.5)  # several polls of the same invalid file
            rejected = [r for r in caplog.records if "reload rejected" in r.getMessage()]
            assert len(rejected) == 1
            assert "versioned" in rejected[0].getMessage()
            assert (await executor.execute_pipeline("versioned", {"nap": 0}))["version"] == "two"
        finally:
            stop.set()
            await watching


async def until_status(handle: WorkflowHandle[Any, Any], step: str) -> None:
    for _ in range(200):
        status = await handle.query(PipelineWorkflow.status)
        if status.current_step == step:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the run never reached {step}")
