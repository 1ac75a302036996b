"""The "test" IaC provider: a durable fake cloud in a SQLite file, with latency and faults.

Provider config (the stack's provider block):
  cloud: path of the SQLite file holding the fake cloud (shared by every worker process)
  latency: seconds each create/update/delete takes (the resource exists before the wait ends,
           so a worker killed during the wait leaves it behind, like a real cloud)
  ready_after: health polls answered "not ready" before a resource becomes healthy
  force_new: config fields whose change needs a replace (default: [cidr])
  throttle: {resource name: N} -> its first N creates raise a retryable throttling error
  fail: {resource name: message} -> its creates and updates raise a validation error
  (TestCloud.break_resource / fix_resource do the same from a test, durably, for a cause
  fixed while the run goes on)
  types: resource types offered (default: test.network, test.database, test.thing)

Create adopts a live resource with the same name, type and config instead of making a second
one, so a retried create is idempotent. `TestCloud` lets tests inspect the calls and change or
delete resources behind the engine's back.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from interfaces.errors import NotFoundError, ProviderError, UnsupportedOperationError
from interfaces.iac import (
    SIZING_MAP,
    CapabilityDeclaration,
    DiffResult,
    FieldChange,
    HealthResult,
    ProviderSizing,
    ResourceHints,
    ResourceOutput,
    ResourceRef,
    ResourceSpec,
    ResourceState,
    ResourceStatus,
    Size,
)
from providers.registry import register_provider_type

DEFAULT_TYPES = ("test.network", "test.database", "test.thing")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    provider_id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL,
    config TEXT NOT NULL, polls INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS calls (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, name TEXT NOT NULL,
    provider_id TEXT NOT NULL DEFAULT '', adopted INTEGER NOT NULL DEFAULT 0,
    started REAL NOT NULL, ended REAL
);
-- Every create and locate looks a resource up by name, under the write lock: unindexed, each
-- one scanned the table, and a 100,000-resource apply slowed as the cloud filled.
CREATE INDEX IF NOT EXISTS resources_by_name ON resources (name);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS faults (name TEXT PRIMARY KEY, message TEXT NOT NULL);
"""


def _canonical(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)


