"""Open the state store a stack document's `state:` block names.

A relative SQLite `state.path` is relative to the state directory of the process that opens
the store -- `$WFCTL_STATE_DIR`, else its working directory -- whoever started the run and
wherever the stack came from: like Terraform's local backend, whose relative `path` is
relative to where terraform runs, not to a file. A worker given a stack as JSON has no file to
be relative to; `wfctl` resolves the same rule before it sends a stack, so a run it starts
writes where `wfctl infra state list` reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from interfaces.errors import ConfigError
from interfaces.iac_protocols import IaCStateStore
from statestore.postgres import PostgresStateStore
from statestore.sqlite import SqliteStateStore

DEFAULT_SQLITE_PATH = ".data/state.db"
STATE_DIR_ENV = "WFCTL_STATE_DIR"


def state_dir() -> Path:
    configured = os.environ.get(STATE_DIR_ENV)
    return Path(configured).expanduser().absolute() if configured else Path.cwd()


def sqlite_path(state: Mapping[str, Any]) -> Path:
    """The absolute file a SQLite `state:` block names."""
    path = Path(str(state.get("path") or DEFAULT_SQLITE_PATH)).expanduser()
    return path if path.is_absolute() else state_dir() / path


def with_absolute_path(state: Mapping[str, Any]) -> dict[str, Any]:
    """The block with a SQLite path made absolute here, for a process elsewhere to use as is."""
    resolved = dict(state)
    if resolved.get("backend", "sqlite") == "sqlite":
        resolved["path"] = str(sqlite_path(state))
    return resolved


def open_state_store(state: Mapping[str, Any], stack: str) -> IaCStateStore:
    """`{backend: sqlite, path: ...}` (the default) or `{backend: postgres, dsn_env: VAR}`.

    The DSN is read from the environment of the process opening the store, so a password
    never travels through a Temporal workflow input; `dsn:` is for password-less DSNs.
    """
    backend = state.get("backend", "sqlite")
    if backend == "sqlite":
        return SqliteStateStore(sqlite_path(state), stack)
    if backend == "postgres":
        return PostgresStateStore(_postgres_dsn(state), stack)
    raise ConfigError(f"state.backend: unknown backend {backend!r} (use sqlite or postgres)")


def _postgres_dsn(state: Mapping[str, Any]) -> str:
    if state.get("dsn_env"):
        variable = str(state["dsn_env"])
        dsn = os.environ.get(variable)
        if not dsn:
            raise ConfigError(
                f"state.dsn_env: environment variable {variable} is not set"
                " in the process opening the postgres state store"
            )
        return dsn
    if state.get("dsn"):
        return str(state["dsn"])
    raise ConfigError("state: the postgres backend needs dsn_env (or a password-less dsn)")
