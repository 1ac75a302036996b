"""One contract for every IaCStateStore backend: SQLite and PostgreSQL must behave the same."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
import pytest

from interfaces.errors import DocumentError, StateLockedError
from interfaces.iac import FieldChange, Plan, PlanAction, ResourceSpec, ResourceState, Size
from interfaces.iac_protocols import IaCStateStore
from statestore import PostgresStateStore, SqliteStateStore, documents
from tests.conftest import PG_DSN

OpenStore = Callable[[str], Any]


@cache
def _postgres_unreachable() -> str | None:
    try:
        psycopg.connect(PG_DSN, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        return f"PostgreSQL at {PG_DSN} is unreachable: {exc}".strip()
    return None


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens stores on one database per test; stack names get a unique suffix on PostgreSQL."""
    opened: list[Any] = []
    suffix = uuid.uuid4().hex[:12]
    if request.param == "postgres" and (reason := _postgres_unreachable()):
        pytest.skip(reason)

    def open_(stack: str) -> Any:
        if request.param == "sqlite":
            store: Any = SqliteStateStore(tmp_path / "state" / "state.db", stack)
        else:
            store = PostgresStateStore(PG_DSN, f"{stack}-{suffix}")
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()
    if request.param == "postgres":
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            for table in ("wfctl_stacks", "wfctl_resources", "wfctl_plans"):
                conn.execute(f"DELETE FROM {table} WHERE stack LIKE %s", (f"%-{suffix}",))


def _state(name: str, **overrides: Any) -> ResourceState:
    fields: dict[str, Any] = {
        "id": f"id-{name}",
        "name": name,
        "type": "infra.database",
        "provider": "aws",
        "provider_id": f"arn:aws:rds:us-east-1:123:db:{name}",
        "config_hash": "sha256:abc",
        "applied_config": {"engine": "postgres", "size": "m", "tags": {"team": "orders"},
                           "ports": [5432], "ratio": 0.25, "enabled": True, "none": None},
        "outputs": {"endpoint": f"{name}.db.local", "port": 5432, "password": "s3cret",
                    "nested": {"a": [1, {"b": "c"}]}},
        "dependencies": ["infra.vpc.main", "infra.subnet.a"],
        "created_at": datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        "updated_at": datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC),
        "last_drift_check": datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC),
        "sensitive": ["password"],
    }
    fields.update(overrides)
    return ResourceState(**fields)


def test_backends_satisfy_the_protocol(open_store: OpenStore) -> None:
    assert isinstance(open_store("proto"), IaCStateStore)


def test_resources_round_trip_with_every_field(open_store: OpenStore) -> None:
    store = open_store("rt")
    db, cache_ = _state("orders-db"), _state("cache", last_drift_check=None, sensitive=[])
    store.save_resource(db)
    store.save_resource(cache_)

    assert store.get_resource("orders-db") == db
    assert store.get_resource("cache") == cache_
    assert store.get_resource("missing") is None
    assert [r.name for r in store.list_resources()] == ["cache", "orders-db"]

    updated = db.model_copy(update={"outputs": {"endpoint": "new"}, "provider_id": "p2"})
    store.save_resource(updated)
    assert store.get_resource("orders-db") == updated
    assert len(store.list_resources()) == 2

    store.delete_resource("orders-db")
    store.delete_resource("orders-db")  # a missing name is a no-op
    assert store.get_resource("orders-db") is None
    assert store.list_resources() == [cache_]


def test_a_pending_entry_round_trips_and_becomes_done(open_store: OpenStore) -> None:
    store = open_store("pending")
    made = _state("orders-db", pending=True, provider_id="", outputs={}, sensitive=[])
    store.save_resource(made)
    assert store.get_resource("orders-db") == made
    # The cloud named it: the entry takes the id and stays pending.
    named = made.model_copy(update={"provider_id": "db-1"})
    store.save_resource(named)
    assert store.list_resources() == [named]
    done = _state("orders-db", provider_id="db-1")
    store.save_resource(done)
    assert store.get_resource("orders-db") == done and done.pending is False


def test_an_entry_written_before_pending_existed_reads_as_done(open_store: OpenStore) -> None:
    store = open_store("legacy")
    body = _state("old").model_dump(mode="json")
    del body["pending"]
    store.save_resource(ResourceState.model_validate(body))
    assert store.get_resource("old") is not None and store.get_resource("old").pending is False


def test_list_orders_by_name_bytewise_on_every_backend(open_store: OpenStore) -> None:
    store = open_store("order")
    names = ["b", "B", "a-1", "a_1", "a.1", "Z", "é", "10", "9"]
    for name in names:
        store.save_resource(_state(name))
    assert [r.name for r in store.list_resources()] == sorted(names)