class TestCloud:
    """The fake cloud's SQLite file: what the driver writes and what tests read or tamper with."""

    __test__ = False  # not a pytest test class

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # This process's writers queue here, not on SQLite's lock: SQLite makes a waiting
        # writer sleep and retry with growing pauses (up to 100 ms each), and with 100 actions
        # at once those pauses, not the work, set the pace. Other processes (a test reading
        # or tampering) still meet the file's own lock.
        self._write_lock = threading.Lock()
        conn = sqlite3.connect(self.path, timeout=60)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
        finally:
            conn.close()

    @contextmanager
    def connect(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction on this thread's own connection (connecting per call costs more
        than the call). A read (`write=False`) takes no write lock: under WAL it runs beside
        the writes instead of queueing behind them with 100 actions at once."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            # WAL + NORMAL: no fsync per commit; the fake cloud must not be the bottleneck.
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
        if not write:
            # Every read is one statement: in autocommit mode it is its own read transaction,
            # without a BEGIN and a COMMIT around it.
            yield conn
            return
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def start_call(self, op: str, name: str) -> int:
        with self.connect() as conn:
            cursor = conn.execute(
                "INSERT INTO calls (op, name, started) VALUES (?, ?, ?)", (op, name, time.time())
            )
            return int(cursor.lastrowid or 0)

    def end_call(self, seq: int, provider_id: str, adopted: bool = False) -> None:
        with self.connect() as conn:
            conn.execute(
                "UPDATE calls SET ended = ?, provider_id = ?, adopted = ? WHERE seq = ?",
                (time.time(), provider_id, int(adopted), seq),
            )

    def bump(self, key: str) -> int:
        """Increment a durable counter and return its value before the increment."""
        with self.connect() as conn:
            row = conn.execute("SELECT n FROM counters WHERE key = ?", (key,)).fetchone()
            before = row[0] if row else 0
            conn.execute(
                "INSERT INTO counters (key, n) VALUES (?, 1)"
                " ON CONFLICT (key) DO UPDATE SET n = n + 1",
                (key,),
            )
            return int(before)

    def counter(self, key: str) -> int:
        with self.connect() as conn:
            row = conn.execute("SELECT n FROM counters WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    # What tests inspect.

    def calls(self, op: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT seq, op, name, provider_id, adopted, started, ended FROM calls"
        with self.connect() as conn:
            if op is None:
                rows = conn.execute(query + " ORDER BY seq").fetchall()
            else:
                rows = conn.execute(query + " WHERE op = ? ORDER BY seq", (op,)).fetchall()
        keys = ("seq", "op", "name", "provider_id", "adopted", "started", "ended")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def fresh_creates(self) -> dict[str, int]:
        """name -> resources ever made under it (a create that adopted one makes none)."""
        with self.connect() as conn:
            rows = conn.execute("SELECT name, COUNT(*) FROM resources GROUP BY name").fetchall()
        return {name: count for name, count in rows}

    def live(self) -> dict[str, dict[str, Any]]:
        """name -> {provider_id, type, config} of every resource not deleted."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT provider_id, name, type, config FROM resources WHERE deleted = 0"
            ).fetchall()
        return {
            name: {"provider_id": pid, "type": rtype, "config": json.loads(config)}
            for pid, name, rtype, config in rows
        }

    def max_concurrency(self, op: str | None = None) -> int:
        events: list[tuple[float, int]] = []
        for call in self.calls(op):
            if call["ended"] is not None:
                events += [(call["started"], 1), (call["ended"], -1)]
        running = peak = 0
        for _, step in sorted(events):
            running += step
            peak = max(peak, running)
        return peak

    # Changes behind the engine's back.

    def break_resource(self, name: str, message: str) -> None:
        """Creates and updates of `name` fail with a validation error until fixed."""
        with self.connect() as conn:
            conn.execute("INSERT OR REPLACE INTO faults VALUES (?, ?)", (name, message))

    def fix_resource(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute("DELETE FROM faults WHERE name = ?", (name,))

    def fault(self, name: str) -> str | None:
        with self.connect(write=False) as conn:
            row = conn.execute("SELECT message FROM faults WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def set_config(self, name: str, key: str, value: Any) -> None:
        with self.connect() as conn:
            for pid, config in conn.execute(
                "SELECT provider_id, config FROM resources WHERE name = ? AND deleted = 0",
                (name,),
            ).fetchall():
                changed = {**json.loads(config), key: value}
                conn.execute(
                    "UPDATE resources SET config = ? WHERE provider_id = ?",
                    (_canonical(changed), pid),
                )

    def remove(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute("UPDATE resources SET deleted = 1 WHERE name = ?", (name,))


class TestDriver:
    """ResourceDriver of one test resource type."""

    __test__ = False

    def __init__(self, resource_type: str, cloud: TestCloud, config: dict[str, Any]) -> None:
        self.resource_type = resource_type
        self.cloud = cloud
        self.latency = float(config.get("latency", 0))
        self.ready_after = int(config.get("ready_after", 0))
        self.force_new = set(config.get("force_new", ["cidr"]))
        self.throttle: dict[str, int] = dict(config.get("throttle") or {})
        self.fail: dict[str, str] = dict(config.get("fail") or {})

    def _row(self, provider_id: str) -> tuple[str, str, dict[str, Any], int]:
        with self.cloud.connect(write=False) as conn:
            row = conn.execute(
                "SELECT name, type, config, polls FROM resources"
                " WHERE provider_id = ? AND deleted = 0",
                (provider_id,),
            ).fetchone()
        if row is None:
            raise NotFoundError(f"{self.resource_type} {provider_id} does not exist")
        return row[0], row[1], json.loads(row[2]), row[3]

    def _output(
        self, provider_id: str, name: str, config: dict[str, Any], polls: int
    ) -> ResourceOutput:
        outputs: dict[str, Any] = {"id": provider_id, **config}
        sensitive: list[str] = []
        if self.resource_type == "test.database":
            outputs.update(endpoint=f"{name}.db.test:5432", password=f"pw-{provider_id}")
            sensitive = ["password"]
        ready = polls >= self.ready_after
        return ResourceOutput(
            name=name,
            type=self.resource_type,
            provider_id=provider_id,
            outputs=outputs,
            status=ResourceStatus.READY if ready else ResourceStatus.CREATING,
            sensitive=sensitive,
        )

    def _faults(self, name: str, op: str) -> None:
        message = self.fail.get(name) or self.cloud.fault(name)
        if message:
            raise ProviderError(message, code="ValidationError", retryable=False)
        limit = self.throttle.get(name, 0)
        if op == "create" and limit and self.cloud.bump(f"throttle:{name}") < limit:
            raise ProviderError(
                "Rate exceeded", code="Throttling", retryable=True, retry_after=0.05
            )

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        self._faults(spec.name, "create")
        config = _canonical(spec.config)
        with self.cloud.connect() as conn:
            found = conn.execute(
                "SELECT provider_id FROM resources"
                " WHERE name = ? AND type = ? AND config = ? AND deleted = 0",
                (spec.name, self.resource_type, config),
            ).fetchone()
            provider_id = found[0] if found else f"t-{uuid.uuid4().hex[:12]}"
            if not found:
                conn.execute(
                    "INSERT INTO resources (provider_id, name, type, config) VALUES (?, ?, ?, ?)",
                    (provider_id, spec.name, self.resource_type, config),
                )
            seq = conn.execute(
                "INSERT INTO calls (op, name, provider_id, adopted, started)"
                " VALUES ('create', ?, ?, ?, ?)",
                (spec.name, provider_id, int(bool(found)), time.time()),
            ).lastrowid
        if not found:
            time.sleep(self.latency)
        self.cloud.end_call(int(seq or 0), provider_id, adopted=bool(found))
        return self._output(provider_id, spec.name, json.loads(config), 0)

    def locate(self, spec: ResourceSpec) -> str:
        """The live resource of this name and type (a create that died before returning)."""
        with self.cloud.connect(write=False) as conn:
            row = conn.execute(
                "SELECT provider_id FROM resources WHERE name = ? AND type = ? AND deleted = 0",
                (spec.name, self.resource_type),
            ).fetchone()
        return row[0] if row else ""

    def read(self, ref: ResourceRef) -> ResourceOutput:
        name, _, config, polls = self._row(ref.provider_id)
        return self._output(ref.provider_id, name, config, polls)

    def read_many(self, refs: Sequence[ResourceRef]) -> dict[str, ResourceOutput | None]:
        """One query for many resources (a cloud's filtered list call); counted as a call."""
        self.cloud.bump("read_many")
        wanted = {ref.provider_id: ref.name for ref in refs}
        with self.cloud.connect() as conn:
            rows = conn.execute(
                "SELECT provider_id, name, config, polls FROM resources"
                " WHERE deleted = 0 AND provider_id IN"
                f" ({','.join('?' * len(wanted))})",
                tuple(wanted),
            ).fetchall()
        live = {pid: (name, json.loads(config), polls) for pid, name, config, polls in rows}
        found: dict[str, ResourceOutput | None] = {}
        for ref in refs:
            row = live.get(ref.provider_id)
            found[ref.name] = None if row is None else self._output(ref.provider_id, *row)
        return found

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        self._faults(spec.name, "update")
        self._row(ref.provider_id)
        seq = self.cloud.start_call("update", spec.name)
        with self.cloud.connect() as conn:
            conn.execute(
                "UPDATE resources SET config = ? WHERE provider_id = ?",
                (_canonical(spec.config), ref.provider_id),
            )
        time.sleep(self.latency)
        self.cloud.end_call(seq, ref.provider_id)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        self._row(ref.provider_id)
        seq = self.cloud.start_call("delete", ref.name)
        with self.cloud.connect() as conn:
            conn.execute(
                "UPDATE resources SET deleted = 1 WHERE provider_id = ?", (ref.provider_id,)
            )
        time.sleep(self.latency)
        self.cloud.end_call(seq, ref.provider_id)

    def diff(self, desired: ResourceSpec, current: ResourceOutput) -> DiffResult:
        changes = [
            FieldChange(
                path=key, old=current.outputs.get(key), new=value, force_new=key in self.force_new
            )
            for key, value in desired.config.items()
            if current.outputs.get(key) != value
        ]
        replace = any(change.force_new for change in changes)
        return DiffResult(needs_update=bool(changes), needs_replace=replace, changes=changes)

    def health_check(self, ref: ResourceRef) -> HealthResult:
        if self.ready_after == 0:
            # Ready at once: counting the polls would change nothing but take the write lock.
            self._row(ref.provider_id)
            return HealthResult(healthy=True)
        with self.cloud.connect() as conn:
            row = conn.execute(
                "SELECT name, polls FROM resources WHERE provider_id = ? AND deleted = 0",
                (ref.provider_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"{self.resource_type} {ref.provider_id} does not exist")
            conn.execute(
                "UPDATE resources SET polls = polls + 1 WHERE provider_id = ?", (ref.provider_id,)
            )
        name, polls = row
        if polls >= self.ready_after:
            return HealthResult(healthy=True)
        return HealthResult(healthy=False, message=f"{name} warming up ({polls})")

    def scale(self, ref: ResourceRef, replicas: int) -> ResourceOutput:
        raise UnsupportedOperationError(f"{self.resource_type} cannot scale")


class TestProvider:
    """IaCProvider "test" over a TestCloud."""

    __test__ = False
    name = "test"
    version = "1"

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.cloud: TestCloud | None = None

    def initialize(self, config: dict[str, Any]) -> None:
        if not config.get("cloud"):
            raise ProviderError("the test provider needs `cloud: <sqlite path>`", code="Config")
        self.config = dict(config)
        self.cloud = TestCloud(config["cloud"])

    def capabilities(self) -> list[CapabilityDeclaration]:
        return [
            CapabilityDeclaration(
                resource_type=rtype,
                operations=["create", "read", "update", "delete", "diff", "health_check"],
            )
            for rtype in self.config.get("types", DEFAULT_TYPES)
        ]

    def resource_driver(self, resource_type: str) -> TestDriver:
        assert self.cloud is not None, "initialize() first"
        if resource_type not in self.config.get("types", DEFAULT_TYPES):
            raise UnsupportedOperationError(f"the test provider has no type {resource_type}")
        return TestDriver(resource_type, self.cloud, self.config)

    def resolve_sizing(
        self, resource_type: str, size: Size, hints: ResourceHints | None
    ) -> ProviderSizing:
        tier = SIZING_MAP[size]
        specs: dict[str, Any] = {"cpu": tier.cpu, "memory": tier.memory}
        if hints is not None:
            specs.update({k: v for k, v in hints.model_dump().items() if v})
        return ProviderSizing(instance_type=f"test-{size.value}", specs=specs)

    def import_resource(self, provider_id: str, resource_type: str) -> ResourceState:
        output = self.resource_driver(resource_type).read(ResourceRef(
            name="", type=resource_type, provider_id=provider_id
        ))
        config = {k: v for k, v in output.outputs.items() if k != "id"}
        return ResourceState(
            id=provider_id,
            name=output.name,
            type=resource_type,
            provider=self.name,
            provider_id=provider_id,
            applied_config=config,
            outputs=output.outputs,
            sensitive=output.sensitive,
        )

    def close(self) -> None:
        self.cloud = None


register_provider_type("test", TestProvider)
