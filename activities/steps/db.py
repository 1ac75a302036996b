"""step.db_query / step.db_exec: one parameterised SQL statement on SQLite or PostgreSQL.

`dsn` is `env:NAME` (read from the worker's environment when the step runs, so no password
reaches the history) or a URL without a password (`sqlite:///orders.db`,
`postgresql://app@db/orders`). `query` is never a template: values go in `params` and are
bound as `:name` placeholders, so a template cannot inject SQL.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import re
import sqlite3
import uuid
from decimal import Decimal
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from pydantic import Field, field_validator

from engine.redaction import dsn_has_password
from engine.step_registry import StepCall, StepError, StepType
from engine.steps.config import StepConfig, TemplateString, rendered_mapping
from engine.templates import has_template_syntax
from interfaces import StepResult

ENV_PREFIX = "env:"
CONNECT_TIMEOUT_SECONDS = 10
# Single- or double-quoted text, a `::` cast, a `:name` placeholder, or a literal percent sign.
_SQL_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|:([A-Za-z_]\w*)|%")


class DbConfig(StepConfig):
    dsn: str = Field(min_length=1)
    query: str = Field(min_length=1)
    params: dict[str, Any] | TemplateString = Field(default_factory=dict)

    @field_validator("dsn")
    @classmethod
    def _no_secret_in_dsn(cls, dsn: str) -> str:
        if has_template_syntax(dsn):
            raise ValueError("dsn cannot be a template; write env:NAME or a URL")
        if dsn.startswith(ENV_PREFIX):
            if not re.fullmatch(r"[A-Za-z_]\w*", dsn[len(ENV_PREFIX):]):
                raise ValueError(f"{dsn!r}: expected env:NAME with a variable name")
            return dsn
        scheme = dsn.split(":", 1)[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(f"unsupported dsn scheme {scheme!r}: use sqlite: or postgresql:")
        if dsn_has_password(dsn):  # in the userinfo or as ?password=
            raise ValueError(
                "the dsn holds a password, which would be recorded in the workflow history; "
                "put the URL in an environment variable of the worker and write dsn: env:NAME"
            )
        return dsn

    @field_validator("query")
    @classmethod
    def _query_is_not_a_template(cls, query: str) -> str:
        if has_template_syntax(query):
            raise ValueError("query cannot be a template; bind values with :name and `params`")
        return query


class DbQueryConfig(DbConfig):
    mode: Literal["list", "single"] = "list"


class DbExecConfig(DbConfig):
    # Give back the rows of an INSERT/UPDATE/DELETE ... RETURNING.
    returning: bool = False


def resolve_dsn(dsn: str) -> str:
    if not dsn.startswith(ENV_PREFIX):
        return dsn
    name = dsn[len(ENV_PREFIX):]
    value = os.environ.get(name)
    if not value:
        raise StepError(
            f"environment variable {name} (the step's dsn) is not set on the worker",
            error_type="ConfigError",
        )
    return value


def placeholders(query: str) -> list[str]:
    return [m.group(1) for m in _SQL_TOKEN.finditer(query) if m.group(1)]


def to_pyformat(query: str) -> str:
    """`:name` -> `%(name)s` for psycopg; literal `%` doubled, casts (`::int`) kept."""

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if match.group(1):
            return f"%({match.group(1)})s"
        return text.replace("%", "%%")

    return _SQL_TOKEN.sub(replace, query)


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


Rows = tuple[list[dict[str, Any]], int]


def _sqlite_path(dsn: str) -> str:
    # sqlite:///relative.db, sqlite:////absolute.db, sqlite:///:memory:
    path = dsn[len("sqlite:"):]
    return path[3:] if path.startswith("///") else path.lstrip("/")


def _run_sqlite(dsn: str, query: str, params: dict[str, Any]) -> Rows:
    connection = sqlite3.connect(_sqlite_path(dsn), timeout=5)
    try:
        connection.row_factory = sqlite3.Row
        with connection:  # commits, or rolls back on error
            cursor = connection.execute(query, params)
            rows = [dict(row) for row in cursor.fetchall()] if cursor.description else []
            return rows, cursor.rowcount
    except sqlite3.OperationalError as exc:
        # A locked database frees up; anything else (syntax, missing table) will not.
        raise StepError(f"SQLite: {exc}", retryable="locked" in str(exc), error_type="DbError") \
            from None
    except sqlite3.Error as exc:
        raise StepError(f"SQLite: {exc}", error_type="DbError") from None
    finally:
        connection.close()


_RETRYABLE_PG = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)


async def _run_postgres(dsn: str, query: str, params: dict[str, Any]) -> Rows:
    try:
        async with await psycopg.AsyncConnection.connect(
            dsn, connect_timeout=CONNECT_TIMEOUT_SECONDS
        ) as connection:
            async with connection.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(to_pyformat(query), params)  # type: ignore[arg-type]
                rows = await cursor.fetchall() if cursor.description else []
                return [dict(row) for row in rows], cursor.rowcount
    except psycopg.OperationalError as exc:
        raise StepError(f"PostgreSQL unavailable: {_first_line(exc)}", retryable=True,
                        error_type="DbUnavailable") from None
    except _RETRYABLE_PG as exc:
        raise StepError(f"PostgreSQL: {_first_line(exc)}", retryable=True,
                        error_type="DbError") from None
    except psycopg.Error as exc:
        raise StepError(f"PostgreSQL: {_first_line(exc)}", error_type="DbError") from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


async def run_statement(config: DbConfig) -> Rows:
    params = rendered_mapping(config.params, "params")
    missing = sorted(set(placeholders(config.query)) - set(params))
    if missing:
        raise StepError(f"query uses :{', :'.join(missing)} but params has no such key",
                        error_type="ConfigError")
    dsn = resolve_dsn(config.dsn)
    if dsn.startswith("sqlite:"):
        rows, rowcount = await asyncio.to_thread(_run_sqlite, dsn, config.query, params)
    elif dsn.startswith(("postgresql:", "postgres:")):
        rows, rowcount = await _run_postgres(dsn, config.query, params)
    else:
        raise StepError("the dsn is neither sqlite: nor postgresql:", error_type="ConfigError")
    return jsonable(rows), rowcount


async def execute_query(config: DbQueryConfig, call: StepCall) -> StepResult:
    rows, _ = await run_statement(config)
    if config.mode == "single":
        return StepResult(output={"row": rows[0] if rows else None})
    return StepResult(output={"rows": rows, "count": len(rows)})


async def execute_exec(config: DbExecConfig, call: StepCall) -> StepResult:
    rows, rowcount = await run_statement(config)
    output: dict[str, Any] = {"rowcount": rowcount}
    if config.returning:
        output["rows"] = rows
    return StepResult(output=output)


DB_QUERY = StepType(
    name="step.db_query",
    config_model=DbQueryConfig,
    execute=execute_query,
    io=True,
    raw_fields=frozenset({"dsn", "query"}),
    description="Run a parameterised SELECT on SQLite or PostgreSQL (rows or a single row).",
)
DB_EXEC = StepType(
    name="step.db_exec",
    config_model=DbExecConfig,
    execute=execute_exec,
    io=True,
    raw_fields=frozenset({"dsn", "query"}),
    description="Run a parameterised INSERT/UPDATE/DELETE/DDL on SQLite or PostgreSQL.",
)
