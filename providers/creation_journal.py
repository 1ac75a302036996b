"""The creation journal: how a driver tells the engine what a create made, the moment it knows.

A create is many cloud calls; if a later one fails (or the worker dies), the resource the
first one made must not be forgotten. The activity running a create installs a journal; a
driver calls `record_created` with the cloud's id as soon as it has one (a create call
returned, or an earlier attempt's resource was found and adopted), and the activity writes
the id into the resource's pending state entry before the driver goes on. No SDK, no
Temporal: a contextvar, so drivers need no new parameter and work without a journal too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

Sink = Callable[[str], None]


@dataclass(frozen=True)
class _Journal:
    sink: Sink
    token: str


_journal: ContextVar[_Journal | None] = ContextVar("wfctl_creation_journal", default=None)


@contextmanager
def creation_journal(sink: Sink, token: str = "") -> Iterator[None]:
    """Send every id recorded by creates run inside this block (on this thread) to `sink`;
    `token` is what `creation_token` answers there."""
    handle = _journal.set(_Journal(sink, token))
    try:
        yield
    finally:
        _journal.reset(handle)


def record_created(provider_id: str) -> None:
    """Report the cloud id of the resource being created; nothing happens without a journal."""
    journal = _journal.get()
    if journal is not None and provider_id:
        journal.sink(provider_id)


def creation_token() -> str:
    """The same for every attempt of one create, different for the next create of the same
    resource (after a delete); "" outside a journal. For APIs that remember an idempotency
    token for a while and would hand back the deleted resource for it."""
    journal = _journal.get()
    return journal.token if journal is not None else ""
