"""Random JSON and unicode thrown at PipelineWorkflow, ApplyWorkflow and their Updates through
the real client: every run ends -- completed, or failed with an error naming the problem --
and no workflow task ever fails (a failed task is retried forever). Now and then a run or an
Update gets no payload or two or three (which the SDK decodes without the handler's hints)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from tests.iac_wf_support import Stack, iac_worker
from tests.pipeline_harness import running_pipelines
from tests.poison_inputs import ending, raw_json, task_failures
from wfctl.client import PipelineExecutor, pipeline_workflow_id
from workflows.iac.models import ApplyOutcome

PIPELINES = """
pipelines:
  greet:
    steps:
      - name: hello
        type: step.set
        config: {values: {greeting: "hello {{ name | default('you') }}"}}
  gate:
    steps:
      - name: confirm
        type: step.wait_for_approval
        config: {message: "go?"}
"""


def fuzz(examples: int) -> settings:
    """Small counts: each example is one or two real runs on the dev server."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


RUN_DEADLINE = 30.0

LONE_SURROGATES = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
# What a caller may well send (wrong types and shapes included), and what no decoder takes.
CLEAN = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
NAMES = st.text(max_size=6).map(json.dumps)
TEXTS = st.one_of(
    st.text(max_size=6),
    st.tuples(st.text(max_size=3), LONE_SURROGATES, st.text(max_size=3)).map("".join),
)
POISONED = st.recursive(
    TEXTS | st.integers(min_value=10**100, max_value=10**200),  # more digits than accepted
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3),
    max_leaves=8,
)
# JSON text as a CLI user could type it; json.dumps writes lone surrogates as \udXXX escapes.
FRAGMENTS = st.one_of(
    CLEAN.map(json.dumps),
    POISONED.map(json.dumps),
    st.integers(1, 3000).map(lambda n: '{"a": ' * n + "1" + "}" * n),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", "1" * 150, '"\\udc00\\ud800"', "{"]),
)


# How many payloads a run or an Update is given: mostly the one each handler takes.
PAYLOAD_COUNTS = st.sampled_from([1, 1, 1, 0, 2, 3])


def some(payloads: st.SearchStrategy[bytes]) -> st.SearchStrategy[list[bytes]]:
    return PAYLOAD_COUNTS.flatmap(lambda n: st.lists(payloads, min_size=n, max_size=n))


@st.composite
def mangled(draw: st.DrawFn, text: str) -> bytes:
    """The text as bytes, sometimes broken: invalid UTF-8 inserted, or cut short."""
    data = text.encode()
    at = draw(st.integers(0, len(data)))
    how = draw(st.sampled_from(["as is", "as is", "as is", "invalid utf-8", "cut"]))
    if how == "invalid utf-8":
        return data[:at] + draw(st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80"])) + data[at:]
    return data[:at] if how == "cut" else data


def pipeline_inputs() -> st.SearchStrategy[bytes]:
    documents = st.one_of(
        FRAGMENTS,  # not even an object
        st.builds(
            lambda name, data: f'{{"pipeline": {name}, "data": {data}}}',
            st.just('"greet"') | FRAGMENTS,
            FRAGMENTS,
        ),
        st.builds(
            lambda data: json.dumps({"pipeline": "greet", "data": data}),
            st.dictionaries(st.text(max_size=5), CLEAN | POISONED, max_size=3),
        ),
    )
    return documents.flatmap(mangled)


def decisions() -> st.SearchStrategy[bytes]:
    shaped = st.builds(
        lambda approver, comment, step: (
            f'{{"approver": {approver}, "comment": {comment}, "step": {step}}}'
        ),
        st.just('"ada"') | NAMES | FRAGMENTS,
        st.just('"fine"') | NAMES | FRAGMENTS,
        st.just('""') | FRAGMENTS,
    )
    return (FRAGMENTS | shaped).flatmap(mangled)


@pytest.fixture
async def pipelines(client: Client) -> AsyncIterator[PipelineExecutor]:
    async with running_pipelines(client, PIPELINES) as executor:
        yield executor


def error_of(end: Any) -> str:
    return f"{end.error_type}: {end.error.message if end.error else ''}"


@fuzz(20)
@given(inputs=some(pipeline_inputs()))
async def test_random_pipeline_input_always_ends(
    client: Client, pipelines: PipelineExecutor, inputs: list[bytes]
) -> None:
    handle = await client.start_workflow(
        "PipelineWorkflow",
        args=[raw_json(data) for data in inputs],
        id=pipeline_workflow_id("greet"),
        task_queue=pipelines.task_queue,
    )
    end = await ending(handle, RUN_DEADLINE)
    event(f"{len(inputs)} payloads: {end.status.name} {end.error_type}")
    if len(inputs) != 1:
        assert end.error_type == "InvalidInput", error_of(end)
    elif end.status == WorkflowExecutionStatus.FAILED:
        assert end.error_type in ("InvalidInput", "UnknownPipeline"), error_of(end)
    else:
        assert end.status == WorkflowExecutionStatus.COMPLETED
        assert end.result["greeting"].startswith("hello ")


@st.composite
def apply_inputs(draw: st.DrawFn, document: dict[str, Any]) -> bytes:
    """The stack document with one part replaced by random JSON text (or all of it)."""
    where = draw(st.sampled_from([
        "all", "stack", "providers", "resources", "resource", "name",
        "config", "config", "options", "options",
    ]))
    fragment = draw(FRAGMENTS | CLEAN.map(json.dumps))
    if where == "config":  # a mapping, so that some of these get as far as the cloud
        fragment = json.dumps(draw(st.dictionaries(st.text(max_size=5), CLEAN | POISONED)))
    doc = json.loads(json.dumps(document))
    if where == "all":
        text = fragment
    elif where in ("resource", "name", "config"):
        field = {"resource": None, "name": "name", "config": "config"}[where]
        if field is None:
            doc["resources"][0] = "HOLE"
        else:
            doc["resources"][0][field] = "HOLE"
        text = json.dumps(doc).replace('"HOLE"', fragment)
    elif where == "options":
        key = draw(st.sampled_from(["parallelism", "targets", "lock_ttl", "rollback", "extra"]))
        doc[key] = "HOLE"
        text = json.dumps(doc).replace('"HOLE"', fragment)
    else:
        doc[where] = "HOLE"
        text = json.dumps(doc).replace('"HOLE"', fragment)
    return draw(mangled(text))


@pytest.fixture
async def stack_queue(client: Client) -> AsyncIterator[str]:
    async with iac_worker(client, threads=8) as queue:
        yield queue


@fuzz(15)
@given(st.data())
async def test_random_apply_input_always_ends(
    client: Client, stack_queue: str, tmp_path: Path, data: st.DataObject
) -> None:
    stack = Stack(tmp_path)
    stack.add("web", config={"size": 1})
    document = stack.document(auto_approve=True)
    texts = [data.draw(apply_inputs(document)) for _ in range(data.draw(PAYLOAD_COUNTS))]
    handle = await client.start_workflow(
        "ApplyWorkflow",
        args=[raw_json(text) for text in texts],
        id=stack.workflow_id,
        task_queue=stack_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    end = await ending(handle, RUN_DEADLINE)
    event(f"{len(texts)} payloads: {end.status.name} {end.error_type}")
    if len(texts) != 1:
        assert end.error_type == "InvalidInput", error_of(end)
        assert stack.cloud.live() == {}
    elif end.status == WorkflowExecutionStatus.FAILED:
        assert end.error_type in ("InvalidInput", "ConfigError"), error_of(end)
    else:
        assert end.status == WorkflowExecutionStatus.COMPLETED
        assert end.result["status"] in ("applied", "failed", "no_changes")


async def decide(handle: Any, update: str, arguments: list[bytes]) -> bool:
    """Send the Update; True if taken. A refusal must be an ApplicationError, not a hang."""
    sent = handle.execute_update(update, args=[raw_json(argument) for argument in arguments])
    try:
        await asyncio.wait_for(sent, RUN_DEADLINE)
    except WorkflowUpdateFailedError as failed:
        assert isinstance(failed.cause, ApplicationError)
        if len(arguments) > 1:  # before, a TypeError of the validator's
            assert failed.cause.type == "InvalidInput", failed.cause
        event(f"{update}, {len(arguments)} payloads: refused: {failed.cause.type}")
        return False
    assert len(arguments) <= 1, f"{update} took {len(arguments)} arguments"
    event(f"{update}, {len(arguments)} payloads: taken")
    return True


async def wait_until(check: Any) -> None:
    for _ in range(400):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never got there")


@fuzz(10)
@given(update=st.sampled_from(["approve", "reject"]), arguments=some(decisions()))
async def test_random_pipeline_decision_never_fails_the_task(
    client: Client, pipelines: PipelineExecutor, update: str, arguments: list[bytes]
) -> None:
    handle = await pipelines.start_pipeline("gate")
    await wait_until(lambda: pipelines.pending_approvals(handle.id))
    taken = await decide(handle, update, arguments)
    if not taken:
        await pipelines.approve(handle.id, "ada", "after the fuzz")
    end = await ending(handle, RUN_DEADLINE)
    if end.status == WorkflowExecutionStatus.FAILED:  # a random rejection that was valid
        assert end.error_type == "StepFailed" and "rejected by" in error_of(end), error_of(end)
    else:
        assert end.status == WorkflowExecutionStatus.COMPLETED
    assert await task_failures(handle) == []


@fuzz(8)
@given(
    update=st.sampled_from(["approve", "reject"]),
    arguments=some((NAMES | FRAGMENTS | TEXTS.map(json.dumps)).flatmap(mangled)),
)
async def test_random_stack_decision_never_fails_the_task(
    client: Client, stack_queue: str, tmp_path: Path, update: str, arguments: list[bytes]
) -> None:
    stack = Stack(tmp_path)
    stack.add("web")
    handle = await client.start_workflow(
        "ApplyWorkflow",
        stack.document(),
        id=stack.workflow_id,
        task_queue=stack_queue,
        result_type=ApplyOutcome,
    )

    async def waiting() -> bool:
        return (await handle.query("progress")).get("phase") == "approval"

    await wait_until(waiting)
    taken = await decide(handle, update, arguments)
    if not taken:
        await handle.execute_update("reject", "after the fuzz")
    end = await ending(handle, RUN_DEADLINE)
    assert end.status == WorkflowExecutionStatus.COMPLETED, error_of(end)
    assert end.result.status == "rejected"
    assert await task_failures(handle) == []
    assert stack.cloud.live() == {}

