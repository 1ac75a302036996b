"""What both template dialects of engine.appfile.expressions share: the tokenizer, the
error, and how a spec name becomes a Jinja expression."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from engine.appfile.functions import REFUSED_FUNCTIONS, SPEC_FUNCTIONS

MAX_TOKENS = 2_000
MAX_DEPTH = 32

_SPEC_ONLY = frozenset({"current", "header", "query"})
FUNCTIONS = frozenset(SPEC_FUNCTIONS) - _SPEC_ONLY
# Words Jinja reads as its own: a state key of that name is reached through `current`.
JINJA_WORDS = frozenset({"and", "or", "not", "in", "is", "if", "else", "true", "false",
                          "none", "True", "False", "None", "loop", "self", "_wf"})
REQUEST_PARTS = ("headers", "query", "path_params")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class ExpressionError(ValueError):
    """An expression the translator cannot express; `column` is 1-based in the whole string."""

    def __init__(self, text: str, column: int, problem: str) -> None:
        self.text, self.column, self.problem = text, column, problem
        shown = text if len(text) <= 200 else text[:200] + "..."
        super().__init__(f"{problem} (column {column} of {shown!r})")


# Raises at an offset of the whole string: `raise fail(offset, "problem")`.
Fail = Callable[[int, str], ExpressionError]


@dataclass
class Token:
    kind: str  # str, num, name, field, op, var
    text: str
    start: int  # offset in the whole string

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_-]*)+|\.)
  | (?P<var>\$[A-Za-z0-9_]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|\?\?|\?\.|\.\.|:=|[-!<>+*/%()\[\],?:{}|=.])
""", re.VERBOSE)


def tokens(text: str, start: int, end: int, fail: Fail, *, go: bool) -> list[Token]:
    found: list[Token] = []
    i = start
    while i < end:
        match = _TOKEN.match(text, i, end)
        if match is None:
            raise fail(i, f"unexpected character {text[i]!r}")
        kind = match.lastgroup or ""
        if kind == "field" and not go:
            # In expr, `.name` is member access after a value, split for the parser.
            kind = "member" if match.group() != "." else "op"
        if kind != "ws":
            found.append(Token(kind, match.group(), i))
        if len(found) > MAX_TOKENS:
            raise fail(start, f"more than {MAX_TOKENS} tokens in one expression")
        i = match.end()
    return found


def jinja_string(text: str) -> str:
    """`text` as a Jinja string literal. Non-ASCII stays as written: Jinja would read JSON's
    `\\ud83d\\ude00` escapes as two lone surrogates, not one emoji."""
    return json.dumps(text, ensure_ascii=False)


def literal(token: Token) -> str:
    """A spec string literal as a Jinja one."""
    raw = token.text
    if raw.startswith("`"):
        return jinja_string(raw[1:-1])
    if raw.startswith("'"):
        raw = '"' + raw[1:-1].replace('\\"', '"').replace('"', '\\"') + '"'
    try:
        return jinja_string(json.loads(raw))
    except ValueError:
        return raw


def value_of(token: Token) -> str:
    return json.loads(literal(token)) if token.kind == "str" else token.text


def root(name: str) -> str:
    """A top-level state key as a Jinja expression."""
    if _IDENT.match(name) and name not in JINJA_WORDS:
        return name
    return f"_wf.current()[{jinja_string(name)}]"


def call(function: str, args: list[str]) -> str:
    return f"_wf.{function}({', '.join(args)})"


def check_function(name: str, token: Token, fail: Fail) -> None:
    if name in REFUSED_FUNCTIONS:
        raise fail(token.start, f"function {name} is not supported: "
                   f"{REFUSED_FUNCTIONS[name]}")
    if name not in FUNCTIONS:
        raise fail(token.start, f"unknown function {name}")
