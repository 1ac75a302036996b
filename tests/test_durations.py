"""The duration syntax pipeline files use for timeouts and retry intervals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1s", timedelta(seconds=1)),
        ("500ms", timedelta(milliseconds=500)),
        ("2m", timedelta(minutes=2)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5s", timedelta(seconds=1.5)),
        ("1d", timedelta(days=1)),
        (" 10s ", timedelta(seconds=10)),
        ("2.5", timedelta(seconds=2.5)),
        (3, timedelta(seconds=3)),
        (0.25, timedelta(milliseconds=250)),
        (timedelta(minutes=1), timedelta(minutes=1)),
    ],
)
def test_parses(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    ["", "soon", "1x", "s", "1h 30m", "-1", "nan", True, -2, 86400000000000.0, "99999999999d"],
)
def test_rejects_with_the_bad_text(bad: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(bad)  # type: ignore[arg-type]
