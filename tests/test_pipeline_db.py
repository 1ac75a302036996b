"""step.db_query / step.db_exec against a real SQLite file and the real PostgreSQL server."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from temporalio.client import Client, WorkflowFailureError

from activities.step_catalog import default_registry
from activities.steps.db import placeholders, to_pyformat
from engine.pipeline_config import parse_pipelines_text
from interfaces.errors import ConfigError
from tests.conftest import PG_DSN
from tests.pipeline_harness import running_pipelines
from wfctl.client import PipelineExecutor
from wfctl.history import TemporalEventRecorder

TABLE = f"wfctl_orders_{uuid.uuid4().hex[:8]}"
ENV = {"sqlite": "WFCTL_TEST_SQLITE", "postgres": "WFCTL_TEST_DB"}


def pipelines_for(backend: str) -> str:
    dsn = f"env:{ENV[backend]}"
    return f"""
  orders-{backend}:
    steps:
      - name: create
        type: step.db_exec
        config:
          dsn: {dsn}
          query: CREATE TABLE {TABLE} (id integer primary key, sku text not null, qty integer)
      - name: insert
        type: step.foreach
        config:
          items: "{{{{ lines }}}}"
          steps:
            - name: add
              type: step.db_exec
              config:
                dsn: {dsn}
                query: INSERT INTO {TABLE} (id, sku, qty) VALUES (:id, :sku, :qty) RETURNING id
                params:
                  {{id: "{{{{ item.id }}}}", sku: "{{{{ item.sku }}}}", qty: "{{{{ item.qty }}}}"}}
                returning: true
      - name: bump
        type: step.db_exec
        config:
          dsn: {dsn}
          query: "UPDATE {TABLE} SET qty = qty + :n WHERE sku LIKE 'a%'"
          params: {{n: "{{{{ bump_by }}}}"}}
      - name: everything
        type: step.db_query
        config: {{dsn: {dsn}, query: "SELECT id, sku, qty FROM {TABLE} ORDER BY id"}}
      - name: one
        type: step.db_query
        config:
          dsn: {dsn}
          query: "SELECT sku, qty FROM {TABLE} WHERE id = :id"
          params: {{id: 2}}
          mode: single
      - name: nothing
        type: step.db_query
        config:
          dsn: {dsn}
          query: "SELECT sku FROM {TABLE} WHERE id = :id"
          params: {{id: 999}}
          mode: single
      - name: out
        type: step.pipeline_output
        config:
          values:
            inserted: "{{{{ steps.insert.results | map(attribute='rows') | list }}}}"
            bumped: "{{{{ steps.bump.rowcount }}}}"
            rows: "{{{{ steps.everything.rows }}}}"
            one: "{{{{ steps.one.row }}}}"
            nothing: "{{{{ steps.nothing.row }}}}"
  broken-{backend}:
    steps:
      - name: bad
        type: step.db_query
        config: {{dsn: {dsn}, query: "SELEC nonsense"}}
"""


PIPELINES = "pipelines:" + pipelines_for("sqlite") + pipelines_for("postgres") + """
  unset-env:
    steps:
      - name: q
        type: step.db_query
        config: {dsn: "env:WFCTL_TEST_NOT_SET", query: "SELECT 1"}
"""


def payload_text(node: Any) -> str:
    """Every payload of a history (JSON form) decoded, one per line."""
    if isinstance(node, dict):
        if "data" in node and "metadata" in node:
            return base64.b64decode(node["data"]).decode(errors="replace") + "\n"
        return "".join(payload_text(value) for value in node.values())
    if isinstance(node, list):
        return "".join(payload_text(value) for value in node)
    return ""


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The worker (in this process) reads the DSNs from its environment, as in production."""
    sqlite_file = Path(tmp_path_factory.mktemp("db")) / "orders.db"
    os.environ[ENV["sqlite"]] = f"sqlite:///{sqlite_file}"
    os.environ[ENV["postgres"]] = PG_DSN
    os.environ.pop("WFCTL_TEST_NOT_SET", None)
    yield
    with psycopg.connect(PG_DSN, autocommit=True) as connection:
        connection.execute(f"DROP TABLE IF EXISTS {TABLE}")
    for name in ENV.values():
        os.environ.pop(name, None)


@pytest.fixture(scope="module")
async def executor(client: Client, databases: None) -> AsyncIterator[PipelineExecutor]:
    async with running_pipelines(client, PIPELINES) as executor:
        yield executor


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_exec_and_query(executor: PipelineExecutor, backend: str) -> None:
    lines = [{"id": 1, "sku": "apple", "qty": 3}, {"id": 2, "sku": "avocado", "qty": 1},
             {"id": 3, "sku": "bean", "qty": 7}]
    handle = await executor.start_pipeline(f"orders-{backend}", {"lines": lines, "bump_by": 10})
    result = await handle.result()
    assert result["inserted"] == [[{"id": 1}], [{"id": 2}], [{"id": 3}]]
    assert result["bumped"] == 2
    assert result["rows"] == [
        {"id": 1, "sku": "apple", "qty": 13},
        {"id": 2, "sku": "avocado", "qty": 11},
        {"id": 3, "sku": "bean", "qty": 7},
    ]
    assert result["one"] == {"sku": "avocado", "qty": 11}
    assert result["nothing"] is None
    # The history names the variable, never the connection string.
    history = payload_text(json.loads((await handle.fetch_history()).to_json()))
    assert f"env:{ENV[backend]}" in history
    assert os.environ[ENV[backend]] not in history


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_sql_errors_fail_at_once(executor: PipelineExecutor, backend: str) -> None:
    handle = await executor.start_pipeline(f"broken-{backend}", {})
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert "syntax error" in str(info.value.cause)
    [event] = await TemporalEventRecorder(executor.client).timeline(handle.id)
    assert event.attempts == 1 and event.status == "failed"


async def test_unset_env_names_the_variable(executor: PipelineExecutor) -> None:
    with pytest.raises(WorkflowFailureError) as info:
        await executor.execute_pipeline("unset-env", {})
    assert "environment variable WFCTL_TEST_NOT_SET" in str(info.value.cause)


def test_password_in_dsn_is_refused_at_load() -> None:
    text = """
pipelines:
  leaky:
    steps:
      - name: q
        type: step.db_query
        config: {dsn: "postgresql://app:hunter2@db/orders", query: "SELECT {{ x }}"}
"""
    with pytest.raises(ConfigError) as info:
        parse_pipelines_text(text, "leaky.yaml", default_registry())
    problems = "\n".join(info.value.problems)
    assert "dsn: Value error, the dsn holds a password" in problems
    assert "query cannot be a template" in problems
    assert "hunter2" not in problems.replace("postgresql://app:hunter2@db/orders", "")


def test_password_as_a_dsn_query_parameter_is_refused_too() -> None:
    text = """
pipelines:
  leaky:
    steps:
      - name: q
        type: step.db_query
        config: {dsn: "postgresql://app@db/orders?password=hunter2", query: "SELECT 1"}
"""
    with pytest.raises(ConfigError) as info:
        parse_pipelines_text(text, "leaky.yaml", default_registry())
    assert "the dsn holds a password" in "\n".join(info.value.problems)


def test_placeholders_skip_quotes_casts_and_percent() -> None:
    query = "SELECT :a::int, ':not', \"c:x\", '5%' FROM t WHERE s LIKE 'a%' AND b = :b_2"
    assert placeholders(query) == ["a", "b_2"]
    assert to_pyformat(query) == (
        "SELECT %(a)s::int, ':not', \"c:x\", '5%%' FROM t WHERE s LIKE 'a%%' AND b = %(b_2)s"
    )
