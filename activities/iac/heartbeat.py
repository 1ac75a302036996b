"""Heartbeats from a side thread while a synchronous driver call blocks the activity thread.

A driver call (a create, a health poll loop) can outlast the heartbeat timeout; without
heartbeats in the meantime Temporal would think the worker dead and run the action again.

One thread beats for every running action of the process: a thread started and joined per
action cost more CPU than most actions' own work at 100 actions at once, and almost all of
them end before their first beat is due.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import activity

log = logging.getLogger("wfctl.iac.heartbeat")


class Heartbeats:
    """The beats due, earliest first; a registration is dropped when its action ends."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int]] = []  # (when, token), a heap
        self._beats: dict[int, tuple[float, contextvars.Context]] = {}  # token -> interval
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None
        self._beating: int | None = None  # the token whose beat is being sent now

    def add(self, interval: float, context: contextvars.Context) -> int:
        with self._wake:
            token = next(self._tokens)
            self._beats[token] = (interval, context)
            heapq.heappush(self._due, (time.monotonic() + interval, token))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wfctl-heartbeats", daemon=True
                )
                self._thread.start()
            self._wake.notify()
            return token

    def remove(self, token: int) -> None:
        """Drop a registration; once this returns, no beat of it is sent (an action's
        heartbeat after its end would reach an activity that is gone)."""
        with self._wake:
            self._beats.pop(token, None)  # its heap entry is skipped when it comes up
            while self._beating == token:
                self._wake.wait()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due:
                    self._wake.wait()
                when, token = self._due[0]
                delay = when - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue  # an earlier beat may have been added meanwhile
                heapq.heappop(self._due)
                beat = self._beats.get(token)
                if beat is None:
                    continue
                interval, context = beat
                heapq.heappush(self._due, (when + interval, token))
                self._beating = token
            # Outside the lock: a beat is an RPC handed to the worker's event loop. Each
            # action's context is its own copy, entered only by this thread.
            try:
                context.run(activity.heartbeat)
            except Exception:
                # One action's failed beat must not end the thread that beats for them all.
                log.warning("heartbeat of a running action failed", exc_info=True)
            finally:
                with self._wake:
                    self._beating = None
                    self._wake.notify_all()


_HEARTBEATS = Heartbeats()


@contextmanager
def heartbeating() -> Iterator[None]:
    # Outside an activity (a read called directly) there is no one to heartbeat to.
    timeout = activity.info().heartbeat_timeout if activity.in_activity() else None
    if not timeout:
        yield
        return
    # No beat at the start: most actions end before the first interval, and each beat is an
    # RPC to the server -- at 100 actions at once they would add up.
    interval = max(0.05, min(timeout.total_seconds() / 3, 10.0))
    token = _HEARTBEATS.add(interval, contextvars.copy_context())
    try:
        yield
    finally:
        _HEARTBEATS.remove(token)
