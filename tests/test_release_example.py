"""examples/release.yaml end to end on the dev server and moto: plan, the approver reads the
plan in `wfctl pipeline pending` and approves with `wfctl pipeline approve`, the apply of that
plan makes the bucket, the echo server's health check passes and the webhook hears; a rerun
with nothing to change skips the approval; a release whose health check keeps failing puts
the previous release back and fails the run saying so. Then examples/drift-watch.yaml on the
same stack stays quiet until the bucket is changed by hand, and then calls its webhook."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)

from examples.echo_server import EchoServer, start_in_thread
from tests.iac_wf_support import iac_worker
from tests.pipeline_harness import EXAMPLES, running_pipelines
from wfctl.client import PipelineExecutor

pytest_plugins = ["tests.aws_fixtures"]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    _, server = start_in_thread()
    yield server
    server.stop()


async def waiting(executor: PipelineExecutor, handle: WorkflowHandle[Any, Any]) -> None:
    for _ in range(300):
        try:
            if await executor.pending_approvals(handle.id):
                return
        except Exception:  # no worker has the run yet
            pass
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            raise AssertionError(f"{handle.id} ended before its approval: {await handle.result()}")
        await asyncio.sleep(0.1)
    raise AssertionError(f"{handle.id} never waited for an approval")


def wfctl(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wfctl", "--address", address, "pipeline", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


async def approve_with_wfctl(
    executor: PipelineExecutor, handle: WorkflowHandle[Any, Any], address: str
) -> str:
    """What `wfctl pipeline pending` showed, after approving with `wfctl pipeline approve`."""
    await waiting(executor, handle)
    shown = await asyncio.to_thread(wfctl, address, "pending", handle.id)
    assert shown.returncode == 0, shown.stderr
    approved = await asyncio.to_thread(
        wfctl, address, "approve", handle.id, "--approver", "ada", "--comment", "ship it"
    )
    assert approved.returncode == 0, approved.stderr
    assert "approve: approved by ada" in approved.stdout
    return shown.stdout


async def test_release_example_on_moto(
    client: Client, tmp_path: Path, moto_endpoint: str, aws_provider: Any, echo: EchoServer
) -> None:
    # Copies, so the examples' relative state path (.data/) lands in tmp_path.
    for name in ("release.yaml", "drift-watch.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    address = client.service_client.config.target_host
    s3 = aws_provider(stack="release-sandbox").context.session.client("s3")
    base = {"approver": "ada", "aws_endpoint": moto_endpoint,
            "health_url": f"{echo.url}/status/200", "notify_url": f"{echo.url}/echo"}  # fmt: skip

    def release_tag() -> str:
        tags = s3.get_bucket_tagging(Bucket="release-sandbox-site")["TagSet"]
        return {t["Key"]: t["Value"] for t in tags}["release"]

    async with iac_worker(client) as queue, running_pipelines(
        client, tmp_path, iac_task_queue=queue
    ) as executor:
        handle = await executor.start_pipeline("release", {**base, "image_tag": "v1"})
        shown = await approve_with_wfctl(executor, handle, address)
        assert 'infra.storage "site"' in shown and "Plan: 1 to create" in shown, shown
        result = await handle.result()
        assert result["changed"] is True and result["status"] == "applied", result
        assert result["counts"] == {"create": 1, "update": 0, "replace": 0, "delete": 0}
        assert result["approved_by"] == "ada"
        assert result["resources"]["site"]["bucket"] == "release-sandbox-site"
        assert release_tag() == "v1"
        assert echo.request_counts["/echo"] == 1  # the notification

        # The same release again: nothing to change, so no approval and no apply.
        again = await executor.execute_pipeline("release", {**base, "image_tag": "v1"})
        assert again["changed"] is False and again["status"] == "unchanged", again
        assert echo.request_counts["/echo"] == 2

        # v2 applies, then its health check keeps failing: v1 is put back.
        failing = {**base, "image_tag": "v2", "health_url": f"{echo.url}/status/503"}
        handle = await executor.start_pipeline("release", failing)
        shown = await approve_with_wfctl(executor, handle, address)
        assert "Plan: 0 to create, 1 to update" in shown, shown
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        assert "release v2 failed its health check; v1 is back" in str(failed.value.cause)
        assert echo.request_counts["/status/503"] == 4  # the step's retries, then rollback
        assert release_tag() == "v1"
        assert echo.request_counts["/echo"] == 2  # no notification of a failed release

        # drift-watch on the same stack: quiet while the cloud matches the state...
        watch = {"aws_endpoint": moto_endpoint, "webhook_url": f"{echo.url}/echo/drift"}
        quiet = await executor.execute_pipeline("drift-watch", watch)
        assert quiet == {"drifted": False, "resources": []}
        assert echo.request_counts["/echo/drift"] == 0
        # ...and the webhook hears when someone changes the bucket by hand.
        s3.put_bucket_versioning(
            Bucket="release-sandbox-site", VersioningConfiguration={"Status": "Suspended"}
        )
        drifted = await executor.execute_pipeline("drift-watch", watch)
        assert drifted == {"drifted": True, "resources": ["site"]}
        assert echo.request_counts["/echo/drift"] == 1
