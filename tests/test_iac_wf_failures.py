"""Failures: retried throttling, validation errors, skipped dependents, rollback, protection."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError

from statestore import open_state_store
from tests.iac_wf_support import Stack, iac_worker, start


def recorded(stack: Stack) -> set[str]:
    store = open_state_store(stack.state, stack.name)
    try:
        return {state.name for state in store.list_resources()}
    finally:
        store.close()


def pending(stack: Stack) -> dict[str, str]:
    """name -> recorded cloud id of the pending entries."""
    store = open_state_store(stack.state, stack.name)
    try:
        return {s.name: s.provider_id for s in store.list_resources() if s.pending}
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_failure_skips_dependents_and_independent_branches_go_on(
    client: Client, tmp_path: Path, backend: str
) -> None:
    stack = Stack(tmp_path, backend, fail={"bad": "instance type nope is not offered"})
    stack.add("base")
    stack.add("bad", depends_on=["base"])
    stack.add("child", config={"x": "${bad.outputs.id}"})
    stack.add("grandchild", depends_on=["child"])
    stack.add("other", depends_on=["base"])
    stack.add("alone")
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        result = await handle.result()
    assert result.status == "failed"
    assert [(e.resource, e.action) for e in result.errors] == [("bad", "create")]
    assert "ValidationError: instance type nope is not offered" in result.errors[0].error
    assert sorted(result.skipped) == ["child", "grandchild"]
    # The failed create stays on record, pending, with no cloud id: the cloud never named one.
    assert recorded(stack) == {"base", "other", "alone", "bad"}
    assert pending(stack) == {"bad": ""}
    # A validation error is not retried: exactly one attempt reached the cloud... none created.
    assert "bad" not in stack.cloud.live()


async def test_throttling_is_retried_until_the_apply_completes(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path, throttle={"busy": 3})
    stack.add("busy").add("calm")
    async with iac_worker(client) as queue:
        handle = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        result = await handle.result()
    assert result.status == "applied", result.errors
    assert stack.cloud.counter("throttle:busy") == 4
    assert stack.cloud.fresh_creates() == {"busy": 1, "calm": 1}


async def test_rollback_deletes_what_the_run_created_in_reverse_order(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path, fail={"bad": "quota exceeded"})
    stack.add("net", "test.network", config={"cidr": "10.0.0.0/16"})
    stack.add("db", "test.database", config={"vpc": "${net.outputs.id}"})
    stack.add("bad", depends_on=["db"])
    async with iac_worker(client) as queue:
        handle = await start(
            client, "ApplyWorkflow", queue, stack.document(auto_approve=True, rollback=True)
        )
        result = await handle.result()
    assert result.status == "rolled_back"
    # The failed create's pending entry goes too (it has no cloud id: nothing to delete).
    assert result.rolled_back == ["bad", "db", "net"]
    assert stack.cloud.live() == {}
    assert recorded(stack) == set()
    deletes = [call["name"] for call in stack.cloud.calls("delete")]
    assert deletes == ["db", "net"]


async def test_protected_resources_are_not_destroyed_unless_allowed(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path)
    stack.add("vault", protected=True).add("plain")
    async with iac_worker(client) as queue:
        applied = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        assert (await applied.result()).status == "applied"

        refused = await start(client, "DestroyWorkflow", queue, stack.document(auto_approve=True))
        with pytest.raises(WorkflowFailureError) as failure:
            await refused.result()
        assert 'resource "vault" is protected: refusing to delete it' in str(failure.value.cause)
        assert set(stack.cloud.live()) == {"vault", "plain"}

        # Replacing a protected resource is refused the same way.
        stack.resources[0]["type"] = "test.network"
        replaced = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        with pytest.raises(WorkflowFailureError):
            await replaced.result()

        allowed = await start(
            client,
            "DestroyWorkflow",
            queue,
            stack.document(auto_approve=True, allow_replace=["vault"]),
        )
        assert (await allowed.result()).status == "applied"
    assert stack.cloud.live() == {}


async def test_invalid_input_fails_the_workflow_at_once(client: Client, tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    stack.add("a", "test.nothing").add("b", depends_on=["c"])
    async with iac_worker(client) as queue:
        bad_shape = await start(client, "ApplyWorkflow", queue, {"stack": stack.name, "bogus": 1})
        with pytest.raises(WorkflowFailureError) as failure:
            await bad_shape.result()
        assert "invalid workflow input" in str(failure.value.cause)

        bad_stack = await start(client, "PlanWorkflow", queue, stack.document())
        with pytest.raises(WorkflowFailureError) as failure:
            await bad_stack.result()
    message = str(failure.value.cause)
    assert 'resource "a": type "test.nothing" is not supported' in message
    assert 'resource "b": depends_on names unknown resource "c"' in message
