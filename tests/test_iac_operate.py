"""Operating a running apply: pause and resume, parallelism changed while it runs.

What the operator did is read back from the run's history: no action is scheduled between
the pause and the resume, and the actions' start and end events give the concurrency.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from typer.testing import CliRunner

from interfaces.errors import StateLockedError
from statestore.sqlite import SqliteStateStore
from tests.conftest import temporal_binary
from tests.iac_history import (
    action_spans,
    events,
    max_concurrent,
    replays,
    scheduled_between,
    update_event_ids,
    update_identities,
)
from tests.iac_wf_support import Stack, iac_worker, start, state_block
from tests.test_iac_wf_crash import spawn_worker
from wfctl.infra_cli import infra_app
from wfctl.stack_client import StackBusyError, StackClient
from workflows.iac.models import PlanOutcome, Progress

pytest_plugins = ["tests.aws_fixtures"]


async def progress_when(
    handle: WorkflowHandle[Any, Any], check: Callable[[Progress], bool], what: str
) -> Progress:
    deadline = time.monotonic() + 30
    progress = None
    while time.monotonic() < deadline:
        try:
            progress = await handle.query("progress", result_type=Progress)
            if check(progress):
                return progress
        except RPCError:
            pass  # no workflow task has run yet, or the worker is coming back
        await asyncio.sleep(0.05)
    raise AssertionError(f"the run never got to: {what} ({progress})")


def independent(stack: Stack, count: int) -> Stack:
    for i in range(count):
        stack.add(f"r{i}")
    return stack


async def temporal_cli(client: Client, *args: str) -> str:
    command = [temporal_binary(), *args, "--address", client.service_client.config.target_host]
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_pause_starts_nothing_until_resumed_from_the_temporal_cli(
    client: Client, tmp_path: Path
) -> None:
    stack = independent(Stack(tmp_path, latency=0.3), 8)
    stacks = StackClient(client)
    async with iac_worker(client) as queue:
        handle = await start(
            client, "ApplyWorkflow", queue, stack.document(auto_approve=True, parallelism=2)
        )
        await progress_when(handle, lambda p: p.done >= 1, "one action done")
        answer = await stacks.pause(stack.name, by="ada", reason="checking the database")
        assert answer.startswith("paused by ada")
        paused = await progress_when(handle, lambda p: not p.running, "the running ones ended")
        assert paused.paused is not None and paused.paused.by == "ada"
        assert paused.paused.reason == "checking the database" and paused.paused.since
        made = len(stack.cloud.calls("create"))
        assert made < 8 and paused.done == made and paused.waiting == 8 - made
        # A second pause is refused by the validator, before it reaches history.
        with pytest.raises(WorkflowUpdateFailedError) as again:
            await stacks.pause(stack.name, by="bob")
        assert "already paused (by ada since" in str(again.value.cause)
        await asyncio.sleep(0.5)  # room for a wrongly started action to show up
        assert len(stack.cloud.calls("create")) == made
        out = await temporal_cli(
            client, "workflow", "update", "execute", "--workflow-id", stack.workflow_id,
            "--name", "resume", "--input", json.dumps({"by": "bob"}),
        )  # fmt: skip
        assert "resumed by bob" in out
        result = await handle.result()
    assert result.status == "applied", result.errors
    assert set(stack.cloud.live()) == {f"r{i}" for i in range(8)}
    history = await events(client, stack.workflow_id)
    [(_, paused_at)] = update_event_ids(history, "pause")
    [(resumed_at, _)] = update_event_ids(history, "resume")
    assert scheduled_between(history, paused_at, resumed_at) == []
    assert len(action_spans(history)) == 8
    # Temporal recorded who sent the pause too: this client's identity.
    assert update_identities(history, "pause") == [client.identity]
    await replays(client, stack.workflow_id)


async def test_a_pause_holds_across_continue_as_new(client: Client, tmp_path: Path) -> None:
    stack = independent(Stack(tmp_path, latency=0.05), 12)
    stacks = StackClient(client)
    async with iac_worker(client) as queue:
        handle = await start(
            client,
            "ApplyWorkflow",
            queue,
            stack.document(auto_approve=True, parallelism=1, max_history_events=200),
        )
        await progress_when(handle, lambda p: p.done >= 1, "one action done")
        await stacks.pause(stack.name, by="ada")
        await progress_when(handle, lambda p: not p.running, "the running one ended")
        first_run = (await handle.describe()).run_id
        # Operator Updates are history too: enough of them and the paused run continues as
        # new, which must keep it paused and keep the caps it was given.
        for cap in range(2, 200):
            try:
                await stacks.set_parallelism(stack.name, cap, by="ada")
            except (WorkflowUpdateFailedError, RPCError):
                pass  # sent while the run handed over
            if (await handle.describe()).run_id != first_run:
                break
        else:
            raise AssertionError("the run never continued as new")
        progress = await progress_when(handle, lambda p: p.parallelism > 0, "the next run walks")
        assert progress.paused is not None and progress.paused.by == "ada"
        assert progress.parallelism >= 2 and not progress.running
        made = len(stack.cloud.calls("create"))
        await asyncio.sleep(0.3)
        assert len(stack.cloud.calls("create")) == made
        await stacks.resume(stack.name, by="ada")
        result = await handle.result()
    assert result.status == "applied", result.errors
    assert stack.cloud.fresh_creates() == {f"r{i}": 1 for i in range(12)}


async def test_a_paused_run_stays_paused_when_its_worker_is_killed(
    client: Client, tmp_path: Path
) -> None:
    stack = independent(Stack(tmp_path, latency=0.3), 6)
    stacks = StackClient(client)
    address = client.service_client.config.target_host
    queue = f"iac-operate-{uuid.uuid4()}"
    worker = await asyncio.to_thread(spawn_worker, address, queue)
    try:
        handle = await start(
            client,
            "ApplyWorkflow",
            queue,
            stack.document(auto_approve=True, parallelism=2, heartbeat_timeout=1.5),
        )
        await progress_when(handle, lambda p: len(p.running) == 2, "two actions running")
        await stacks.pause(stack.name, by="ada")
        await stacks.set_parallelism(stack.name, 3, by="ada")
        # Killed while the paused run's actions are still in flight: they are retried
        # elsewhere and finish, and nothing else starts.
        worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(worker.wait)
        worker = await asyncio.to_thread(spawn_worker, address, queue)
        paused = await progress_when(handle, lambda p: not p.running, "the running ones ended")
        assert paused.paused is not None and paused.paused.by == "ada"
        assert paused.done == 2 and paused.waiting == 4 and paused.parallelism == 3
        await asyncio.sleep(0.5)
        assert set(stack.cloud.live()) == {"r0", "r1"}
        await stacks.resume(stack.name, by="ada")
        result = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert result.status == "applied", result.errors
    assert stack.cloud.fresh_creates() == {f"r{i}": 1 for i in range(6)}


async def test_parallelism_raised_from_the_temporal_cli_and_lowered_while_running(
    client: Client, tmp_path: Path
) -> None:
    stack = independent(Stack(tmp_path, latency=0.3), 16)
    stacks = StackClient(client)
    async with iac_worker(client) as queue:
        handle = await start(
            client, "ApplyWorkflow", queue, stack.document(auto_approve=True, parallelism=1)
        )
        await progress_when(handle, lambda p: p.done >= 2, "two actions done")
        out = await temporal_cli(
            client, "workflow", "update", "execute", "--workflow-id", stack.workflow_id,
            "--name", "parallelism", "--input", json.dumps({"parallelism": 4, "by": "ada"}),
        )  # fmt: skip
        assert "parallelism 4, by ada" in out
        await progress_when(
            handle, lambda p: p.done >= 6 and p.waiting >= 4, "six done, four waiting"
        )
        # Lowered with four in flight: none is cancelled, and one at a time starts after.
        await stacks.set_parallelism(stack.name, providers={"main": 1}, by="ada")
        with pytest.raises(WorkflowUpdateFailedError) as unknown:
            await stacks.set_parallelism(stack.name, providers={"aws": 3})
        assert "provider aws is not a provider of this stack (it has main)" in str(
            unknown.value.cause
        )
        result = await handle.result()
    assert result.status == "applied", result.errors
    history = await events(client, stack.workflow_id)
    spans = sorted(action_spans(history), key=lambda s: s.scheduled_id)
    [(_, raised), (_, lowered)] = update_event_ids(history, "parallelism")
    before = [s for s in spans if s.scheduled_id < raised]
    during = [s for s in spans if raised < s.scheduled_id < lowered]
    after = [s for s in spans if s.scheduled_id > lowered]
    assert max_concurrent(before) == 1
    assert max_concurrent(before + during) == 4
    assert all(s.ended is not None for s in spans) and len(spans) == 16
    # After the lowering, each new action starts only once the ones in flight have ended.
    lowered_time = next(e.event_time.ToDatetime() for e in history if e.event_id == lowered)
    in_flight_end = max(s.ended for s in during if s.ended)  # type: ignore[type-var]
    assert in_flight_end > lowered_time
    assert all(s.started and s.started >= in_flight_end for s in after)
    assert len(after) >= 4 and max_concurrent(after) == 1


async def wfctl(client: Client, *args: str) -> Result:
    env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host}
    return await asyncio.to_thread(CliRunner().invoke, infra_app, list(args), env=env)


async def test_wfctl_pause_progress_parallelism_resume(client: Client, tmp_path: Path) -> None:
    stack = independent(Stack(tmp_path, latency=0.3), 6)
    async with iac_worker(client) as queue:
        handle = await start(
            client, "ApplyWorkflow", queue, stack.document(auto_approve=True, parallelism=2)
        )
        await progress_when(handle, lambda p: len(p.running) == 2, "two actions running")
        paused = await wfctl(client, "pause", stack.name, "--by", "ada", "--reason", "lunch")
        assert paused.exit_code == 0, paused.output
        assert f"stack:{stack.name}: paused by ada" in paused.stdout
        shown = await wfctl(client, "progress", stack.name)
        assert shown.exit_code == 0, shown.output
        assert f"stack:{stack.name}  apply  " in shown.stdout
        assert "Paused by ada since " in shown.stdout and "ago): lunch" in shown.stdout
        assert "(parallelism 2)" in shown.stdout
        # The web UI shows the same without decoding a payload: the run's current details.
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        details = metadata.current_details
        assert details.startswith("**apply** · ") and "Paused by ada since" in details
        assert "| resource | type | action | changed fields |" in details
        assert "| r5 | test.thing | create |  |" in details

        capped = await wfctl(client, "parallelism", stack.name, "3", "--provider", "main=1")
        assert capped.exit_code == 0, capped.output
        assert "parallelism 3 (main=1)" in capped.stdout
        bad = await wfctl(client, "parallelism", stack.name, "--provider", "main=0")
        assert bad.exit_code != 0 and "expected <provider key>=<N>" in bad.output
        watching = asyncio.create_task(wfctl(client, "progress", stack.name, "--watch"))
        await asyncio.sleep(0.5)
        assert not watching.done()  # it follows the paused run
        resumed = await wfctl(client, "resume", stack.name)
        assert resumed.exit_code == 0, resumed.output
        # Without --by, the client's identity (the one Temporal records) is the operator.
        assert f"resumed by {client.identity}" in resumed.stdout
        again = await wfctl(client, "resume", stack.name)
        assert again.exit_code == 1 and "the run is not paused" in again.output
        assert (await handle.result()).status == "applied"
        watched = await watching
        assert watched.exit_code == 0, watched.output
        assert "6/6 done, 0 running" in watched.stdout  # its last frame: the run's end
        # A query of an ended run is answered by replaying it, so a worker is still needed.
        finished = await wfctl(client, "progress", stack.name, "--watch")
        assert "6/6 done, 0 running, 0 failed, 0 skipped, 0 waiting" in finished.stdout
    gone = await wfctl(client, "pause", f"{stack.name}-nope")
    assert gone.exit_code == 1
    assert f"no run of stack '{stack.name}-nope' is running" in gone.output


async def test_pause_from_the_temporal_cli_and_resume_on_moto(
    client: Client, tmp_path: Path, moto_endpoint: str
) -> None:
    name = f"op-aws-{uuid.uuid4().hex[:8]}"
    doc = {
        "stack": name,
        "state": state_block("sqlite", tmp_path),
        "providers": {
            "aws": {"type": "aws", "region": "us-east-1", "endpoint_url": moto_endpoint,
                    "max_attempts": 1, "poll_interval": 0.05},
        },  # fmt: skip
        "resources": [
            {"name": f"net{i}", "type": "infra.vpc", "config": {"cidr": f"10.{i}.0.0/16"}}
            for i in range(4)
        ],
        "auto_approve": True,
        "parallelism": 1,
    }
    stacks = StackClient(client)
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, doc)
        await progress_when(handle, lambda p: p.done >= 1 or bool(p.running), "an action")
        out = await temporal_cli(
            client, "workflow", "update", "execute", "--workflow-id", f"stack:{name}",
            "--name", "pause", "--input", json.dumps({"by": "ada"}),
        )  # fmt: skip
        assert "paused by ada" in out
        paused = await progress_when(handle, lambda p: not p.running, "the running one ended")
        assert paused.paused is not None and paused.done < 4
        await stacks.resume(name, by="ada")
        result = await handle.result()
    assert result.status == "applied", result.errors
    history = await events(client, f"stack:{name}")
    [(_, paused_at)] = update_event_ids(history, "pause")
    [(resumed_at, _)] = update_event_ids(history, "resume")
    assert scheduled_between(history, paused_at, resumed_at) == []
    assert len(action_spans(history)) == 4


async def test_a_second_apply_names_the_running_one_or_waits_for_it(
    client: Client, tmp_path: Path
) -> None:
    stack = independent(Stack(tmp_path, latency=0.2), 6)
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(stack.document()))
    stacks = StackClient(client)
    async with iac_worker(client) as queue:
        stacks.task_queue = queue
        first = await stacks.start("apply", stack.document(), auto_approve=True, parallelism=2)
        await progress_when(first, lambda p: p.done >= 1, "one action done")
        await stacks.pause(stack.name, by="ada")
        await progress_when(first, lambda p: not p.running, "the running ones ended")
        done = (await first.query("progress", result_type=Progress)).done
        with pytest.raises(StackBusyError) as busy:
            await stacks.start("apply", stack.document(), auto_approve=True)
        message = str(busy.value)
        assert message.startswith(
            f"stack {stack.name!r} is busy: ApplyWorkflow {stack.workflow_id} (run "
        )
        assert f"phase apply: {done}/6 done, 0 running, 0 failed, paused by ada since" in message

        env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host,
               "WFCTL_IAC_TASK_QUEUE": queue}  # fmt: skip
        args = ["apply", "-f", str(path), "--auto-approve", "--wait-for-lock"]
        gave_up = await asyncio.to_thread(
            CliRunner().invoke, infra_app, [*args, "--lock-timeout", "0.3s"], env=env
        )
        assert gave_up.exit_code == 1
        assert "Waiting for the lock: stack" in gave_up.stderr
        assert "(waited 0.3s for it)" in gave_up.stderr
        queued = asyncio.create_task(
            asyncio.to_thread(CliRunner().invoke, infra_app, [*args, "--lock-timeout", "30s"],
                              env=env)  # fmt: skip
        )
        await asyncio.sleep(1.0)  # room for it to find the stack busy and queue up
        assert not queued.done()
        await stacks.resume(stack.name, by="ada")
        assert (await first.result()).status == "applied"
        second = await queued
    assert second.exit_code == 0, second.output
    assert "Waiting for the lock: stack" in second.stderr
    assert "No changes. Infrastructure matches the configuration." in second.stdout


async def test_a_destroy_is_paused_and_a_pause_before_the_walk_holds_its_start(
    client: Client, tmp_path: Path
) -> None:
    stack = independent(Stack(tmp_path, latency=0.2), 5)
    stacks = StackClient(client)
    async with iac_worker(client) as queue:
        # Paused while it waits for approval: approved, it still starts nothing.
        handle = await start(client, "ApplyWorkflow", queue, stack.document())
        plan = await progress_when(handle, lambda p: p.phase == "approval", "the approval")
        await stacks.pause(stack.name, by="ada")
        planned = await handle.query("plan", result_type=PlanOutcome)
        await handle.execute_update("approve", planned.plan_id)
        held = await progress_when(handle, lambda p: p.phase == "apply", "the walk")
        assert held.paused is not None and held.running == [] and plan.total == 5
        await asyncio.sleep(0.3)
        assert stack.cloud.calls("create") == []
        await stacks.resume(stack.name, by="ada")
        assert (await handle.result()).status == "applied"

        destroy = await start(
            client, "DestroyWorkflow", queue, stack.document(auto_approve=True, parallelism=1)
        )
        await progress_when(destroy, lambda p: p.done >= 1, "one delete done")
        await stacks.pause(stack.name, by="ada")
        await progress_when(destroy, lambda p: not p.running, "the running delete ended")
        await stacks.resume(stack.name, by="ada")
        destroyed = await destroy.result()
    assert destroyed.status == "applied" and len(destroyed.destroyed) == 5
    assert stack.cloud.live() == {}
    history = await events(client, stack.workflow_id)
    [(_, paused_at)] = update_event_ids(history, "pause")
    [(resumed_at, _)] = update_event_ids(history, "resume")
    assert scheduled_between(history, paused_at, resumed_at) == []


def lock_of(stack: Stack) -> dict[str, str] | None:
    """The state store's lock of the stack, as `wfctl infra unlock` reads it."""
    store = SqliteStateStore(stack.state["path"], stack.name)
    try:
        return store.lock_info()
    finally:
        store.close()


