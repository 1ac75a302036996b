"""Bounded documents: pipeline and stack files refuse billion laughs, duplicate keys, deep
nesting and oversized documents with file and line; hot reload of such a file never stalls
the worker."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import pytest
import typer
from temporalio.client import Client

from activities.pipeline_catalog import CatalogReloader, PipelineCatalog
from activities.step_catalog import default_registry
from engine.bounded_yaml import MAX_ALIAS_NODES, MAX_DEPTH, MAX_DOCUMENT_BYTES, load_yaml
from engine.iac.stack import load_stack_file
from engine.pipeline_config import load_pipelines, parse_pipelines_text
from interfaces.errors import ConfigError
from wfctl.cli import parse_data
from wfctl.client import PipelineExecutor
from worker import pipeline_worker

REGISTRY = default_registry()

# Nine to the ninth strings once expanded; the alias on line 12 crosses the budget.
LAUGHS = """pipelines:
  laughs:
    steps:
      - name: laugh
        type: step.set
        config:
          values:
            a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
            b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
            c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
            d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
            e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
            f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
            g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
            h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
            i: [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""

VALID = """pipelines:
  greet:
    steps:
      - name: nap
        type: step.sleep
        config: {duration: "{{ nap }}"}
      - name: hello
        type: step.set
        config: {values: {greeting: hello}}
"""


def problem_of(text: str, source: str = "orders.yaml") -> str:
    with pytest.raises(ConfigError) as caught:
        parse_pipelines_text(text, source, REGISTRY)
    assert len(caught.value.problems) == 1
    return caught.value.problems[0]


def test_billion_laughs_pipeline_is_refused_at_the_alias_that_crosses_the_budget() -> None:
    problem = problem_of(LAUGHS)
    assert problem.startswith("orders.yaml:12:")
    assert f"aliases expand to more than {MAX_ALIAS_NODES} nodes" in problem


def test_billion_laughs_stack_is_refused(tmp_path: Path) -> None:
    stack = tmp_path / "stack.yaml"
    body = LAUGHS.split("          values:\n", 1)[1]
    stack.write_text(
        "stack: laughs\nresources:\n  - name: db\n    type: infra.database\n"
        "    config:\n" + body.replace("            ", "      ")
    )
    with pytest.raises(ConfigError, match=rf"^{stack}:10:\d+: invalid YAML: aliases expand"):
        load_stack_file(stack)


def test_duplicate_keys_in_a_pipeline_file_are_refused_with_their_line() -> None:
    text = """pipelines:
  orders:
    steps:
      - {name: a, type: step.set, config: {values: {x: 1}}}
  orders:
    steps:
      - {name: b, type: step.set, config: {values: {x: 2}}}
"""
    assert problem_of(text) == "orders.yaml:5:3: invalid YAML: found duplicate key 'orders'"
    inner = """pipelines:
  orders:
    steps:
      - name: a
        type: step.set
        config: {values: {x: 1}}
        type: step.log
"""
    assert problem_of(inner) == "orders.yaml:7:9: invalid YAML: found duplicate key 'type'"


def test_nesting_deeper_than_the_limit_is_refused(tmp_path: Path) -> None:
    deep = "pipelines:\n  p:\n    x: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n"
    assert problem_of(deep).startswith("orders.yaml:3:")
    assert f"nested deeper than {MAX_DEPTH} levels" in problem_of(deep)
    # JSON is YAML: a stack file nested 3000 deep, as a Temporal CLI user might send.
    stack = tmp_path / "deep.json"
    stack.write_text('{"stack": "s", "resources": ' + "[" * 3000 + "]" * 3000 + "}")
    with pytest.raises(ConfigError, match=rf"^{stack}:1:\d+: invalid YAML: nested deeper"):
        load_stack_file(stack)


def test_an_alias_cannot_nest_past_the_limit_either() -> None:
    half = MAX_DEPTH // 2 + 2
    text = "a: &a " + "[" * half + "]" * half + "\nb: " + "[" * half + "*a" + "]" * half + "\n"
    with pytest.raises(ConfigError, match=r"^t.yaml:2:\d+: .*alias \*a nests the document"):
        load_yaml(text, "t.yaml")


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^t.yaml:1:8: .*alias \*a refers to a node that"):
        load_yaml("a: &a [*a]\n", "t.yaml")


def test_a_document_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    line = "# " + "x" * 98 + "\n"
    big.write_text("pipelines:\n" + line * (MAX_DOCUMENT_BYTES // len(line) + 1))
    with pytest.raises(ConfigError) as caught:
        load_pipelines(big, REGISTRY)
    size = big.stat().st_size
    assert caught.value.problems == [
        f"{big}: document is {size} bytes, more than the limit of {MAX_DOCUMENT_BYTES}"
    ]
    with pytest.raises(ConfigError, match=r"^<t>: document is \d+ bytes"):
        load_yaml("x" * (MAX_DOCUMENT_BYTES + 1), "<t>")


def test_ordinary_anchors_and_merge_keys_still_load() -> None:
    text = """pipelines:
  base: &base
    steps:
      - &step {name: a, type: step.set, config: {values: {x: 1}}}
  copy: *base
  merged:
    steps:
      - <<: *step
        name: b
"""
    pipelines = parse_pipelines_text(text, "orders.yaml", REGISTRY)
    assert sorted(pipelines) == ["base", "copy", "merged"]
    assert pipelines["merged"].spec.steps[0].name == "b"
    assert pipelines["merged"].spec.steps[0].config == {"values": {"x": 1}}


async def test_billion_laughs_dropped_into_a_watched_folder_never_stalls_the_worker(
    client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wfctl.config")
    (tmp_path / "greet.yaml").write_text(VALID)
    catalog = PipelineCatalog.load(tmp_path, REGISTRY)
    reloader = CatalogReloader(catalog, REGISTRY, tmp_path)
    queue = f"test-laughs-{uuid.uuid4().hex[:8]}"
    executor = PipelineExecutor(client, task_queue=queue)
    stop = asyncio.Event()
    async with pipeline_worker(client, catalog, REGISTRY, queue):
        watching = asyncio.create_task(reloader.watch(stop, 0.1))
        try:
            running = await executor.start_pipeline("greet", {"nap": "1s"})
            laughs = tmp_path / "laughs.yaml"
            laughs.write_text(LAUGHS)
            for _ in range(200):
                if any("reload rejected" in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.05)
            messages = [record.getMessage() for record in caplog.records]
            rejected = [message for message in messages if "reload rejected" in message]
            assert len(rejected) == 1
            assert "config reload rejected" in rejected[0]
            assert f"{laughs}:12:" in rejected[0]
            assert "aliases expand" in rejected[0]
            # The run in flight and a new one both complete on the previous definitions.
            assert (await running.result())["greeting"] == "hello"
            assert (await executor.execute_pipeline("greet", {"nap": 0}))["greeting"] == "hello"
            assert catalog.names() == ["greet"]
        finally:
            stop.set()
            await watching


def test_wfctl_data_files_are_loaded_with_the_same_bounds(tmp_path: Path) -> None:
    data = tmp_path / "data.yaml"
    data.write_text(LAUGHS.replace("pipelines:", "order:", 1))
    with pytest.raises(typer.BadParameter, match=rf"{data}:12:\d+: invalid YAML: aliases expand"):
        parse_data(f"@{data}")
    data.write_text("amount: 5\namount: 6\n")
    with pytest.raises(typer.BadParameter, match="found duplicate key 'amount'"):
        parse_data(f"@{data}")
