"""call_pipeline loops: refused when the file loads if the targets are literal, stopped by a
depth limit at run time if a template picks them."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities.pipeline_catalog import CatalogReloader, PipelineCatalog
from activities.step_catalog import default_registry
from engine.pipeline_config import load_pipelines
from interfaces.errors import ConfigError
from tests.pipeline_harness import running_pipelines
from tests.test_pipeline_cli import run_command
from workflows.pipeline import MAX_CALL_DEPTH

REGISTRY = default_registry()

# a -> b through a foreach, b -> c through a parallel branch, c -> a through a retry, and
# `solo` calls itself from its compensation.
LOOPED = """
pipelines:
  a:
    steps:
      - name: each
        type: step.foreach
        config:
          items: [1]
          steps: [{name: to-b, type: step.call_pipeline, config: {pipeline: b}}]
  b:
    steps:
      - name: both
        type: step.parallel
        config:
          branches:
            left: [{name: to-c, type: step.call_pipeline, config: {pipeline: c}}]
            right: [{name: fine, type: step.set, config: {values: {x: 1}}}]
  c:
    steps:
      - name: again
        type: step.retry_with_backoff
        config:
          steps: [{name: to-a, type: step.call_pipeline, config: {pipeline: a}}]
  solo:
    on_error: compensate
    compensation: [{name: undo, type: step.call_pipeline, config: {pipeline: solo}}]
    steps: [{name: work, type: step.set, config: {values: {x: 1}}}]
  leaf:
    steps: [{name: to-b, type: step.call_pipeline, config: {pipeline: b}}]
"""


def test_cycles_through_nested_steps_are_named_in_full(tmp_path: Path) -> None:
    config = tmp_path / "x.yaml"
    config.write_text(LOOPED)
    with pytest.raises(ConfigError) as info:
        load_pipelines(config, REGISTRY)
    assert info.value.problems == [
        f"call_pipeline cycle: a -> b -> c -> a (file {config}, pipeline a, step to-b)",
        f"call_pipeline cycle: solo -> solo (file {config}, pipeline solo, step undo)",
    ]


def test_a_cycle_across_files_names_the_file_it_starts_in(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(
        "pipelines:\n  a:\n    steps: [{name: s, type: step.call_pipeline,"
        " config: {pipeline: b}}]\n"
    )
    (tmp_path / "two.yaml").write_text(
        "pipelines:\n  b:\n    steps: [{name: back, type: step.call_pipeline,"
        " config: {pipeline: a, mode: async}}]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_pipelines(tmp_path, REGISTRY)
    assert info.value.problems == [
        f"call_pipeline cycle: a -> b -> a (file {tmp_path / 'one.yaml'}, pipeline a, step s)"
    ]


def test_calls_without_a_loop_load(tmp_path: Path) -> None:
    # c calls a fresh pipeline instead of a, solo calls leaf: two routes into b remain
    # (a -> b, leaf -> b), which is not a loop.
    config = tmp_path / "ok.yaml"
    config.write_text(
        LOOPED.replace("pipeline: a}", "pipeline: end}")
        .replace("pipeline: solo}", "pipeline: leaf}")
        + "  end:\n    steps: [{name: s, type: step.set, config: {values: {x: 1}}}]\n"
    )
    assert set(load_pipelines(config, REGISTRY)) == {"a", "b", "c", "solo", "leaf", "end"}


def test_a_chain_longer_than_pythons_stack_loads(tmp_path: Path) -> None:
    count = sys.getrecursionlimit() + 100
    lines = ["pipelines:"]
    for i in range(count):
        step = (f"{{name: s, type: step.call_pipeline, config: {{pipeline: p{i + 1}}}}}"
                if i + 1 < count else "{name: s, type: step.set, config: {values: {x: 1}}}")
        lines.append(f"  p{i}:\n    steps: [{step}]")
    config = tmp_path / "chain.yaml"
    config.write_text("\n".join(lines) + "\n")
    assert len(load_pipelines(config, REGISTRY)) == count


async def test_wfctl_validate_refuses_a_cycle(tmp_path: Path) -> None:
    config = tmp_path / "x.yaml"
    config.write_text(LOOPED)
    code, _, err = await run_command(sys.executable, "-m", "wfctl", "validate", str(config))
    assert code == 1
    assert "call_pipeline cycle: a -> b -> c -> a" in " ".join(err.split())


async def test_worker_reload_keeps_the_previous_pipelines_on_a_cycle(tmp_path: Path) -> None:
    config = tmp_path / "x.yaml"
    config.write_text("pipelines:\n  a:\n    steps: [{name: s, type: step.log,"
                      " config: {message: hi}}]\n")
    catalog = PipelineCatalog.load(config, REGISTRY)
    reloader = CatalogReloader(catalog, REGISTRY, config)
    config.write_text(LOOPED)
    assert await reloader.check() is False
    assert catalog.get("a").spec.steps[0].type == "step.log"


# The target is a template, so loading cannot see the loop; the run must still end.
DYNAMIC = """
pipelines:
  again:
    steps:
      - name: call
        type: step.call_pipeline
        config: {pipeline: "{{ next }}", input: {next: "{{ next }}"}}
"""


async def test_a_template_chosen_loop_stops_at_the_depth_limit(client: Client) -> None:
    async with running_pipelines(client, DYNAMIC) as executor:
        run = f"loop-{uuid.uuid4().hex[:8]}"
        handle = await executor.start_pipeline("again", {"next": "again"}, run=run)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.non_retryable
    assert cause.message.startswith('step "call" failed: pipeline "again" failed: ')
    assert cause.message.endswith(
        f'step "call" failed: calling pipeline "again" would nest {MAX_CALL_DEPTH + 1} '
        f"pipeline calls deep (limit {MAX_CALL_DEPTH}); is there a call_pipeline cycle?"
    )
    # Exactly MAX_CALL_DEPTH children were started, one below the other.
    deepest = client.get_workflow_handle(f"pipeline:again:{run}" + ".call" * MAX_CALL_DEPTH)
    assert (await deepest.describe()).status.name == "FAILED"  # type: ignore[union-attr]
    too_deep = client.get_workflow_handle(f"pipeline:again:{run}" + ".call" * (MAX_CALL_DEPTH + 1))
    with pytest.raises(Exception, match="not found"):
        await too_deep.describe()
