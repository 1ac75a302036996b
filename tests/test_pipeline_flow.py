"""foreach, parallel, call_pipeline, sleep, retry_with_backoff and per-step on_error, run as
real workflows on the dev server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities.step_catalog import default_registry
from engine.pipeline_config import parse_pipelines_text
from interfaces.errors import ConfigError
from tests.pipeline_harness import running_pipelines
from tests.slow_server import SlowServer
from wfctl.client import PipelineExecutor
from wfctl.history import TemporalEventRecorder
from workflows.search_attributes import PIPELINE_NAME

PIPELINES = """
pipelines:
  fanout:
    steps:
      - name: each
        type: step.foreach
        config:
          items: "{{ range(20) | list }}"
          concurrency: 4
          steps:
            # Later items answer sooner, so completion order is not item order.
            - name: fetch
              type: step.http_call
              config: {url: "{{ base }}/delay?ms={{ (20 - item) * 15 }}"}
            - name: shape
              type: step.set
              config: {values: {n: "{{ item }}", at: "{{ index }}", square: "{{ item * item }}"}}
  fanout-errors:
    steps:
      - name: each
        type: step.foreach
        config:
          items: [1, 0, 2]
          item_var: divisor
          continue_on_error: "{{ keep_going }}"
          steps:
            - name: divide
              type: step.set
              config: {values: {q: "{{ 10 // divisor }}"}}
  race:
    steps:
      - name: both
        type: step.parallel
        config:
          fail_fast: true
          branches:
            slow:
              - name: hang
                type: step.http_call
                config: {url: "{{ base }}/hang", timeout: 30s}
                retry: {max_attempts: 1}
            fast:
              - name: pause
                type: step.sleep
                config: {duration: 300ms}
              - name: boom
                type: step.fail
                config: {message: "fast branch broke"}
  join:
    steps:
      - name: both
        type: step.parallel
        config:
          branches:
            left:
              - name: a
                type: step.set
                config: {values: {side: left, x: 1}}
            right:
              - name: pause
                type: step.sleep
                config: {duration: "{{ wait }}"}
              - name: b
                type: step.set
                config: {values: {side: right, y: 2}}
      - name: after
        type: step.set
        config: {values: {sum: "{{ steps.both.left.x + steps.both.right.y }}"}}
  child:
    steps:
      - name: work
        type: step.fail
        if: "explode"
        config: {message: "child exploded"}
      - name: answer
        type: step.pipeline_output
        config: {values: {doubled: "{{ n * 2 }}", meta: {from: "{{ meta.pipeline }}"}}}
  parent:
    steps:
      - name: call
        type: step.call_pipeline
        config:
          pipeline: child
          input: {n: "{{ n }}", explode: "{{ explode | default(false) }}"}
          output_mapping: {result: doubled, origin: meta.from}
      - name: fire
        type: step.call_pipeline
        config: {pipeline: child, mode: async, input: {n: 1, explode: false}}
  retrying:
    steps:
      - name: until-third
        type: step.retry_with_backoff
        config:
          max_attempts: "{{ attempts }}"
          initial_interval: 100ms
          steps:
            - name: flaky
              type: step.fail
              if: "attempt < 3"
              config: {message: "attempt {{ attempt }} failed"}
            - name: ok
              type: step.set
              config: {values: {succeeded_on: "{{ attempt }}"}}
  routed:
    steps:
      - name: tolerated
        type: step.fail
        on_error: continue
        config: {message: "ignored"}
      - name: risky
        type: step.fail
        on_error: goto handle
        config: {message: "risky failed"}
      - name: skipped-by-goto
        type: step.set
        config: {values: {skipped: false}}
      - name: handle
        type: step.set
        config: {values: {handled: "{{ _failed_step }}: {{ _error }}"}}
