"""Safe upgrades: runs started on worker version A finish on A after B becomes current.

Version B serves a PipelineWorkflow and an ApplyWorkflow whose commands differ from A's
entirely: were a waiting run handed to B, its replay would fail with a nondeterminism error
instead of completing. Deployments are set with the real `temporal worker deployment`
commands the README documents. Each test uses its own task queues and deployment name, so
the shared server's other task queues stay unversioned."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import VersioningBehavior
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

import tests.iac_test_provider  # noqa: F401  (registers the "test" provider type)
from activities.pipeline_catalog import PipelineCatalog
from activities.step_catalog import default_registry
from engine.pipeline_config import parse_pipelines_text
from tests.iac_wf_support import Stack, wait_for_phase, wait_for_plan
from tests.versioning_next_workflow import ChangedApplyWorkflow, ChangedPipelineWorkflow
from wfctl.client import PipelineExecutor
from wfctl.connection import ConnectionSettings
from wfctl.dev import temporal_binary
from wfctl.input_guard import guarded_worker
from wfctl.versioning import (
    WORKFLOW_CODE,
    code_hash,
    default_build_id,
    deployment_config,
    server_supports_versioning,
)
from worker import iac_worker, parse_args, pipeline_worker, serve, workflow_runner
from worker import main as worker_main
from workflows import search_attributes

PIPELINES = """
pipelines:
  release:
    steps:
      - name: approve
        type: step.wait_for_approval
        config: {message: "ship?"}
      - name: done
        type: step.set
        config: {values: {shipped: "yes"}}
"""


def deployment_cli(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [temporal_binary(), "worker", "deployment", *args, "--address", address, "--yes"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


async def set_current(address: str, deployment: str, build_id: str) -> None:
    """The version becomes current once the server has seen its pollers."""
    for _ in range(100):
        done = deployment_cli(
            address, "set-current-version", "--deployment-name", deployment, "--build-id", build_id
        )
        if done.returncode == 0:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"set-current-version {build_id}: {done.stderr.strip()}")


async def completing_build_id(client: Client, workflow_id: str) -> str:
    """The build id of the worker that completed the run's last workflow task."""
    build_ids = [
        event.workflow_task_completed_event_attributes.deployment_version.build_id
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    return build_ids[-1]


@asynccontextmanager
async def version_b(
    client: Client, task_queue: str, iac_task_queue: str, deployment: str
) -> AsyncIterator[None]:
    """Both queues, as a real worker: a version becomes current only once all of its
    deployment's task queues are polled."""
    b = deployment_config(deployment, "B")
    pipelines = guarded_worker(
        client, task_queue=task_queue, workflows=[ChangedPipelineWorkflow],
        workflow_runner=workflow_runner(), deployment_config=b,
    )  # fmt: skip
    stacks = guarded_worker(
        client, task_queue=iac_task_queue, workflows=[ChangedApplyWorkflow],
        workflow_runner=workflow_runner(), deployment_config=b,
    )  # fmt: skip
    async with pipelines, stacks:
        yield


async def start_apply(client: Client, queue: str, stack: Stack) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        "ApplyWorkflow", stack.document(), id=stack.workflow_id, task_queue=queue,
        result_type=dict,
    )  # fmt: skip


async def waiting_for_approval(executor: PipelineExecutor, workflow_id: str) -> None:
    for _ in range(200):
        try:
            if await executor.pending_approvals(workflow_id):
                return
        except Exception:  # no worker has the run yet
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} never waited for an approval")