def test_serial_moves_on_changes_only(open_store: OpenStore) -> None:
    store = open_store("serial")
    assert store.serial() == 0
    store.save_resource(_state("a"))
    store.save_resource(_state("b"))
    store.save_resource(_state("a", config_hash="other"))
    assert store.serial() == 3

    store.get_resource("a")
    store.list_resources()
    store.save_plan(Plan(id="p1"))
    store.get_plan("p1")
    store.lock("me", 30)
    store.unlock("me")
    store.delete_resource("never-existed")
    assert store.serial() == 3

    store.delete_resource("a")
    assert store.serial() == 4


def test_stacks_in_one_database_do_not_see_each_other(open_store: OpenStore) -> None:
    prod, dev = open_store("prod"), open_store("dev")
    prod.save_resource(_state("db", outputs={"env": "prod"}))
    prod.save_resource(_state("only-prod"))
    dev.save_resource(_state("db", outputs={"env": "dev"}))
    prod.save_plan(Plan(id="shared-id", stack="prod"))
    prod.lock("prod-apply", 30)

    assert dev.get_resource("db").outputs == {"env": "dev"}
    assert prod.get_resource("db").outputs == {"env": "prod"}
    assert dev.get_resource("only-prod") is None
    assert [r.name for r in dev.list_resources()] == ["db"]
    assert (prod.serial(), dev.serial()) == (2, 1)
    assert dev.get_plan("shared-id") is None
    dev.lock("dev-apply", 30)  # prod's lock is prod's alone
    dev.delete_resource("only-prod")
    assert prod.get_resource("only-prod") is not None


def test_plans_round_trip(open_store: OpenStore) -> None:
    store = open_store("plans")
    plan = Plan(
        id="plan-1",
        stack="plans",
        state_serial=7,
        created_at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        actions=[
            PlanAction(
                action="replace",
                resource=ResourceSpec(name="db", type="infra.database", size=Size.M,
                                      config={"engine": "postgres"}, depends_on=["vpc"]),
                current=_state("db"),
                changes=[FieldChange(path="engine", old="mysql", new="postgres", force_new=True)],
            ),
            PlanAction(action="create", resource=ResourceSpec(name="vpc", type="infra.vpc")),
        ],
    )
    store.save_plan(plan)
    assert store.get_plan("plan-1") == plan
    assert store.get_plan("unknown") is None

    store.save_plan(plan.model_copy(update={"state_serial": 8}))
    assert store.get_plan("plan-1").state_serial == 8


def test_documents_round_trip_by_digest_per_stack(open_store: OpenStore) -> None:
    store, other = open_store("docs"), open_store("other-docs")
    document = {"stack": "docs", "resources": [{"name": "é", "type": "t"}], "providers": {}}
    digest = documents.save_document(store, document)
    assert digest == documents.digest_of(documents.canonical_json(document))
    assert documents.load_document(store, digest, "docs") == document
    documents.save_document(store, document)  # the same content twice: kept once, unchanged
    assert store.get_document(digest) == documents.canonical_json(document)
    assert other.get_document(digest) is None  # another stack's documents are not visible
    with pytest.raises(DocumentError, match="no stored document has digest"):
        documents.load_document(other, digest, "other-docs")


def test_lock_is_exclusive_and_names_the_holder(open_store: OpenStore) -> None:
    worker_a, worker_b = open_store("locked"), open_store("locked")
    worker_a.lock("apply:run-1", 60)

    with pytest.raises(StateLockedError) as caught:
        worker_b.lock("apply:run-2", 60)
    assert caught.value.holder == "apply:run-1"
    assert caught.value.stack == worker_b.stack
    assert "apply:run-1" in str(caught.value)
    assert caught.value.expires_at == worker_b.lock_info()["expires_at"]

    info = worker_b.lock_info()
    assert info["owner"] == "apply:run-1"
    acquired = datetime.fromisoformat(info["acquired_at"])
    expires = datetime.fromisoformat(info["expires_at"])
    assert acquired.tzinfo is not None
    assert 59 <= (expires - acquired).total_seconds() <= 61


def test_same_owner_relock_extends_the_expiry(open_store: OpenStore) -> None:
    store = open_store("relock")
    store.lock("apply:run-1", 5)
    first = store.lock_info()
    store.lock("apply:run-1", 60)  # a retried activity asks again
    again = store.lock_info()
    assert again["owner"] == "apply:run-1"
    assert again["acquired_at"] == first["acquired_at"]
    assert again["expires_at"] > first["expires_at"]


