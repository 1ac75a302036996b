"""IaCStateStore backends: SQLite (the embedded default) and PostgreSQL."""

from statestore.factory import open_state_store
from statestore.postgres import PostgresStateStore
from statestore.sqlite import SqliteStateStore

__all__ = ["PostgresStateStore", "SqliteStateStore", "open_state_store"]
