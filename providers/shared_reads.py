"""Listings that the bulk reads of one refresh share, made once instead of once per chunk.

The engine reads a type's resources in chunks (BULK_CHUNK in activities/iac/live_reads.py), but some
bulk reads list more than their chunk: the stack's password secrets, a resource group's
resources of one type, the droplets carrying the stack's tag. Made once per chunk, such a
listing costs chunks x listing: at 100,000 resources, 1,000 chunks each paging through all
100,000, more calls than reading every resource on its own. Inside `refresh_scope()` (the
engine opens one per refresh) `shared(key, list_them)` runs `list_them` once for every chunk
asking with the same key, the others waiting for its answer; outside one (a direct read_many
call) it simply runs it. A listing is only as old as the refresh that asked for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")


class _Scope:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers: dict[Hashable, Future[Any]] = {}


_SCOPE: ContextVar[_Scope | None] = ContextVar("wfctl_shared_reads", default=None)


@contextmanager
def refresh_scope() -> Iterator[None]:
    """Share listings among the reads made in this context (and in copies of it, such as
    the ones the engine runs each chunk in) until the block ends."""
    token = _SCOPE.set(_Scope())
    try:
        yield
    finally:
        _SCOPE.reset(token)


def shared(key: Hashable, compute: Callable[[], T]) -> T:
    """compute() once per refresh scope and key; without a scope, every time."""
    scope = _SCOPE.get()
    if scope is None:
        return compute()
    with scope.lock:
        future = scope.answers.get(key)
        first = future is None
        if future is None:
            future = scope.answers[key] = Future()
    if first:
        try:
            value = compute()
        except BaseException as error:
            with scope.lock:
                del scope.answers[key]  # a later chunk asks again
            future.set_exception(error)
            raise
        future.set_result(value)
        return value
    try:
        return future.result()  # type: ignore[no-any-return]
    except Exception:
        # Its failure is the first chunk's to report; this chunk asks on its own, so each
        # gets its own answer (a throttle need not repeat) as when nothing was shared.
        return compute()