def test_expired_lock_is_taken_over(open_store: OpenStore) -> None:
    store, other = open_store("expiry"), open_store("expiry")
    store.lock("crashed-worker", 0.05)
    time.sleep(0.1)
    assert other.lock_info() is None
    other.lock("apply:run-2", 60)
    assert store.lock_info()["owner"] == "apply:run-2"
    with pytest.raises(StateLockedError):
        store.lock("crashed-worker", 60)


def test_unlock_releases_only_for_the_owner(open_store: OpenStore) -> None:
    store = open_store("unlock")
    assert store.unlock("nobody") is False  # no lock at all: no-op
    expires_at = store.lock("apply:run-1", 60)
    assert expires_at == store.lock_info()["expires_at"]  # what the lock activity reports
    assert store.unlock("apply:run-2") is False
    assert store.lock_info()["owner"] == "apply:run-1"
    assert store.unlock("apply:run-1") is True
    assert store.unlock("apply:run-1") is False  # idempotent
    assert store.lock_info() is None
    store.lock("apply:run-2", 60)


def test_force_unlock(open_store: OpenStore) -> None:
    store = open_store("force")
    assert store.force_unlock() is False
    store.lock("stuck", 600)
    assert store.force_unlock() is True
    assert store.lock_info() is None
    assert store.force_unlock() is False
    store.lock("next", 60)


def test_closed_store_refuses_use(open_store: OpenStore) -> None:
    store = open_store("closed")
    store.close()
    store.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        store.serial()


def _hammer(store: Any, threads: int, saves: int, prefix: str) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(t: int) -> None:
        start.wait()
        try:
            for i in range(saves):
                store.save_resource(_state(f"{prefix}{t:02d}-{i:03d}"))
        except BaseException as exc:  # reported by the caller's assertion
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return errors


def test_one_store_shared_by_activity_threads(open_store: OpenStore) -> None:
    store = open_store("threads")
    assert _hammer(store, threads=8, saves=50, prefix="r") == []
    assert len(store.list_resources()) == 400
    assert store.serial() == 400


def test_two_stores_on_one_database_write_concurrently(open_store: OpenStore) -> None:
    """The CLI and a worker (or two workers) open their own store on the same database."""
    first, second = open_store("two"), open_store("two")
    errors: list[BaseException] = []
    runs = [
        threading.Thread(target=lambda s=s, p=p: errors.extend(_hammer(s, 4, 25, p)))
        for s, p in ((first, "a"), (second, "b"))
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert errors == []
    assert first.serial() == second.serial() == 200
    assert len(second.list_resources()) == 200


def test_postgres_store_reconnects_after_the_server_drops_it() -> None:
    """A database restart fails the call in flight (the activity retries) but not the next."""
    if reason := _postgres_unreachable():
        pytest.skip(reason)
    store = PostgresStateStore(PG_DSN, f"reconnect-{uuid.uuid4().hex[:12]}")
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        try:
            store.lock("apply:run-1", 60)
            admin.execute("SELECT pg_terminate_backend(%s)", (store._conn.info.backend_pid,))
            with pytest.raises(psycopg.OperationalError):
                store.serial()
            assert store.lock_info()["owner"] == "apply:run-1"
        finally:
            store.close()
            admin.execute("DELETE FROM wfctl_stacks WHERE stack = %s", (store.stack,))


def test_sqlite_saves_from_many_threads_are_each_committed_when_they_return(
    tmp_path: Path,
) -> None:
    """Concurrent saves share transactions (one commit for all queued), yet each caller
    returns only once its own save is committed: a second connection sees it at once."""
    store = SqliteStateStore(tmp_path / "state.db", "group")
    other = SqliteStateStore(tmp_path / "state.db", "group")
    unseen: list[str] = []
    start = threading.Barrier(16)

    def work(t: int) -> None:
        start.wait()
        for i in range(20):
            name = f"r{t:02d}-{i:02d}"
            store.save_resource(_state(name))
            if other.get_resource(name) is None:
                unseen.append(name)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert unseen == []
    assert other.serial() == 320 and len(other.list_resources()) == 320
    store.close()
    other.close()


def test_sqlite_a_failed_shared_commit_fails_every_save_in_it(tmp_path: Path) -> None:
    """Another process holding the file's write lock past the busy timeout: every queued
    save raises (its action retries), and none of them is half-saved."""
    store = SqliteStateStore(tmp_path / "state.db", "locked", busy_timeout_ms=300)
    blocker = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            store.save_resource(_state(f"r{t}"))
        except sqlite3.OperationalError as error:
            errors.append(error)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    blocker.execute("ROLLBACK")
    blocker.close()
    assert len(errors) == 6 and all("locked" in str(error) for error in errors)
    assert store.list_resources() == [] and store.serial() == 0
    store.save_resource(_state("after"))
    assert [s.name for s in store.list_resources()] == ["after"]
    store.close()