"""


@pytest.fixture(scope="module")
def server() -> Iterator[SlowServer]:
    server = SlowServer()
    yield server
    server.stop()


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


async def test_foreach_keeps_item_order_at_concurrency_4(
    executor: PipelineExecutor, server: SlowServer
) -> None:
    server.max_in_flight = 0
    handle = await executor.start_pipeline("fanout", {"base": server.url})
    result = await handle.result()
    assert [r["n"] for r in result["results"]] == list(range(20))
    assert [r["at"] for r in result["results"]] == list(range(20))
    assert result["results"][7]["square"] == 49
    assert result["results"][7]["status_code"] == 200
    assert server.max_in_flight == 4
    timeline = await TemporalEventRecorder(executor.client).timeline(handle.id)
    assert [e.step for e in timeline].count("fetch") == 20
    assert {e.type for e in timeline} == {"step.http_call", "step.set"}


async def test_foreach_item_failure_fails_the_step_unless_continue_on_error(
    executor: PipelineExecutor,
) -> None:
    cause = await failure_of(executor, "fanout-errors", {"keep_going": False})
    assert cause.message.startswith('step "each" failed: item 1: step "divide" failed:')
    result = await executor.execute_pipeline("fanout-errors", {"keep_going": True})
    assert result["results"][0] == {"q": 10} and result["results"][2] == {"q": 5}
    assert "ZeroDivisionError" in result["results"][1]["_error"]
    assert len(result["errors"]) == 1


async def test_parallel_fail_fast_cancels_the_slow_sibling(
    executor: PipelineExecutor, server: SlowServer
) -> None:
    server.aborted = 0
    started = time.monotonic()
    handle = await executor.start_pipeline("race", {"base": server.url})
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    elapsed = time.monotonic() - started
    message = str(info.value.cause)
    assert "branch fast: step \"boom\" failed: fast branch broke" in message
    assert "(cancelled: slow)" in message
    # The hanging request answers after 30 s; the run ends once the heartbeat carried the cancel.
    assert elapsed < 10
    for _ in range(50):
        if server.aborted:
            break
        await asyncio.sleep(0.1)
    assert server.aborted == 1
    timeline = await TemporalEventRecorder(executor.client).timeline(handle.id)
    statuses = {e.step: e.status for e in timeline}
    assert statuses["hang"] == "canceled"
    assert statuses["boom"] == "failed"
    assert statuses["pause"] == "completed"


async def test_parallel_joins_branch_outputs(executor: PipelineExecutor) -> None:
    result = await executor.execute_pipeline("join", {"wait": "200ms"})
    assert result["left"] == {"side": "left", "x": 1}
    assert result["right"] == {"side": "right", "y": 2}
    assert result["sum"] == 3


async def test_call_pipeline_sync_maps_output_and_async_returns_the_child_id(
    executor: PipelineExecutor,
) -> None:
    handle = await executor.start_pipeline("parent", {"n": 21}, run="family")
    result = await handle.result()
    assert result["result"] == 42 and result["origin"] == "child"
    assert result["workflow_id"] == "pipeline:child:family.fire"
    sync_child = executor.client.get_workflow_handle("pipeline:child:family.call")
    described = await sync_child.describe()
    assert described.typed_search_attributes.get(PIPELINE_NAME) == "child"
    assert await sync_child.result() == {"doubled": 42, "meta": {"from": "child"}}
    assert await executor.client.get_workflow_handle(result["workflow_id"]).result() == {
        "doubled": 2, "meta": {"from": "child"}
    }
    timeline = await TemporalEventRecorder(executor.client).timeline(handle.id)
    calls = [(e.step, e.kind, e.status) for e in timeline]
    assert ("call", "child", "completed") in calls


async def test_call_pipeline_failure_names_the_child(executor: PipelineExecutor) -> None:
    cause = await failure_of(executor, "parent", {"n": 1, "explode": True})
    assert cause.message == (
        'step "call" failed: pipeline "child" failed: step "work" failed: child exploded'
    )


async def test_retry_with_backoff_reruns_the_sub_steps(executor: PipelineExecutor) -> None:
    handle = await executor.start_pipeline("retrying", {"attempts": 4})
    result = await handle.result()
    assert result["succeeded_on"] == 3 and result["attempts"] == 3
    timeline = await TemporalEventRecorder(executor.client).timeline(handle.id)
    waits = [e for e in timeline if e.kind == "timer"]
    assert [e.step for e in waits] == ["until-third", "until-third"]
    cause = await failure_of(executor, "retrying", {"attempts": 2})
    assert "failed after 2 attempts" in cause.message and "attempt 2 failed" in cause.message


async def test_step_on_error_continue_and_goto(executor: PipelineExecutor) -> None:
    result = await executor.execute_pipeline("routed", {})
    assert result["handled"] == "risky: risky failed"
    assert "skipped" not in result
    assert result["_skipped"] is True  # from `tolerated`, which went on


def test_nested_steps_and_gotos_are_checked_at_load() -> None:
    text = """
pipelines:
  bad:
    steps:
      - name: each
        type: step.foreach
        config:
          items: [1]
          steps:
            - {name: inner, type: step.nope}
      - name: both
        type: step.parallel
        config:
          branches:
            a: [{name: x, type: step.set, config: {values: {v: "{{ broken" }}}]
      - {name: jumpy, type: step.log, on_error: goto nowhere, config: {message: hi}}
      - {name: nap, type: step.sleep, config: {duration: soon}}
"""
    with pytest.raises(ConfigError) as info:
        parse_pipelines_text(text, "flow.yaml", default_registry())
    problems = "\n".join(info.value.problems)
    assert 'step "each": steps: step "inner": unknown step type "step.nope"' in problems
    assert 'step "both": branch a: step "x": config' in problems
    assert 'step "jumpy": on_error: goto "nowhere", which does not exist' in problems
    assert 'step "nap": config.duration' in problems


def test_io_types_include_nested_steps() -> None:
    loaded = parse_pipelines_text(PIPELINES, "flow.yaml", default_registry())
    assert loaded["fanout"].io_types == ["step.http_call"]
    assert loaded["race"].io_types == ["step.http_call"]


def test_called_pipelines_must_exist_when_a_file_loads(tmp_path: Path) -> None:
    from engine.pipeline_config import load_pipelines

    config = tmp_path / "calls.yaml"
    config.write_text("""
pipelines:
  caller:
    steps:
      - {name: ok, type: step.call_pipeline, config: {pipeline: "{{ which }}"}}
      - name: each
        type: step.foreach
        config:
          items: [1]
          steps: [{name: missing, type: step.call_pipeline, config: {pipeline: ghost}}]
""")
    with pytest.raises(ConfigError) as info:
        load_pipelines(config, default_registry())
    assert info.value.problems == [
        f'{config}: pipeline "caller": step "missing": calls pipeline "ghost", '
        "which is not defined"
    ]
