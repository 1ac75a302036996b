"""The shared state store: PostgreSQL, for workers on several hosts and teams sharing stacks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import psycopg

from interfaces.iac import Plan, ResourceState
from statestore import locking

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS wfctl_stacks (
        stack TEXT PRIMARY KEY,
        serial BIGINT NOT NULL DEFAULT 0,
        lock_owner TEXT,
        lock_acquired_at TIMESTAMPTZ,
        lock_expires_at TIMESTAMPTZ
    )""",
    """CREATE TABLE IF NOT EXISTS wfctl_resources (
        stack TEXT NOT NULL,
        name TEXT NOT NULL,
        body JSONB NOT NULL,
        PRIMARY KEY (stack, name)
    )""",
    """CREATE TABLE IF NOT EXISTS wfctl_plans (
        stack TEXT NOT NULL,
        id TEXT NOT NULL,
        body JSONB NOT NULL,
        PRIMARY KEY (stack, id)
    )""",
    # TEXT, not JSONB: the body is the canonical JSON its digest was taken of, byte for byte.
    """CREATE TABLE IF NOT EXISTS wfctl_documents (
        stack TEXT NOT NULL,
        digest TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (stack, digest)
    )""",
]

_BUMP_SERIAL = """
INSERT INTO wfctl_stacks (stack, serial) VALUES (%s, 1)
ON CONFLICT (stack) DO UPDATE SET serial = wfctl_stacks.serial + 1
"""

_CLEAR_LOCK = "lock_owner = NULL, lock_acquired_at = NULL, lock_expires_at = NULL"


class PostgresStateStore:
    """IaCStateStore on PostgreSQL.

    One connection behind a threading.Lock serves the worker's activity threads; state calls
    are short and few next to the cloud calls they record. Each method is one transaction;
    the stack's row in wfctl_stacks is the row lock that serialises lock decisions across
    processes, and the database clock decides expiry so hosts with skewed clocks agree.
    Bodies are JSONB so an operator can query state with SQL.
    """

    def __init__(self, dsn: str, stack: str) -> None:
        self.stack = stack
        self._dsn = dsn
        self._lock = threading.Lock()
        self._closed = False
        self._conn: psycopg.Connection | None = None
        with self._transaction() as conn:
            # Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('wfctl_state_schema'))")
            for statement in _SCHEMA:
                conn.execute(statement)

    def __repr__(self) -> str:
        return f"PostgresStateStore(stack={self.stack!r})"  # the DSN may hold a password

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            # A connection broken by a server restart is replaced, so retried activities heal.
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self._dsn, autocommit=True)
            with self._conn.transaction():
                yield self._conn

    def save_resource(self, state: ResourceState) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO wfctl_resources (stack, name, body) VALUES (%s, %s, %s::jsonb)"
                " ON CONFLICT (stack, name) DO UPDATE SET body = excluded.body",
                (self.stack, state.name, state.model_dump_json()),
            )
            conn.execute(_BUMP_SERIAL, (self.stack,))

    def get_resource(self, name: str) -> ResourceState | None:
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT body::text FROM wfctl_resources WHERE stack = %s AND name = %s",
                (self.stack, name),
            ).fetchone()
        return ResourceState.model_validate_json(row[0]) if row else None

    def list_resources(self) -> list[ResourceState]:
        with self._transaction() as conn:
            rows = conn.execute(
                'SELECT body::text FROM wfctl_resources WHERE stack = %s ORDER BY name COLLATE "C"',
                (self.stack,),
            ).fetchall()
        return [ResourceState.model_validate_json(body) for (body,) in rows]

    def delete_resource(self, name: str) -> None:
        with self._transaction() as conn:
            removed = conn.execute(
                "DELETE FROM wfctl_resources WHERE stack = %s AND name = %s", (self.stack, name)
            ).rowcount
            if removed:
                conn.execute(_BUMP_SERIAL, (self.stack,))

    def save_plan(self, plan: Plan) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO wfctl_plans (stack, id, body) VALUES (%s, %s, %s::jsonb)"
                " ON CONFLICT (stack, id) DO UPDATE SET body = excluded.body",
                (self.stack, plan.id, plan.model_dump_json()),
            )

    def get_plan(self, plan_id: str) -> Plan | None:
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT body::text FROM wfctl_plans WHERE stack = %s AND id = %s",
                (self.stack, plan_id),
            ).fetchone()
        return Plan.model_validate_json(row[0]) if row else None

    def save_document(self, digest: str, body: str) -> None:
        # Content addressed: a second save of one digest is the same text, so it is kept.
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO wfctl_documents (stack, digest, body) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (self.stack, digest, body),
            )

    def get_document(self, digest: str) -> str | None:
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT body FROM wfctl_documents WHERE stack = %s AND digest = %s",
                (self.stack, digest),
            ).fetchone()
        return str(row[0]) if row else None

    def serial(self) -> int:
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT serial FROM wfctl_stacks WHERE stack = %s", (self.stack,)
            ).fetchone()
        return int(row[0]) if row else 0

    def lock(self, owner: str, ttl_seconds: float) -> str:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO wfctl_stacks (stack) VALUES (%s) ON CONFLICT DO NOTHING",
                (self.stack,),
            )
            holder, acquired_at, expires_at = conn.execute(
                "SELECT lock_owner, lock_acquired_at, lock_expires_at FROM wfctl_stacks"
                " WHERE stack = %s FOR UPDATE",
                (self.stack,),
            ).fetchone()
            now = self._clock(conn)  # read after the row lock: a waiter must not use a stale now
            keep_acquired, expiry = locking.new_expiry(
                self.stack, owner, holder, expires_at, now, ttl_seconds
            )
            conn.execute(
                "UPDATE wfctl_stacks SET lock_owner = %s, lock_acquired_at = %s,"
                " lock_expires_at = %s WHERE stack = %s",
                (owner, acquired_at if keep_acquired else now, expiry, self.stack),
            )
        return locking.iso(expiry)

    def unlock(self, owner: str) -> bool:
        with self._transaction() as conn:
            cleared = conn.execute(
                f"UPDATE wfctl_stacks SET {_CLEAR_LOCK} WHERE stack = %s AND lock_owner = %s",
                (self.stack, owner),
            ).rowcount
        return cleared > 0

    def lock_info(self) -> dict[str, str] | None:
        """The current holder as {owner, acquired_at, expires_at} (UTC ISO), or None."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT lock_owner, lock_acquired_at, lock_expires_at, clock_timestamp()"
                " FROM wfctl_stacks WHERE stack = %s",
                (self.stack,),
            ).fetchone()
        return locking.lock_info(*row) if row else None

    def force_unlock(self) -> bool:
        """Clear the lock whoever holds it; True if someone held it."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT lock_owner, lock_expires_at FROM wfctl_stacks WHERE stack = %s FOR UPDATE",
                (self.stack,),
            ).fetchone()
            if row is None:
                return False
            now = self._clock(conn)
            conn.execute(f"UPDATE wfctl_stacks SET {_CLEAR_LOCK} WHERE stack = %s", (self.stack,))
        return locking.held(row[0], row[1], now)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @staticmethod
    def _clock(conn: psycopg.Connection) -> datetime:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        return row[0]
