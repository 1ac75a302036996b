"""Run pipelines from a YAML text on the real dev server with an in-process worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from temporalio.client import Client

from activities.pipeline_catalog import PipelineCatalog
from activities.step_catalog import default_registry
from activities.steps.egress import EgressPolicy, configure_egress
from wfctl.client import PipelineExecutor
from worker import pipeline_worker
from workflows import task_queues

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# The tests' HTTP servers are all on loopback, the only place the network guard lets them go.
LOOPBACK = EgressPolicy.parse("loopback")


@contextmanager
def loopback_egress() -> Iterator[None]:
    """step.http_call in this process may reach loopback (and only loopback) meanwhile."""
    before = configure_egress(LOOPBACK)
    try:
        yield
    finally:
        configure_egress(before)


@asynccontextmanager
async def running_pipelines(
    client: Client, config: str | Path, iac_task_queue: str = task_queues.IAC
) -> AsyncIterator[PipelineExecutor]:
    """A worker serving `config` (a path or YAML text) on a fresh task queue, with
    step.http_call allowed to loopback; its IaC steps run on `iac_task_queue`."""
    registry = default_registry()
    if isinstance(config, Path):
        catalog = PipelineCatalog.load(config, registry)
    else:
        from engine.pipeline_config import parse_pipelines_text

        catalog = PipelineCatalog(parse_pipelines_text(config, "<test>", registry))
    task_queue = f"test-pipelines-{uuid.uuid4().hex[:8]}"
    with loopback_egress():
        async with pipeline_worker(client, catalog, registry, task_queue, iac_task_queue):
            yield PipelineExecutor(client, task_queue=task_queue)
