"""Heartbeats from a side thread while a synchronous driver call blocks the activity thread.

A driver call (a create, a health poll loop) can outlast the heartbeat timeout; without
heartbeats in the meantime Temporal would think the worker dead and run the action again.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import activity


@contextmanager
def heartbeating() -> Iterator[None]:
    # Outside an activity (a read called directly) there is no one to heartbeat to.
    timeout = activity.info().heartbeat_timeout if activity.in_activity() else None
    if not timeout:
        yield
        return
    interval = max(0.05, min(timeout.total_seconds() / 3, 10.0))
    stop = threading.Event()
    context = contextvars.copy_context()

    def beat() -> None:
        while not stop.wait(interval):
            activity.heartbeat()

    # No beat at the start: most actions end before the first interval, and each beat is an
    # RPC to the server -- at 100 actions at once they would add up.
    thread = threading.Thread(target=context.run, args=(beat,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