@pytest.mark.soak
async def test_a_paused_run_keeps_renewing_its_lock(client: Client, tmp_path: Path) -> None:
    # lock_ttl cannot go below 60 s, and the run renews every third of it: the first renewal
    # comes 20 s into the run, long after the pause.
    stack = independent(Stack(tmp_path, latency=0.2), 3)
    stacks = StackClient(client)
    async with iac_worker(client) as queue:
        handle = await start(
            client,
            "ApplyWorkflow",
            queue,
            stack.document(auto_approve=True, parallelism=1, lock_ttl=60),
        )
        await progress_when(handle, lambda p: p.done >= 1, "one action done")
        await stacks.pause(stack.name, by="ada")
        await progress_when(handle, lambda p: not p.running, "the running one ended")
        before = lock_of(stack)
        assert before is not None and before["owner"].startswith(f"{stack.workflow_id}@")
        await asyncio.sleep(25)
        after = lock_of(stack)
        assert after is not None and after["owner"] == before["owner"]
        assert after["expires_at"] > before["expires_at"]
        # Another apply (any other owner) is refused the lock the paused run holds.
        store = SqliteStateStore(stack.state["path"], stack.name)
        try:
            with pytest.raises(StateLockedError):
                store.lock("stack:other@run", 60)
        finally:
            store.close()
        paused = await handle.query("progress", result_type=Progress)
        assert paused.paused is not None and paused.done < 3
        await stacks.resume(stack.name, by="ada")
        assert (await handle.result()).status == "applied"
    assert lock_of(stack) is None
