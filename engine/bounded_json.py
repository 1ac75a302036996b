"""Decoding JSON nobody checked yet -- a workflow input, an Update argument -- within bounds.

Anyone with the Temporal CLI can hand a workflow any bytes. Left to the data converter, a
payload it cannot decode (a lone surrogate, JSON nested 3000 deep) fails the workflow *task*,
which Temporal retries forever. Decoded here, inside the workflow's own validation, the same
payload is a clear error the run fails with at once. The limits keep the cost of a hostile
payload small: its size is capped, its depth is checked by a linear scan before any
recursive parser sees it, and every string is checked to be encodable again as UTF-8 (the
result, a search attribute or an activity input would otherwise fail later, just as badly).
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

# Temporal's default blob size limit is 2 MiB: nothing larger reaches a workflow on a server
# with default settings, and twice that leaves room for servers configured higher.
MAX_BYTES = 4 * 1024 * 1024
# Far beyond any pipeline data or stack document, far below any parser's recursion limit.
MAX_DEPTH = 64
# A number literal longer than this is no identifier or amount anyone types; converting one
# costs time quadratic in its length.
MAX_NUMBER_CHARS = 100
# Segments of a path shown in full before the middle is elided.
PATH_SHOWN = 8
# Tokens the path finder reads at most (about a tenth of a second in Python).
PATH_SCAN = 100_000

# A JSON string (escapes included) or one of the structural characters; numbers, literals
# and whitespace between them do not matter to the depth.
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_TOKEN = re.compile(_STRING + r"|[{}\[\],]")
_STRINGS = re.compile(_STRING)
_NOT_BRACKETS = re.compile(r"[^{}\[\]]+")
_STEP = {"{": 1, "[": 1, "}": -1, "]": -1}
# Only an escape can put a surrogate in a decoded string: strict UTF-8 refuses raw ones.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
JSON_ENCODING = "json/plain"
NULL_ENCODING = "binary/null"


class InvalidJSON(ValueError):
    """The payload is not JSON this service accepts; the message says what and where."""


def decode_payload(encoding: str, data: bytes, *, max_bytes: int = MAX_BYTES) -> Any:
    """The value of one Temporal payload of the given encoding, or InvalidJSON."""
    if encoding == NULL_ENCODING:
        return None
    if encoding != JSON_ENCODING:
        hint = " (is the worker's encryption key set?)" if "encrypted" in encoding else ""
        raise InvalidJSON(f"payload encoding {encoding or 'none'!r} is not {JSON_ENCODING}{hint}")
    return decode(data, max_bytes=max_bytes)


def decode(data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `data`, or InvalidJSON naming the first thing refused."""
    if len(data) > max_bytes:
        raise InvalidJSON(f"{len(data)} bytes, more than the limit of {max_bytes}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidJSON(f"invalid UTF-8 at byte {error.start}") from None
    _check_depth(text, max_depth)
    try:
        value = json.loads(
            text,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_not_json,
            object_pairs_hook=_object,
        )
    except json.JSONDecodeError as error:
        raise InvalidJSON(
            f"not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:  # unreachable past the depth check; kept as the last line of defence
        raise InvalidJSON(f"nesting deeper than {max_depth}") from None
    if _SURROGATE_ESCAPE.search(text):
        _check_strings(value, ["$"])
    return value


def _check_depth(text: str, max_depth: int) -> None:
    """Refuse nesting deeper than max_depth, naming the path where it goes too deep."""
    if text.count("{") + text.count("[") <= max_depth:
        return
    # The depth at each bracket, strings skipped, at C speed: opens minus closes so far. It
    # bounds the parser's recursion whether or not the brackets pair up.
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) <= max_depth:
        return
    raise InvalidJSON(f"nesting deeper than {max_depth}{_where_too_deep(text, max_depth)}")


def _where_too_deep(text: str, max_depth: int) -> str:
    """Where the depth is first exceeded, as " at $.data.a.a..." (the open containers).

    Each frame is [kind, key or index]; a key is kept as its JSON token and only decoded for
    the message. The scan runs in Python, so it gives up (no path) after PATH_SCAN tokens."""
    frames: list[list[Any]] = []
    for count, match in enumerate(_TOKEN.finditer(text)):
        if count > PATH_SCAN:
            return ""
        token = match.group()
        if token in ("{", "["):
            if len(frames) >= max_depth:
                return f" at {_path(frames)}"
            frames.append([token, None if token == "{" else 0])
        elif token in ("}", "]"):
            if frames:
                frames.pop()
        elif token == ",":
            if frames:
                top = frames[-1]
                top[1] = top[1] + 1 if top[0] == "[" else None
        elif frames and frames[-1][0] == "{" and frames[-1][1] is None:
            frames[-1][1] = token  # a key: the first string after "{" or ","
    return ""


def _path(frames: list[list[Any]]) -> str:
    segments = []
    for kind, at in frames:
        if kind == "[":
            segments.append(f"[{at}]")
        else:
            segments.append(_key_segment(_key_text(at)))
    if len(segments) > PATH_SHOWN:
        hidden = len(segments) - PATH_SHOWN
        segments = [*segments[: PATH_SHOWN - 2], f"...({hidden} more)...", *segments[-2:]]
    return "$" + "".join(segments)


def _key_text(token: str | None) -> str:
    if token is None:
        return "?"
    try:
        key = json.loads(token)
    except ValueError:
        return token
    return key if isinstance(key, str) else token


def _key_segment(key: str) -> str:
    if _IDENTIFIER.match(key):
        return f".{key}"
    shown = key if len(key) <= 40 else key[:37] + "..."
    # repr() escapes what cannot be printed, a lone surrogate included.
    return f"[{shown!r}]"


def _check_strings(value: Any, path: list[str]) -> None:
    """Every key and string must be valid Unicode: JSON's \\ud800 escapes decode to a lone
    surrogate, which no UTF-8 encoder (result, search attribute, activity input) accepts."""
    if isinstance(value, str):
        if not _encodable(value):
            raise InvalidJSON(f"lone surrogate in {''.join(path)}")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not _encodable(key):
                raise InvalidJSON(f"lone surrogate in a key of {''.join(path)}")
            path.append(_key_segment(key))
            _check_strings(item, path)
            path.pop()
    elif isinstance(value, list):
        for index, item in enumerate(value):
            path.append(f"[{index}]")
            _check_strings(item, path)
            path.pop()


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _integer(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise InvalidJSON(f"a number of {len(literal)} digits (the limit is {MAX_NUMBER_CHARS})")
    return int(literal)


def _float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise InvalidJSON(
            f"a number of {len(literal)} characters (the limit is {MAX_NUMBER_CHARS})"
        )
    number = float(literal)
    if not math.isfinite(number):
        raise InvalidJSON(f"number {literal} is out of range")
    return number


def _not_json(literal: str) -> Any:
    raise InvalidJSON(f"{literal} is not a JSON value")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidJSON(f"duplicate key {key!r}")
        result[key] = value
    return result
