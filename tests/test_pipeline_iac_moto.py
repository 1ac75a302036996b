"""IaC pipeline steps against the real dev server and moto: plan -> approval (approved with
the Temporal CLI) -> apply of that plan makes the AWS resources; a state change while the plan
waits makes the apply stale and creates nothing; a worker SIGKILLed during the apply step
leaves, after the restart, each resource in moto exactly once; a `wfctl infra apply` is
refused while the pipeline applies, and cancelling the pipeline leaves no lock and every
resource moto holds in state."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError

from providers.aws.tags import STACK_TAG
from statestore.factory import open_state_store
from tests.iac_wf_support import iac_worker, start, wait_for_phase
from tests.pipeline_harness import running_pipelines
from tests.test_pipeline_iac import failure_of, spawn_worker
from wfctl.client import PipelineExecutor
from wfctl.dev import temporal_binary
from wfctl.stack_client import StackBusyError, StackClient, load_document

pytest_plugins = ["tests.aws_fixtures"]

RELEASE = """
pipelines:
  release:
    steps:
      - name: plan
        type: step.iac_plan
        config: {stack: stacks/aws.yaml}
      - name: gate
        type: step.wait_for_approval
        config:
          message: "apply this plan?"
          details: "{{ steps.plan.summary }}"
      - name: apply
        type: step.iac_apply
        config: {stack: stacks/aws.yaml, plan: "{{ steps.plan.plan_id }}"}
"""

APPLY_ONLY = """
pipelines:
  deploy:
    steps:
      - name: apply
        type: step.iac_apply
        config: {stack: stacks/aws.yaml, parallelism: 1}
