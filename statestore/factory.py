"""Open the state store a stack document's `state:` block names."""

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


def open_state_store(
    state: Mapping[str, Any], stack: str, base_dir: Path | None = None
) -> IaCStateStore:
    """`{backend: sqlite, path: ...}` (the default) or `{backend: postgres, dsn_env: VAR}`.

    The DSN is read from the environment of the process opening the store, so a password
    never travels through a Temporal workflow input; `dsn:` is for password-less DSNs.
    """
    backend = state.get("backend", "sqlite")
    if backend == "sqlite":
        path = Path(str(state.get("path") or DEFAULT_SQLITE_PATH)).expanduser()
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        return SqliteStateStore(path, stack)
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
