"""open_state_store: the stack document's `state:` block picks and configures the backend."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from interfaces.errors import ConfigError
from statestore import PostgresStateStore, SqliteStateStore, open_state_store
from tests.conftest import PG_DSN


def test_sqlite_relative_path_resolves_against_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFCTL_STATE_DIR", str(tmp_path))
    store = open_state_store({"backend": "sqlite", "path": "nested/dir/s.db"}, "app")
    try:
        assert isinstance(store, SqliteStateStore)
        assert store.path == tmp_path / "nested/dir/s.db"
        assert store.path.exists()
    finally:
        store.close()


def test_sqlite_is_the_default_at_dot_data_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WFCTL_STATE_DIR")
    monkeypatch.chdir(tmp_path)
    store = open_state_store({}, "app")
    try:
        assert isinstance(store, SqliteStateStore)
        assert store.path == tmp_path / ".data/state.db"
    finally:
        store.close()


def test_sqlite_absolute_path_ignores_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFCTL_STATE_DIR", "/nope")
    absolute = tmp_path / "abs" / "state.db"
    store = open_state_store({"backend": "sqlite", "path": str(absolute)}, "app")
    try:
        assert store.path == absolute
    finally:
        store.close()


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown backend 'etcd'") as caught:
        open_state_store({"backend": "etcd"}, "app")
    assert len(caught.value.problems) == 1


def test_missing_dsn_env_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WFCTL_STATE_DSN_MISSING", raising=False)
    with pytest.raises(ConfigError, match="WFCTL_STATE_DSN_MISSING is not set") as caught:
        open_state_store({"backend": "postgres", "dsn_env": "WFCTL_STATE_DSN_MISSING"}, "app")
    assert "\n" not in str(caught.value)


def test_postgres_without_any_dsn_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="dsn_env"):
        open_state_store({"backend": "postgres"}, "app")


def _require_postgres() -> None:
    try:
        psycopg.connect(PG_DSN, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {PG_DSN} is unreachable: {exc}")


def test_postgres_dsn_is_read_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    _require_postgres()
    monkeypatch.setenv("WFCTL_STATE_DSN", PG_DSN)
    stack = f"factory-{uuid.uuid4().hex[:12]}"
    store = open_state_store({"backend": "postgres", "dsn_env": "WFCTL_STATE_DSN"}, stack)
    try:
        assert isinstance(store, PostgresStateStore)
        assert store.stack == stack
        assert store.serial() == 0
        assert PG_DSN not in repr(store)
    finally:
        store.close()


def test_postgres_password_less_dsn_may_be_given_directly() -> None:
    _require_postgres()
    store = open_state_store({"backend": "postgres", "dsn": PG_DSN}, "factory-direct")
    try:
        assert isinstance(store, PostgresStateStore)
        assert store.list_resources() == []
    finally:
        store.close()