"""


class AwsStack:
    """A stack file on moto (a VPC and `buckets` buckets) next to a pipelines file."""

    def __init__(
        self, folder: Path, endpoint: str, session: Any, buckets: int = 1, provider: str = ""
    ) -> None:
        self.name = f"m-{uuid.uuid4().hex[:10]}"
        self.buckets = [f"{self.name}-b{i}" for i in range(buckets)]
        (folder / "stacks").mkdir(exist_ok=True)
        self.path = folder / "stacks" / "aws.yaml"
        resources = "".join(
            f"  - {{name: b{i}, type: infra.storage, provider: aws, config: {{bucket: {b}}}}}\n"
            for i, b in enumerate(self.buckets)
        )
        self.path.write_text(
            f"stack: {self.name}\n"
            "state: {backend: sqlite, path: state.db}\n"
            f"providers:\n  aws: {{type: aws, region: us-east-1, endpoint_url: '{endpoint}',"
            f" max_attempts: 1{provider}}}\n"
            "resources:\n"
            "  - {name: net, type: infra.vpc, provider: aws, config: {cidr: 10.7.0.0/16}}\n"
            + resources
        )
        self.ec2 = session.client("ec2")
        self.s3 = session.client("s3")

    def document(self, **options: Any) -> dict[str, Any]:
        return {**load_document(self.path), **options}

    def vpcs(self) -> list[str]:
        found = self.ec2.describe_vpcs(
            Filters=[{"Name": f"tag:{STACK_TAG}", "Values": [self.name]}]
        )["Vpcs"]
        return [v["VpcId"] for v in found]

    def stack_buckets(self) -> list[str]:
        """Buckets in moto carrying this stack's tag, or no tags yet (a create cut short
        between CreateBucket and its tagging): one entry per bucket made."""
        names = []
        for bucket in self.s3.list_buckets()["Buckets"]:
            if not bucket["Name"].startswith(self.name):
                continue
            try:
                tags = self.s3.get_bucket_tagging(Bucket=bucket["Name"])["TagSet"]
            except self.s3.exceptions.ClientError as error:
                if error.response["Error"]["Code"] != "NoSuchTagSet":
                    raise
                tags = [{"Key": STACK_TAG, "Value": self.name}]
            if {"Key": STACK_TAG, "Value": self.name} in tags:
                names.append(bucket["Name"])
        return sorted(names)


@pytest.fixture
def session(aws_provider: Any) -> Any:
    return aws_provider().context.session


async def waiting(runs: PipelineExecutor, handle: WorkflowHandle[Any, Any]) -> Any:
    for _ in range(400):
        try:
            pending = await runs.pending_approvals(handle.id)
            if pending:
                return pending[0]
        except Exception:  # no worker has the run yet
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never waited for an approval")


async def approve_with_temporal_cli(client: Client, workflow_id: str) -> dict[str, Any]:
    command = [temporal_binary(), "workflow", "update", "execute", "--workflow-id", workflow_id,
               "--name", "approve", "--input", '{"approver": "ada", "comment": "ok"}',
               "--address", client.service_client.config.target_host, "--output", "json"]
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_plan_approved_with_the_temporal_cli_then_applied_makes_the_resources_on_moto(
    client: Client, tmp_path: Path, moto_endpoint: str, session: Any
) -> None:
    stack = AwsStack(tmp_path, moto_endpoint, session)
    (tmp_path / "pipelines.yaml").write_text(RELEASE)
    async with iac_worker(client) as queue, running_pipelines(
        client, tmp_path / "pipelines.yaml", queue
    ) as runs:
        handle = await runs.start_pipeline("release")
        pending = await waiting(runs, handle)
        # The approver reads the plan; nothing exists yet.
        assert pending.step == "gate"
        assert 'infra.vpc "net"' in pending.details and 'infra.storage "b0"' in pending.details
        assert "Plan: 2 to create, 0 to update, 0 to replace, 0 to destroy." in pending.details
        assert stack.vpcs() == [] and stack.stack_buckets() == []
        decided = await approve_with_temporal_cli(client, handle.id)
        assert "approved" in json.dumps(decided), decided
        result = await handle.result()
    assert result["status"] == "applied", result
    assert result["counts"] == {"create": 2, "update": 0, "replace": 0, "delete": 0}
    assert result["approval"]["approver"] == "ada" and result["approval"]["comment"] == "ok"
    vpcs = stack.vpcs()
    assert len(vpcs) == 1 and result["resources"]["net"]["vpc_id"] == vpcs[0]
    assert stack.ec2.describe_vpcs(VpcIds=vpcs)["Vpcs"][0]["CidrBlock"] == "10.7.0.0/16"
    assert stack.stack_buckets() == stack.buckets
    assert result["resources"]["b0"]["bucket"] == stack.buckets[0]


async def test_a_state_change_while_the_plan_waits_makes_the_apply_stale_on_moto(
    client: Client, tmp_path: Path, moto_endpoint: str, session: Any
) -> None:
    stack = AwsStack(tmp_path, moto_endpoint, session)
    (tmp_path / "pipelines.yaml").write_text(RELEASE)
    async with iac_worker(client) as queue, running_pipelines(
        client, tmp_path / "pipelines.yaml", queue
    ) as runs:
        handle = await runs.start_pipeline("release")
        await waiting(runs, handle)
        # A wfctl apply of the VPC alone moves the state on while the plan waits.
        direct = await start(
            client, "ApplyWorkflow", queue, stack.document(auto_approve=True, targets=["net"])
        )
        assert (await direct.result()).status == "applied"
        made = stack.vpcs()
        assert len(made) == 1
        await approve_with_temporal_cli(client, handle.id)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    message = failure_of(failure.value)
    assert 'step "apply" failed' in message and "stale" in message, message
    assert re.search(r"\(serial 0, now [1-9]\d*\)", message), message
    # Nothing of the stale plan was applied: the direct apply's VPC, and no bucket.
    assert stack.vpcs() == made
    assert stack.stack_buckets() == []


async def test_a_sigkill_of_the_worker_during_the_apply_step_makes_each_resource_once_on_moto(
    client: Client, tmp_path: Path, moto_endpoint: str, session: Any
) -> None:
    # The in-flight action is retried once its heartbeat times out (the provider's 2 s, not
    # the run's 30 s).
    stack = AwsStack(
        tmp_path, moto_endpoint, session, buckets=5, provider=", heartbeat_timeout: 2"
    )
    path = tmp_path / "pipelines.yaml"
    path.write_text(APPLY_ONLY)
    address = client.service_client.config.target_host
    pipeline_queue, iac_queue = f"p-kill-{uuid.uuid4()}", f"iac-kill-{uuid.uuid4()}"
    worker = await asyncio.to_thread(spawn_worker, address, path, pipeline_queue, iac_queue)
    try:
        handle = await PipelineExecutor(client, pipeline_queue).start_pipeline("deploy")
        while not (stack.vpcs() or stack.stack_buckets()):
            await asyncio.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(worker.wait)
        # Killed mid-apply: some of the stack is still to be made.
        made_before = len(stack.vpcs()) + len(stack.stack_buckets())
        assert made_before < 1 + len(stack.buckets)
        worker = await asyncio.to_thread(spawn_worker, address, path, pipeline_queue, iac_queue)
        result = await asyncio.wait_for(handle.result(), timeout=180)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert result["status"] == "applied", result
    assert len(stack.vpcs()) == 1
    assert stack.stack_buckets() == stack.buckets
    assert set(result["resources"]) == {"net", *(f"b{i}" for i in range(len(stack.buckets)))}
    entries, holder = recorded(stack)
    assert holder is None
    assert entries == {"net": stack.vpcs()[0], **{f"b{i}": b for i, b in enumerate(stack.buckets)}}


def recorded(stack: AwsStack) -> tuple[dict[str, str], Any]:
    """The stack's state entries (name -> cloud id) and its lock holder, read from its store."""
    store = open_state_store(stack.document()["state"], stack.name)
    try:
        entries = {state.name: state.provider_id for state in store.list_resources()}
        return entries, store.lock_info()  # type: ignore[attr-defined]
    finally:
        store.close()