async def test_running_pipeline_and_apply_finish_on_their_version_while_new_runs_go_to_the_next(
    client: Client, tmp_path: Path
) -> None:
    reason = await server_supports_versioning(client)
    if reason is not None:
        pytest.skip(f"the dev server has no worker deployments: {reason}")
    address = client.service_client.config.target_host
    suffix = uuid.uuid4().hex[:8]
    task_queue, iac_queue = f"test-versioning-{suffix}", f"test-versioning-iac-{suffix}"
    deployment = f"wfctl-test-{suffix}"
    registry = default_registry()
    catalog = PipelineCatalog(parse_pipelines_text(PIPELINES, "<test>", registry))
    executor = PipelineExecutor(client, task_queue=task_queue)
    old_stack = Stack(tmp_path).add("db")
    new_stack = Stack(tmp_path).add("db")

    a = deployment_config(deployment, "A")
    async with (
        pipeline_worker(client, catalog, registry, task_queue, iac_queue, deployment=a),
        iac_worker(client, iac_queue, deployment=a),
    ):
        await set_current(address, deployment, "A")
        old = await executor.start_pipeline("release", run="old")
        old_apply = await start_apply(client, iac_queue, old_stack)
        await waiting_for_approval(executor, old.id)
        await wait_for_phase(old_apply, "approval")
        plan = await wait_for_plan(old_apply)

        async with version_b(client, task_queue, iac_queue, deployment):
            await set_current(address, deployment, "B")
            new = await executor.start_pipeline("release", run="new")
            new_apply = await start_apply(client, iac_queue, new_stack)
            assert await new.result() == {"served_by": "B"}
            assert await new_apply.result() == {"served_by": "B"}

            await executor.approve(old.id, "ada")
            assert (await old.result())["shipped"] == "yes"
            await old_apply.execute_update("approve", plan.plan_id)
            assert (await old_apply.result())["status"] == "applied"

    assert set(old_stack.cloud.live()) == {"db"} and not new_stack.cloud.live()
    for run, build_id in ((old, "A"), (old_apply, "A"), (new, "B"), (new_apply, "B")):
        assert await completing_build_id(client, run.id) == build_id, run.id
    info = (await old_apply.describe()).raw_description.workflow_execution_info.versioning_info
    assert info.behavior == VersioningBehavior.PINNED.value
    assert info.deployment_version.build_id == "A"


async def test_worker_without_server_deployments_says_so_once_and_runs_unversioned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server with worker deployments switched off, as an older or locked-down one is."""
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_binary(),
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=[
            "--dynamic-config-value", "system.enableDeploymentVersions=false",
        ],
    )  # fmt: skip
    try:
        address = env.client.service_client.config.target_host
        (tmp_path / "release.yaml").write_text(PIPELINES)
        settings = ConnectionSettings.from_env(address=address, namespace="default")
        stop = asyncio.Event()
        caplog.set_level(logging.INFO, logger="wfctl.worker")
        serving = asyncio.create_task(
            serve(settings, str(tmp_path), stop, with_iac=False, reload_interval=0,
                  deployment_name="wfctl", build_id="A")
        )  # fmt: skip
        executor = PipelineExecutor(env.client)
        run = await executor.start_pipeline("release", run="unversioned")
        await waiting_for_approval(executor, run.id)
        await executor.approve(run.id, "ada")
        assert (await run.result())["shipped"] == "yes"
        stop.set()
        await serving
    finally:
        await env.shutdown()
    warnings = [r.getMessage() for r in caplog.records if "versioning is off" in r.getMessage()]
    assert warnings == [
        "worker versioning is off: the server has no worker deployments (Worker Deployment "
        "Versions are disabled on this namespace.); running unversioned"
    ]


def test_build_id_is_the_package_version_and_changes_with_the_workflow_code(
    tmp_path: Path,
) -> None:
    for folder in WORKFLOW_CODE:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.py").write_text("x = 1\n")
    before = code_hash(tmp_path)
    assert code_hash(tmp_path) == before
    (tmp_path / "engine" / "a.py").write_text("x = 2\n")
    assert code_hash(tmp_path) != before
    assert default_build_id() == f"{metadata.version('wfctl')}-{code_hash()}"
    args = parse_args(["--versioning", "--deployment-name", "shop", "--build-id", "2.0"])
    assert (args.versioning, args.deployment_name, args.build_id) == (True, "shop", "2.0")
    assert parse_args([]).versioning is False


def test_a_build_id_without_versioning_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert worker_main(["--build-id", "2.0"]) == 2
    assert capsys.readouterr().err == "worker: --deployment-name and --build-id need --versioning\n"
