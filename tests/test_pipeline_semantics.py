"""The spec's pipeline semantics, run as real workflows on the dev server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from tests.pipeline_harness import running_pipelines
from wfctl.client import PipelineExecutor
from wfctl.history import TemporalEventRecorder

PIPELINES = """
pipelines:
  merge:
    steps:
      - name: first
        type: step.set
        config: {values: {a: 1, b: "{{ trigger.b }}"}}
      - name: second
        type: step.set
        config: {values: {b: 20, c: "{{ steps.first.a + b }}"}}
  native-types:
    steps:
      - name: values
        type: step.set
        config:
          values:
            number: "{{ amount * 2 }}"
            flag: "{{ amount > 5 }}"
            items: "{{ [1, 2, amount] }}"
            nested: "{{ {'k': amount} }}"
            text: "amount={{ amount }}"
            pipeline: "{{ meta.pipeline }}"
  strict:
    steps:
      - name: uses-missing
        type: step.set
        config: {values: {x: "{{ trigger.missing }}"}}
  lenient:
    strict_templates: false
    steps:
      - name: uses-missing
        type: step.set
        config: {values: {x: "{{ trigger.missing }}", y: "v={{ nothing }}"}}
  jumps:
    steps:
      - name: route
        type: step.conditional
        config: {field: kind, routes: {b: second-half}, default: first-half}
      - name: first-half
        type: step.set
        config: {values: {visited_first: true}}
      - name: second-half
        type: step.set
        config: {values: {visited_second: true}}
  stops:
    steps:
      - name: answer
        type: step.pipeline_output
        config: {values: {answer: 42}, stop: true}
      - name: never
        type: step.fail
        config: {message: "must not run"}
  skipping:
    steps:
      - name: only-if-big
        type: step.set
        if: "amount > 100"
        config: {values: {big: true}}
      - name: unless-small
        type: step.set
        skip_if: "{{ amount < 10 }}"
        config: {values: {not_small: true}}
      - name: always
        type: step.set
        config: {values: {done: true}}
  fails-stop:
    on_error: stop
    steps:
      - name: boom
        type: step.fail
        config: {message: "order {{ order_id }} is cursed"}
      - name: after
        type: step.set
        config: {values: {after: true}}
  fails-skip:
    on_error: skip
    steps:
      - name: boom
        type: step.fail
        config: {message: "cursed"}
      - name: after
        type: step.set
        config: {values: {after: true}}
  fails-compensate:
    on_error: compensate
    compensation:
      - name: undo-first
        type: step.log
        config: {message: "undo first after {{ _failed_step }}"}
      - name: undo-second
        type: step.log
        config: {message: "undo second"}
    steps:
      - name: reserve
        type: step.set
        config: {values: {reserved: true}}
      - name: boom
        type: step.fail
        config: {message: "payment declined"}
  validates:
    steps:
      - name: check
        type: step.validate
        config: {strategy: required_fields, required_fields: [order_id, amount]}
      - name: shape
        type: step.validate
        config:
          strategy: json_schema
          schema: {type: object, properties: {amount: {type: number, minimum: 0}}}
      - name: pick
        type: step.transform
        config: {jmespath: "{id: order_id, total: amount}"}
      - name: out
        type: step.pipeline_output
        config: {values: {id: "{{ id }}", total: "{{ total }}"}}
  slow:
    timeout: 1s
    steps:
      - name: wait
        type: step.http_call
        config: {url: "http://127.0.0.1:9/never", timeout: 30s}
        retry: {max_attempts: 100, initial_interval: 200ms, backoff: 1.0}
