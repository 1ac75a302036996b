"""Helpers for the IaC workflow tests: a worker on a private task queue, stack documents."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

import tests.iac_test_provider  # noqa: F401  (registers the "test" provider type)
from activities.iac import iac_activities
from interfaces.iac import ResourceState
from tests.conftest import PG_DSN
from tests.iac_test_provider import TestCloud
from wfctl.input_guard import guarded_worker
from workflows.iac import IAC_WORKFLOWS
from workflows.iac.ids import UNLOCKED_KINDS
from workflows.iac.models import (
    ApplyOutcome,
    DestroyOutcome,
    DriftReport,
    PlanOutcome,
    Progress,
    StatusReport,
)


@asynccontextmanager
async def iac_worker(
    client: Client, threads: int = 32, *, workflows: Sequence[type] = IAC_WORKFLOWS,
    **options: Any,
) -> AsyncIterator[str]:
    """A worker serving every IaC workflow and activity on a fresh task queue (yielded);
    `workflows` and `options` (e.g. a workflow_runner) change what it serves and how."""
    queue = f"iac-test-{uuid.uuid4()}"
    with ThreadPoolExecutor(threads) as executor:
        async with guarded_worker(
            client,
            task_queue=queue,
            workflows=list(workflows),
            activities=iac_activities(client),
            activity_executor=executor,
            max_concurrent_activities=threads,
            **options,
        ):
            yield queue


def state_block(backend: str, tmp_path: Path) -> dict[str, Any]:
    if backend == "postgres":
        return {"backend": "postgres", "dsn": PG_DSN}
    return {"backend": "sqlite", "path": str(tmp_path / "state.db")}


class Stack:
    """A stack document under construction, with its fake cloud."""

    def __init__(self, tmp_path: Path, backend: str = "sqlite", **provider: Any) -> None:
        self.name = f"t-{uuid.uuid4().hex[:10]}"
        self.cloud = TestCloud(tmp_path / f"{self.name}-cloud.db")
        self.provider: dict[str, Any] = {"type": "test", "cloud": str(self.cloud.path), **provider}
        self.state = state_block(backend, tmp_path)
        self.resources: list[dict[str, Any]] = []

    def add(self, name: str, type: str = "test.thing", **fields: Any) -> Stack:
        self.resources.append({"name": name, "type": type, **fields})
        return self

    def document(self, **options: Any) -> dict[str, Any]:
        return {
            "stack": self.name,
            "state": self.state,
            "providers": {"main": self.provider},
            "resources": self.resources,
            **options,
        }

    @property
    def workflow_id(self) -> str:
        return f"stack:{self.name}"


RESULT_TYPES: dict[str, type] = {
    "PlanWorkflow": PlanOutcome,
    "ApplyWorkflow": ApplyOutcome,
    "DestroyWorkflow": DestroyOutcome,
    "DriftWorkflow": DriftReport,
    "StatusWorkflow": StatusReport,
    "ImportWorkflow": ResourceState,
}


def default_id(workflow: str, stack: str) -> str:
    """The id `wfctl` would give the run (workflows.iac.ids): the lock for locking runs."""
    kind = UNLOCKED_KINDS.get(workflow)
    return f"stack:{stack}:{kind}:{uuid.uuid4().hex[:8]}" if kind else f"stack:{stack}"


async def start(
    client: Client,
    workflow: str,
    queue: str,
    doc: dict[str, Any],
    workflow_id: str = "",
    task_timeout: timedelta | None = None,
) -> WorkflowHandle[Any, Any]:
    """`task_timeout`: Temporal's workflow task timeout (10 s by default), which a test that
    kills workers shortens: a task the dead worker had started is given to another after it."""
    return await client.start_workflow(
        workflow,
        doc,
        id=workflow_id or default_id(workflow, doc["stack"]),
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        result_type=RESULT_TYPES[workflow],
        task_timeout=task_timeout,
    )


async def wait_for_phase(handle: WorkflowHandle[Any, Any], phase: str) -> None:
    """Wait until the run's progress says `phase` (e.g. "approval"); the run may not have
    started yet (a child a pipeline is about to start)."""
    for _ in range(400):
        try:
            if (await handle.query("progress", result_type=Progress)).phase == phase:
                return
        except RPCError:
            pass  # not started yet, or no workflow task has run
        await asyncio.sleep(0.05)
    raise AssertionError(f"the run never reached the {phase} phase")


async def wait_for_plan(handle: WorkflowHandle[Any, Any]) -> PlanOutcome:
    for _ in range(200):
        plan = await handle.query("plan", result_type=PlanOutcome)
        if plan is not None:
            return plan
        await asyncio.sleep(0.05)
    raise AssertionError("no plan")
