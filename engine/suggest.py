"""The closest known name to a mistyped one, for "did you mean" in error messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """'; did you mean "x"?' when a known name is close to `word`, else ''."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.75)
    return f'; did you mean "{close[0]}"?' if close else ""
