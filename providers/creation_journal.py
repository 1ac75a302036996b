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

Sink = Callable[[str], None]

_journal: ContextVar[Sink | None] = ContextVar("wfctl_creation_journal", default=None)


@contextmanager
def creation_journal(sink: Sink) -> Iterator[None]:
    """Send every id recorded by creates run inside this block (on this thread) to `sink`."""
    token = _journal.set(sink)
    try:
        yield
    finally:
        _journal.reset(token)


def record_created(provider_id: str) -> None:
    """Report the cloud id of the resource being created; nothing happens without a journal."""
    sink = _journal.get()
    if sink is not None and provider_id:
        sink(provider_id)
