"""The one heartbeat thread of the IaC activities: a blocked action beats at a third of its
heartbeat timeout, many actions at once share the thread, and an action that has ended beats
no more."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta

from temporalio.testing import ActivityEnvironment

from activities.iac.heartbeat import heartbeating


def environment(timeout: float, beats: list[float]) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=timedelta(seconds=timeout))
    env.on_heartbeat = lambda *details: beats.append(time.monotonic())
    return env


def blocked_action(seconds: float) -> None:
    with heartbeating():
        time.sleep(seconds)


def test_a_blocked_action_beats_at_a_third_of_its_timeout_and_not_after_it_ends() -> None:
    beats: list[float] = []
    started = time.monotonic()
    environment(0.3, beats).run(blocked_action, 0.55)
    ended = time.monotonic()
    time.sleep(0.3)
    # Due at 0.1, 0.2, 0.3, 0.4 and 0.5 s; none at the start, none once it returned.
    assert 4 <= len(beats) <= 5, beats
    assert beats[0] - started >= 0.1
    assert all(beat <= ended for beat in beats)


def test_an_action_that_ends_before_its_first_interval_never_beats() -> None:
    beats: list[float] = []
    environment(3.0, beats).run(blocked_action, 0.05)
    time.sleep(1.2)
    assert beats == []


def test_many_actions_at_once_each_beat_on_their_own_interval() -> None:
    beats: dict[int, list[float]] = {n: [] for n in range(20)}

    def run(n: int) -> None:
        environment(0.3, beats[n]).run(blocked_action, 0.35)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(20)]
    before = threading.active_count()
    for thread in threads:
        thread.start()
    time.sleep(0.15)
    # 20 actions blocked, and one thread beating for all of them (not one each).
    assert threading.active_count() <= before + 20 + 1
    for thread in threads:
        thread.join()
    assert all(2 <= len(times) <= 3 for times in beats.values()), beats


def test_a_beat_that_fails_does_not_stop_the_beats_of_other_actions() -> None:
    def refuse(*details: object) -> None:
        raise RuntimeError("this action's heartbeat cannot be sent")

    failing = ActivityEnvironment()
    failing.info = dataclasses.replace(failing.info, heartbeat_timeout=timedelta(seconds=0.3))
    failing.on_heartbeat = refuse
    failing.run(blocked_action, 0.25)
    beats: list[float] = []
    environment(0.3, beats).run(blocked_action, 0.25)
    assert len(beats) >= 1