async def test_wfctl_apply_is_refused_during_the_pipelines_apply_and_a_cancel_keeps_moto_in_state(
    client: Client, tmp_path: Path, moto_endpoint: str, session: Any
) -> None:
    stack = AwsStack(tmp_path, moto_endpoint, session, buckets=5)
    (tmp_path / "pipelines.yaml").write_text(APPLY_ONLY)
    async with iac_worker(client) as queue, running_pipelines(
        client, tmp_path / "pipelines.yaml", queue
    ) as runs:
        handle = await runs.start_pipeline("deploy")
        child = client.get_workflow_handle(f"stack:{stack.name}")
        await wait_for_phase(child, "apply")
        # `wfctl infra apply` of the same stack meets the pipeline's lock.
        with pytest.raises(StackBusyError) as busy:
            await StackClient(client, queue).apply(stack.document(), auto_approve=True)
        assert f"ApplyWorkflow stack:{stack.name}" in str(busy.value)
        while not stack.stack_buckets():
            await asyncio.sleep(0.02)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        assert isinstance(failure.value.cause, CancelledError)
        assert (await child.describe()).status.name == "CANCELED"
        entries, holder = recorded(stack)
        assert holder is None
        # Whatever moto holds for the stack is in state, under the id moto gave it.
        made = stack.stack_buckets()
        assert len(made) < len(stack.buckets), "cancelled after the apply had finished"
        assert {entries[f"b{stack.buckets.index(b)}"] for b in made} == set(made)
        assert set(stack.vpcs()) <= set(entries.values())
        # The next run finishes the job with nothing made twice.
        assert (await runs.execute_pipeline("deploy"))["status"] == "applied"
    assert len(stack.vpcs()) == 1
    assert stack.stack_buckets() == stack.buckets
