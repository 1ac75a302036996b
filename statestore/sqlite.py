"""The embedded state store: one SQLite file holding any number of stacks."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from interfaces.errors import ConfigError
from interfaces.iac import Plan, ResourceState
from statestore import locking

_SCHEMA = """
CREATE TABLE IF NOT EXISTS wfctl_stacks (
    stack TEXT PRIMARY KEY,
    serial INTEGER NOT NULL DEFAULT 0,
    lock_owner TEXT,
    lock_acquired_at TEXT,
    lock_expires_at TEXT
);
CREATE TABLE IF NOT EXISTS wfctl_resources (
    stack TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (stack, name)
);
CREATE TABLE IF NOT EXISTS wfctl_plans (
    stack TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (stack, id)
);
CREATE TABLE IF NOT EXISTS wfctl_documents (
    stack TEXT NOT NULL,
    digest TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (stack, digest)
);
"""

# Parameters: the stack, and how many changes the serial counts.
_BUMP_SERIAL = """
INSERT INTO wfctl_stacks (stack, serial) VALUES (?, ?)
ON CONFLICT (stack) DO UPDATE SET serial = serial + excluded.serial
"""

_CLEAR_LOCK = "lock_owner = NULL, lock_acquired_at = NULL, lock_expires_at = NULL"


@dataclass
class _QueuedSave:
    name: str
    body: str
    done: bool = False
    error: Exception | None = None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


class SqliteStateStore:
    """IaCStateStore on a SQLite file.

    One connection behind a threading.Lock serves every activity thread of a worker: SQLite
    allows one writer at a time anyway, and a connection per thread only moves that wait into
    busy_timeout retries. WAL and busy_timeout are still on for other processes (the CLI, a
    second worker) opening the same file; writes start with BEGIN IMMEDIATE so they queue on
    busy_timeout instead of failing on a read-to-write upgrade. Times are UTC from this host.
    """

    def __init__(self, path: str | Path, stack: str, *, busy_timeout_ms: int = 10_000) -> None:
        self.path = Path(path).expanduser()
        self.stack = stack
        self._lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_QueuedSave] = []  # resource saves waiting for the connection
        self._conn: sqlite3.Connection | None = self._connect(busy_timeout_ms)

    def _connect(self, busy_timeout_ms: int) -> sqlite3.Connection:
        """The open connection, or ConfigError when the path cannot be a state file: no
        retry turns a directory or a text file into a database."""
        if self.path.is_dir():
            raise self._not_a_database("is a directory")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise self._not_a_database(f"cannot create its folder ({error.strerror})") from None
        # isolation_level=None: transactions are ours (BEGIN IMMEDIATE), not the module's.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:
            conn.close()
            # A busy or locked file is worth a retry; these are not.
            if error.sqlite_errorname in ("SQLITE_NOTADB", "SQLITE_CANTOPEN", "SQLITE_READONLY"):
                raise self._not_a_database(str(error)) from None
            raise
        except BaseException:
            conn.close()
            raise
        return conn

    def _not_a_database(self, problem: str) -> ConfigError:
        return ConfigError(f"state.path {self.path}: not usable as a SQLite state file: {problem}")

    def __repr__(self) -> str:
        return f"SqliteStateStore({str(self.path)!r}, stack={self.stack!r})"

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._open_conn()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._transaction() as conn:
            yield conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the connection (the caller holds `_lock`)."""
        conn = self._open_conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _open_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"{self!r} is closed")
        return self._conn

    def save_resource(self, state: ResourceState) -> None:
        """Saved and committed when this returns. Saves from many threads at once (100
        actions of one apply) share one transaction: whichever thread gets the connection
        first commits every save queued by then, and the others find theirs done."""
        save = _QueuedSave(state.name, state.model_dump_json())
        with self._queue_lock:
            self._queue.append(save)
        with self._lock:
            if not save.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit_saves(batch)
        if save.error is not None:
            raise save.error

    def _commit_saves(self, batch: list[_QueuedSave]) -> None:
        try:
            with self._transaction() as conn:
                conn.executemany(
                    "INSERT INTO wfctl_resources (stack, name, body) VALUES (?, ?, ?) "
                    "ON CONFLICT (stack, name) DO UPDATE SET body = excluded.body",
                    [(self.stack, save.name, save.body) for save in batch],
                )
                # The serial counts saves, as one transaction per save did.
                conn.execute(_BUMP_SERIAL, (self.stack, len(batch)))
        except BaseException as error:
            # Nothing of the batch was saved: each of its callers raises (and retries).
            for save in batch:
                save.error = error if isinstance(error, Exception) else RuntimeError(
                    f"state save of {save.name!r} interrupted"
                )
            if not isinstance(error, Exception):
                raise
        finally:
            for save in batch:
                save.done = True

    def get_resource(self, name: str) -> ResourceState | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT body FROM wfctl_resources WHERE stack = ? AND name = ?",
                (self.stack, name),
            ).fetchone()
        return ResourceState.model_validate_json(row[0]) if row else None

    def list_resources(self) -> list[ResourceState]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT body FROM wfctl_resources WHERE stack = ? ORDER BY name", (self.stack,)
            ).fetchall()
        return [ResourceState.model_validate_json(body) for (body,) in rows]

    def delete_resource(self, name: str) -> None:
        with self._write() as conn:
            removed = conn.execute(
                "DELETE FROM wfctl_resources WHERE stack = ? AND name = ?", (self.stack, name)
            ).rowcount
            if removed:
                conn.execute(_BUMP_SERIAL, (self.stack, 1))

    def save_plan(self, plan: Plan) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO wfctl_plans (stack, id, body) VALUES (?, ?, ?) "
                "ON CONFLICT (stack, id) DO UPDATE SET body = excluded.body",
                (self.stack, plan.id, plan.model_dump_json()),
            )

    def get_plan(self, plan_id: str) -> Plan | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT body FROM wfctl_plans WHERE stack = ? AND id = ?", (self.stack, plan_id)
            ).fetchone()
        return Plan.model_validate_json(row[0]) if row else None

    def save_document(self, digest: str, body: str) -> None:
        # Content addressed: a second save of one digest is the same text, so it is kept.
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO wfctl_documents (stack, digest, body) VALUES (?, ?, ?)",
                (self.stack, digest, body),
            )

    def get_document(self, digest: str) -> str | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT body FROM wfctl_documents WHERE stack = ? AND digest = ?",
                (self.stack, digest),
            ).fetchone()
        return str(row[0]) if row else None

    def serial(self) -> int:
        with self._read() as conn:
            row = conn.execute(
                "SELECT serial FROM wfctl_stacks WHERE stack = ?", (self.stack,)
            ).fetchone()
        return int(row[0]) if row else 0

    def lock(self, owner: str, ttl_seconds: float) -> str:
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO wfctl_stacks (stack) VALUES (?)", (self.stack,))
            holder, acquired_at, expires_at = conn.execute(
                "SELECT lock_owner, lock_acquired_at, lock_expires_at FROM wfctl_stacks"
                " WHERE stack = ?",
                (self.stack,),
            ).fetchone()
            now = datetime.now(UTC)
            keep_acquired, expiry = locking.new_expiry(
                self.stack, owner, holder, _parse(expires_at), now, ttl_seconds
            )
            conn.execute(
                "UPDATE wfctl_stacks SET lock_owner = ?, lock_acquired_at = ?, lock_expires_at = ?"
                " WHERE stack = ?",
                (
                    owner,
                    acquired_at if keep_acquired else now.isoformat(),
                    expiry.isoformat(),
                    self.stack,
                ),
            )
        return locking.iso(expiry)

    def unlock(self, owner: str) -> bool:
        with self._write() as conn:
            cleared = conn.execute(
                f"UPDATE wfctl_stacks SET {_CLEAR_LOCK} WHERE stack = ? AND lock_owner = ?",
                (self.stack, owner),
            ).rowcount
        return cleared > 0

    def lock_info(self) -> dict[str, str] | None:
        """The current holder as {owner, acquired_at, expires_at} (UTC ISO), or None."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT lock_owner, lock_acquired_at, lock_expires_at FROM wfctl_stacks"
                " WHERE stack = ?",
                (self.stack,),
            ).fetchone()
        if row is None:
            return None
        return locking.lock_info(row[0], _parse(row[1]), _parse(row[2]), datetime.now(UTC))

    def force_unlock(self) -> bool:
        """Clear the lock whoever holds it; True if someone held it."""
        with self._write() as conn:
            row = conn.execute(
                "SELECT lock_owner, lock_expires_at FROM wfctl_stacks WHERE stack = ?",
                (self.stack,),
            ).fetchone()
            if row is None:
                return False
            conn.execute(f"UPDATE wfctl_stacks SET {_CLEAR_LOCK} WHERE stack = ?", (self.stack,))
        return locking.held(row[0], _parse(row[1]), datetime.now(UTC))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