"""


@pytest.fixture(scope="module")
async def executor(client: Client) -> AsyncIterator[PipelineExecutor]:
    async with running_pipelines(client, PIPELINES) as executor:
        yield executor


async def failure_of(executor: PipelineExecutor, name: str, data: dict) -> ApplicationError:
    with pytest.raises(WorkflowFailureError) as info:
        await executor.execute_pipeline(name, data)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def test_outputs_merge_into_state_and_steps(executor: PipelineExecutor) -> None:
    result = await executor.execute_pipeline("merge", {"b": 5, "keep": "x"})
    # Later outputs win in `current`; each step's own output stays addressable.
    assert result == {"a": 1, "b": 20, "c": 6, "keep": "x"}


async def test_single_expression_keeps_native_types(executor: PipelineExecutor) -> None:
    result = await executor.execute_pipeline("native-types", {"amount": 7})
    assert result["number"] == 14
    assert result["flag"] is True
    assert result["items"] == [1, 2, 7]
    assert result["nested"] == {"k": 7}
    assert result["text"] == "amount=7"
    assert result["pipeline"] == "native-types"


async def test_strict_templates_fail_on_undefined(executor: PipelineExecutor) -> None:
    cause = await failure_of(executor, "strict", {})
    assert 'step "uses-missing" failed' in cause.message
    assert "missing" in cause.message


async def test_lenient_templates_render_empty(executor: PipelineExecutor) -> None:
    result = await executor.execute_pipeline("lenient", {})
    assert result["x"] is None and result["y"] == "v="


async def test_next_step_jumps_and_continues_in_order(executor: PipelineExecutor) -> None:
    jumped = await executor.execute_pipeline("jumps", {"kind": "b"})
    assert jumped.get("visited_second") is True and "visited_first" not in jumped
    default = await executor.execute_pipeline("jumps", {"kind": "a"})
    assert default["visited_first"] is True and default["visited_second"] is True


async def test_stop_ends_the_run_successfully(executor: PipelineExecutor) -> None:
    assert await executor.execute_pipeline("stops", {}) == {"answer": 42}


async def test_skipped_steps_record_nothing(executor: PipelineExecutor) -> None:
    handle = await executor.start_pipeline("skipping", {"amount": 5})
    result = await handle.result()
    assert result == {"amount": 5, "done": True}
    timeline = await TemporalEventRecorder(executor.client).timeline(handle.id)
    assert [e.step for e in timeline] == ["always"]
    big = await executor.execute_pipeline("skipping", {"amount": 500})
    assert big["big"] is True and big["not_small"] is True


async def test_on_error_stop_fails_the_run_naming_the_step(executor: PipelineExecutor) -> None:
    cause = await failure_of(executor, "fails-stop", {"order_id": "A-7"})
    assert cause.message == 'step "boom" failed: order A-7 is cursed'
    assert cause.non_retryable


async def test_on_error_skip_records_the_error_and_goes_on(executor: PipelineExecutor) -> None:
    result = await executor.execute_pipeline("fails-skip", {})
    assert result["after"] is True
    assert result["_skipped"] is True and result["_error"] == "cursed"


async def test_on_error_compensate_runs_compensation_in_reverse(
    executor: PipelineExecutor,
) -> None:
    handle = await executor.start_pipeline("fails-compensate", {})
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert 'step "boom" failed: payment declined' in str(info.value.cause)
    steps = [e.step for e in await TemporalEventRecorder(executor.client).timeline(handle.id)]
    assert steps == ["reserve", "boom", "undo-second", "undo-first"]


async def test_validate_and_transform(executor: PipelineExecutor) -> None:
    result = await executor.execute_pipeline("validates", {"order_id": "A-1", "amount": 3})
    assert result == {"id": "A-1", "total": 3}
    missing = await failure_of(executor, "validates", {"order_id": "A-1"})
    assert 'step "check" failed' in missing.message and "amount" in missing.message
    negative = await failure_of(executor, "validates", {"order_id": "A-1", "amount": -1})
    assert 'step "shape" failed' in negative.message


async def test_pipeline_timeout_fails_the_run(executor: PipelineExecutor) -> None:
    cause = await failure_of(executor, "slow", {})
    assert cause.type == "PipelineTimeout"


async def test_unknown_pipeline_fails_without_retrying(executor: PipelineExecutor) -> None:
    cause = await failure_of(executor, "no-such-pipeline", {})
    assert "no-such-pipeline" in str(cause.cause or cause)


async def test_invalid_input_fails_the_workflow_at_once(
    client: Client, executor: PipelineExecutor
) -> None:
    handle = await client.start_workflow(
        "PipelineWorkflow",
        {"data": {"no": "pipeline"}},
        id="pipeline:invalid-input-test",
        task_queue=executor.task_queue,
    )
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput"
    assert "pipeline" in cause.message
