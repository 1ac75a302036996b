"""A create never forgets what it made: pending state entries, on moto, through the workflows.

Issue 12's first "Why": under a throttling storm with the SDK's retries off, creates that
failed for good left resources in the cloud that the state did not record, and destroy left
them behind. Here the same storm (the throttling proxy of tests/aws_fixtures.py, each call
throttled with a seeded probability) runs against ten resources, one of each type (the `soak`
marker: thirty); afterwards everything moto holds for the stack must be in state, done or
pending, and destroy must leave nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import moto.settings
import pytest
import yaml
from temporalio.client import Client
from typer.testing import CliRunner

import providers.aws.sandbox as sandbox
from providers.aws import AwsProvider
from statestore import open_state_store
from tests.iac_wf_support import iac_worker, start
from tests.pending_stack import RETRY_AFTER, PendingStack, not_head
from wfctl.infra_cli import infra_app
from workflows.iac.models import PlanOutcome

if TYPE_CHECKING:
    from tests.aws_fixtures import ThrottlingProxy

pytest_plugins = ["tests.aws_fixtures"]

MakeProvider = Callable[..., AwsProvider]
MakeProxy = Callable[..., "ThrottlingProxy"]
STORM_RATE = 0.3
STORM_SEED = 12


@pytest.fixture(autouse=True)
def quick_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(sandbox, "ECS_TASKS_START_AFTER", 0.3)
    monkeypatch.setattr(moto.settings, "ACM_VALIDATION_WAIT", 1)
    yield


# In `make soak`, not `make test`: the suite's 15-minute budget on 2 cores.
@pytest.mark.soak
async def test_a_throttling_storm_leaves_nothing_untracked_and_destroy_removes_it_all(
    client: Client,
    tmp_path: Path,
    moto_endpoint: str,
    aws_provider: MakeProvider,
    throttling_proxy: MakeProxy,
) -> None:
    await storm_then_destroy(client, tmp_path, aws_provider, throttling_proxy, groups=1)


@pytest.mark.soak
async def test_a_storm_over_thirty_resources_leaves_nothing_untracked(
    client: Client,
    tmp_path: Path,
    moto_endpoint: str,
    aws_provider: MakeProvider,
    throttling_proxy: MakeProxy,
) -> None:
    await storm_then_destroy(client, tmp_path, aws_provider, throttling_proxy, groups=3)


async def storm_then_destroy(
    client: Client,
    tmp_path: Path,
    aws_provider: MakeProvider,
    throttling_proxy: MakeProxy,
    *,
    groups: int,
) -> None:
    proxy = throttling_proxy(
        match=not_head, rate=STORM_RATE, seed=STORM_SEED, retry_after=RETRY_AFTER
    )
    stack = PendingStack(tmp_path, proxy.url, groups=groups)
    moto_side = aws_provider(stack=stack.name)
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        stormed = await handle.result()
        assert stormed.status == "failed" and stormed.errors, "the storm failed no create"
        proxy.rate = 0.0

        assert stack.untracked(moto_side) == []
        states = {state.name: state for state in stack.states()}
        pending = {name: state for name, state in states.items() if state.pending}
        # The storm hit creates after their resource was made: the case the state forgot.
        assert any(state.provider_id for state in pending.values()), states
        print(f"after the storm: {len(stack.inventory(moto_side))} things in moto, "
              f"{len(states)} state entries ({len(pending)} pending)")  # fmt: skip

        # The plan says what becomes of them; the state listing marks them.
        plan = await (await start(client, "PlanWorkflow", queue, stack.document())).result()
        assert isinstance(plan, PlanOutcome) and plan.plan is not None
        assert plan.plan.notes == dict.fromkeys(pending, "created by a failed run, will be adopted")
        stack_file = tmp_path / "stack.yaml"
        stack_file.write_text(yaml.safe_dump(stack.document()))
        env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host,
               "WFCTL_IAC_TASK_QUEUE": queue}  # fmt: skip
        planned = await asyncio.to_thread(
            CliRunner().invoke, infra_app, ["plan", "-f", str(stack_file)], env=env
        )
        some = sorted(pending)[0]
        assert f'"{some}" (created by a failed run, will be adopted)' in planned.stdout, (
            planned.output
        )
        listed = await asyncio.to_thread(
            CliRunner().invoke, infra_app, ["state", "list", "-f", str(stack_file)], env=env
        )
        assert listed.exit_code == 0, listed.output
        assert listed.stdout.count("(pending)") == len(pending), listed.stdout

        destroyed = await (
            await start(client, "DestroyWorkflow", queue, stack.document(auto_approve=True))
        ).result()
    assert destroyed.status == "applied", destroyed.errors
    assert set(pending) <= set(destroyed.destroyed)
    assert stack.inventory(moto_side) == []
    assert stack.states() == []


def one_vpc() -> list[dict[str, Any]]:
    config = {"cidr": "10.90.0.0/16", "subnets": ["10.90.1.0/24"], "public": True}
    return [{"name": "net", "type": "infra.vpc", "config": config}]


def refusing(throttling_proxy: MakeProxy, action: str) -> ThrottlingProxy:
    """A proxy refusing every `action` call for good (until its rate is set to 0)."""
    return throttling_proxy(10**6, action, status=403, code="UnauthorizedOperation")


def vpcs_of(provider: AwsProvider, stack: str) -> list[str]:
    ec2 = provider.context.session.client("ec2")
    found = ec2.describe_vpcs(Filters=[{"Name": "tag:wfctl:stack", "Values": [stack]}])
    return [vpc["VpcId"] for vpc in found["Vpcs"]]


async def test_a_rollback_deletes_what_a_failed_create_made(
    client: Client, tmp_path: Path, aws_provider: MakeProvider, throttling_proxy: MakeProxy
) -> None:
    proxy = refusing(throttling_proxy, "CreateSubnet")
    stack = PendingStack(tmp_path, proxy.url, groups=0)
    stack.resources = one_vpc()
    moto_side = aws_provider(stack=stack.name)
    async with iac_worker(client) as queue:
        document = stack.document(auto_approve=True, rollback=True)
        outcome = await (await start(client, "ApplyWorkflow", queue, document)).result()
    assert outcome.status == "rolled_back", outcome
    assert outcome.rolled_back == ["net"]
    assert "UnauthorizedOperation" in outcome.errors[0].error
    assert stack.inventory(moto_side) == []
    assert stack.states() == []


async def test_the_next_apply_adopts_what_a_failed_create_made(
    client: Client, tmp_path: Path, aws_provider: MakeProvider, throttling_proxy: MakeProxy
) -> None:
    proxy = refusing(throttling_proxy, "CreateSubnet")
    stack = PendingStack(tmp_path, proxy.url, groups=0)
    stack.resources = one_vpc()
    moto_side = aws_provider(stack=stack.name)
    async with iac_worker(client) as queue:
        failed = await (
            await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        ).result()
        assert failed.status == "failed"
        [made] = vpcs_of(moto_side, stack.name)
        [entry] = stack.states()
        assert (entry.pending, entry.provider_id) == (True, made)

        proxy.rate = 0.0
        applied = await (
            await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        ).result()
        assert applied.status == "applied", applied.errors
        assert applied.counts == {"create": 1}
        # The same VPC, finished: no second one.
        assert vpcs_of(moto_side, stack.name) == [made]
        [entry] = stack.states()
        assert (entry.pending, entry.provider_id) == (False, made)
        assert entry.outputs["subnets"] == ["10.90.1.0/24"]
        destroyed = await (
            await start(client, "DestroyWorkflow", queue, stack.document(auto_approve=True))
        ).result()
    assert destroyed.status == "applied", destroyed.errors
    assert stack.inventory(moto_side) == []


async def test_destroy_finds_by_its_tags_what_a_create_made_before_its_id_was_saved(
    client: Client, tmp_path: Path, aws_provider: MakeProvider, throttling_proxy: MakeProxy
) -> None:
    proxy = refusing(throttling_proxy, "CreateSubnet")
    stack = PendingStack(tmp_path, proxy.url, groups=0)
    stack.resources = one_vpc()
    moto_side = aws_provider(stack=stack.name)
    async with iac_worker(client) as queue:
        failed = await (
            await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        ).result()
        assert failed.status == "failed"
        # As if the worker died between CreateVpc's answer and the journal's save.
        store = open_state_store(stack.state, stack.name)
        try:
            [entry] = store.list_resources()
            store.save_resource(entry.model_copy(update={"provider_id": ""}))
        finally:
            store.close()
        proxy.rate = 0.0
        destroyed = await (
            await start(client, "DestroyWorkflow", queue, stack.document(auto_approve=True))
        ).result()
    assert destroyed.status == "applied", destroyed.errors
    assert destroyed.destroyed == ["net"]
    assert stack.inventory(moto_side) == []
    assert stack.states() == []


async def test_a_certificate_destroyed_can_be_made_again_within_the_hour(
    client: Client, tmp_path: Path, moto_endpoint: str
) -> None:
    # ACM answers a reused idempotency token with the certificate it first made, deleted or
    # not (moto: a 500): each create of the resource must bring its own token.
    stack = PendingStack(tmp_path, moto_endpoint, groups=0)
    domain = f"www.{stack.name}.example.com"
    stack.resources = [
        {"name": "cert", "type": "infra.certificate", "config": {"domain_name": domain}}
    ]
    document = stack.document(auto_approve=True)
    async with iac_worker(client) as queue:
        first = await (await start(client, "ApplyWorkflow", queue, document)).result()
        assert first.status == "applied", first.errors
        gone = await (await start(client, "DestroyWorkflow", queue, document)).result()
        assert gone.status == "applied", gone.errors
        again = await asyncio.wait_for(
            (await start(client, "ApplyWorkflow", queue, document)).result(), timeout=120
        )
        assert again.status == "applied", again.errors
        assert again.resources[0].provider_id != first.resources[0].provider_id
        await (await start(client, "DestroyWorkflow", queue, document)).result()
