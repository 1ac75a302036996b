"""Compute Engine list calls as the fake answers them: `filter`, `maxResults`, `pageToken`.

The filter language accepted is the part of Compute's documented one that wfctl uses, and
nothing looser: comparisons `FIELD = VALUE` or `FIELD != VALUE` (a field path such as `name`,
`status` or `labels.wfctl-stack`; a value bare or in double quotes), one alone or several
each in parentheses, joined by spaces or AND. Compute's other forms (OR, `:`, `<`, the
legacy `eq`/`ne` regular expressions) are refused with Compute's 400 rather than guessed at,
so a driver that starts using one fails here first. `=` is exact, as Compute's is for strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MAX_RESULTS = 500  # Compute's bound on maxResults, and its default
MAX_FILTER = 4096

_TERM = re.compile(
    r'\s*(?P<field>[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\s*(?P<op>!=|=)\s*'
    r'(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s()"=!]+))\s*'
)

Predicate = Callable[[dict[str, Any]], bool]


class ListError(ValueError):
    """What Compute answers 400 invalid for: the message names the field and the value."""


def page(items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    """One page of `items` matching the query's filter: {"items", "nextPageToken"?}."""
    matches = compile_filter(query.get("filter", ""))
    try:
        size = int(query.get("maxResults", MAX_RESULTS))
    except ValueError:
        raise ListError(f"Invalid value for field 'maxResults': '{query['maxResults']}'.") from None
    if not 0 <= size <= MAX_RESULTS:
        raise ListError(
            f"Invalid value for field 'maxResults': '{size}'. Must be less than or equal to 500"
        )
    size = size or MAX_RESULTS
    token = query.get("pageToken", "")
    if token and not token.isdigit():
        raise ListError(f"Invalid value for field 'pageToken': '{token}'.")
    start = int(token or 0)
    found = [item for item in items if matches(item)]
    answer: dict[str, Any] = {"items": found[start : start + size]}
    if start + size < len(found):
        answer["nextPageToken"] = str(start + size)
    return answer


def compile_filter(text: str) -> Predicate:
    if len(text) > MAX_FILTER:
        raise ListError("Invalid value for field 'filter': too long.")
    if not text.strip():
        return lambda item: True
    terms: list[Predicate] = []
    rest = text.strip()
    single = _TERM.fullmatch(rest)
    if single is not None:
        return _predicate(single)
    while rest:
        opened = re.match(r"\(\s*", rest)
        if opened is None:
            raise _invalid(text)
        term = _TERM.match(rest, opened.end())
        if term is None or not rest.startswith(")", term.end()):
            raise _invalid(text)
        terms.append(_predicate(term))
        rest = rest[term.end() + 1 :].lstrip()
        joined = re.match(r"AND\s+(?=\()", rest)
        if joined is not None:
            rest = rest[joined.end() :]
        elif rest and not rest.startswith("("):
            raise _invalid(text)
    return lambda item: all(term(item) for term in terms)


def _predicate(term: re.Match[str]) -> Predicate:
    path = term["field"].split(".")
    quoted = term["quoted"]
    wanted = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else term["bare"]
    equal = term["op"] == "="

    def matches(item: dict[str, Any]) -> bool:
        value: Any = item
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        same = value is not None and _text(value) == wanted
        return same if equal else not same

    return matches


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _invalid(text: str) -> ListError:
    return ListError(
        f"Invalid value for field 'filter': '{text[:200]}'. Invalid list filter expression."
    )
