"""The spec's two template syntaxes, translated once at load into our template engine's.

    ${ steps["fetch"]["id"] }          ->  {{ steps["fetch"]["id"] }}
    ${ status == "ok" && count > 0 }   ->  {{ status == "ok" and count > 0 }}
    {{ .steps.fetch.id | upper }}      ->  {{ _wf.upper(steps["fetch"]["id"]) }}
    {{ index .items 0 }}               ->  {{ items[0] }}

Both may be mixed in one string. The result is ordinary template text for engine.templates
(sandboxed, bounded, a lone expression keeps its type), so nothing downstream knows which
dialect a pipeline was written in. What is not supported (Go's `range`, variables, expr's
ternary, ...) raises ExpressionError with the column of the construct, before any run.

Namespaces as the spec defines them: `steps`, `trigger` (and `body`, its alias), `meta`,
`current` (the state, Go's `.`). `trigger["headers"]`, `trigger["query"]` and
`trigger["path_params"]` read the HTTP request (`wfctl serve` keeps it under
`trigger.request`), header names in any case.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from engine.appfile.functions import REFUSED_FUNCTIONS, SPEC_FUNCTIONS

# Bounds: a config string longer than this is not a template a person wrote.
MAX_TEMPLATE_CHARS = 20_000
MAX_TOKENS = 2_000
MAX_DEPTH = 32

_SPEC_ONLY = frozenset({"current", "header", "query"})
FUNCTIONS = frozenset(SPEC_FUNCTIONS) - _SPEC_ONLY
# Words Jinja reads as its own: a state key of that name is reached through `current`.
_JINJA_WORDS = frozenset({"and", "or", "not", "in", "is", "if", "else", "true", "false",
                          "none", "True", "False", "None", "loop", "self", "_wf"})
_REQUEST_PARTS = ("headers", "query", "path_params")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class ExpressionError(ValueError):
    """An expression the translator cannot express; `column` is 1-based in the whole string."""

    def __init__(self, text: str, column: int, problem: str) -> None:
        self.text, self.column, self.problem = text, column, problem
        shown = text if len(text) <= 200 else text[:200] + "..."
        super().__init__(f"{problem} (column {column} of {shown!r})")


def has_spec_syntax(text: str) -> bool:
    return "${" in text or "{{" in text


def translate(text: str) -> str:
    """The template text for engine.templates that means what `text` means in the spec."""
    if not any(mark in text for mark in ("${", "{{", "{%", "{#")):
        return text
    if len(text) > MAX_TEMPLATE_CHARS:
        raise ExpressionError(text[:200], 1, f"a template of more than {MAX_TEMPLATE_CHARS} "
                              "characters")
    return _Translator(text).run()


@dataclass
class _Token:
    kind: str  # str, num, name, field, op, var
    text: str
    start: int  # offset in the whole string


class _Translator:
    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[str] = []
        self.literal: list[str] = []
        self.trim_next = False
        self.blocks: list[int] = []  # start offsets of open `{{ if }}`s

    def fail(self, offset: int, problem: str) -> ExpressionError:
        return ExpressionError(self.text, offset + 1, problem)

    def run(self) -> str:
        text, i = self.text, 0
        while i < len(text):
            if text.startswith("${", i):
                end = _closing(text, i + 2, "}")
                if end < 0:
                    raise self.fail(i, "`${` is never closed by `}`")
                self.flush()
                tokens = _tokens(text, i + 2, end, self.fail, go=False)
                self.out.append("{{ " + _Expr(tokens, self.fail, end).translate() + " }}")
                i = end + 1
            elif text.startswith("{{", i):
                end = _closing(text, i + 2, "}}")
                if end < 0:
                    raise self.fail(i, "`{{` is never closed by `}}`")
                self.action(i, end)
                i = end + 2
            else:
                self.literal.append(text[i])
                i += 1
        if self.blocks:
            raise self.fail(self.blocks[-1], "`{{ if }}` has no `{{ end }}`")
        self.flush()
        return "".join(self.out)

    def flush(self) -> None:
        chunk = "".join(self.literal)
        self.literal = []
        if self.trim_next:
            chunk, self.trim_next = chunk.lstrip(), False
        if not chunk:
            return
        # Jinja would read these as its own syntax; the spec has no such thing.
        if any(mark in chunk for mark in ("{%", "{#", "%}", "#}")):
            self.out.append("{{ " + json.dumps(chunk) + " }}")
        else:
            self.out.append(chunk)

    def action(self, start: int, end: int) -> None:
        inner_start, inner_end = start + 2, end
        body = self.text[inner_start:inner_end]
        if body.startswith("-") and body[1:2].isspace():
            self.literal = list("".join(self.literal).rstrip())
            inner_start += 1
        if body.endswith("-") and body[-2:-1].isspace():
            inner_end -= 1
            trim_after = True
        else:
            trim_after = False
        self.flush()
        stripped = self.text[inner_start:inner_end].strip()
        if stripped.startswith("/*"):
            pass  # a comment
        else:
            tokens = _tokens(self.text, inner_start, inner_end, self.fail, go=True)
            self.out.append(self.control(tokens, start) or
                            "{{ " + _Go(tokens, self.fail, end).translate() + " }}")
        self.trim_next = trim_after

    def control(self, tokens: list[_Token], start: int) -> str | None:
        """`{{ if }}`, `{{ else }}`, `{{ else if }}`, `{{ end }}`; None for an output action."""
        if not tokens or tokens[0].kind != "name":
            return None
        word = tokens[0].text
        if word == "if":
            self.blocks.append(start)
            return "{% if " + _Go(tokens[1:], self.fail, start).translate() + " %}"
        if word == "else":
            if not self.blocks:
                raise self.fail(start, "`{{ else }}` outside an `{{ if }}`")
            if len(tokens) > 1 and tokens[1].text == "if":
                return "{% elif " + _Go(tokens[2:], self.fail, start).translate() + " %}"
            return "{% else %}"
        if word == "end":
            if not self.blocks:
                raise self.fail(start, "`{{ end }}` closes nothing")
            self.blocks.pop()
            return "{% endif %}"
        if word in ("range", "with", "define", "template", "block", "break", "continue"):
            raise self.fail(tokens[0].start, f"Go template `{word}` is not supported (only "
                            "if/else/end); use step.foreach for loops")
        return None


def _closing(text: str, i: int, closer: str) -> int:
    """The offset of `closer` ending an expression that starts at `i`, skipping strings."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c in "\"'`":
            i = _string_end(text, i)
            if i < 0:
                return -1
            continue
        if closer == "}" and c == "{":
            depth += 1
        elif text.startswith(closer, i):
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


def _string_end(text: str, i: int) -> int:
    quote, i = text[i], i + 1
    while i < len(text):
        if text[i] == "\\" and quote != "`":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return -1


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_-]*)+|\.)
  | (?P<var>\$[A-Za-z0-9_]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|\?\?|\?\.|\.\.|:=|[-!<>+*/%()\[\],?:{}|=.])
""", re.VERBOSE)


def _tokens(text: str, start: int, end: int, fail: object, *, go: bool) -> list[_Token]:
    found: list[_Token] = []
    i = start
    while i < end:
        match = _TOKEN.match(text, i, end)
        if match is None:
            raise fail(i, f"unexpected character {text[i]!r}")  # type: ignore[operator]
        kind = match.lastgroup or ""
        if kind == "field" and not go:
            # In expr, `.name` is member access after a value, split for the parser.
            kind = "member" if match.group() != "." else "op"
        if kind != "ws":
            found.append(_Token(kind, match.group(), i))
        if len(found) > MAX_TOKENS:
            raise fail(start, f"more than {MAX_TOKENS} tokens in one expression")  # type: ignore[operator]
        i = match.end()
    return found


def _literal(token: _Token) -> str:
    """A spec string literal as a Jinja one."""
    raw = token.text
    if raw.startswith("`"):
        return json.dumps(raw[1:-1])
    if raw.startswith("'"):
        raw = '"' + raw[1:-1].replace('\\"', '"').replace('"', '\\"') + '"'
    try:
        return json.dumps(json.loads(raw))
    except ValueError:
        return raw


def _value_of(token: _Token) -> str:
    return json.loads(_literal(token)) if token.kind == "str" else token.text


def _root(name: str) -> str:
    """A top-level state key as a Jinja expression."""
    if _IDENT.match(name) and name not in _JINJA_WORDS:
        return name
    return f"_wf.current()[{json.dumps(name)}]"


def _call(function: str, args: list[str]) -> str:
    return f"_wf.{function}({', '.join(args)})"


def _check_function(name: str, token: _Token, fail: object) -> None:
    if name in REFUSED_FUNCTIONS:
        raise fail(token.start, f"function {name} is not supported: "  # type: ignore[operator]
                   f"{REFUSED_FUNCTIONS[name]}")
    if name not in FUNCTIONS:
        raise fail(token.start, f"unknown function {name}")  # type: ignore[operator]


class _Expr:
    """expr-lang (`${ ... }`): a token rewrite with a little look-ahead."""

    _WORDS = {"true": "true", "false": "false", "nil": "none", "null": "none",
              "and": "and", "or": "or", "not": "not", "in": "in"}
    _OPS = {"&&": " and ", "||": " or ", "!": " not ", "==": " == ", "!=": " != ",
            "<": " < ", "<=": " <= ", ">": " > ", ">=": " >= ", "-": " - ", "*": " * ",
            "/": " / ", "%": " % ", "(": "(", ")": ")", "[": "[", "]": "]", ",": ", "}
    _REFUSED = {"?": "the ternary `a ? b : c` is not supported; use step.conditional or "
                "a Go `{{ if }}`", "??": "`??` is not supported; use default(...) or "
                "coalesce(...)", "?.": "`?.` is not supported", "..": "ranges are not "
                "supported", "{": "map literals are not supported", "|": "pipes are not "
                "supported in ${ }; use a function call", "=": "assignment is not supported",
                ":=": "assignment is not supported", "}": "unexpected `}`",
                ":": "unexpected `:`"}

    def __init__(self, tokens: list[_Token], fail: object, end: int) -> None:
        self.tokens, self.fail, self.end = tokens, fail, end

    def translate(self) -> str:
        tokens, out, depth = self.tokens, [], 0
        if not tokens:
            raise self.fail(self.end, "empty expression")  # type: ignore[operator]
        i = 0
        while i < len(tokens):
            token = tokens[i]
            after = tokens[i + 1] if i + 1 < len(tokens) else None
            if token.kind == "str":
                out.append(_literal(token))
            elif token.kind == "num":
                out.append(token.text)
            elif token.kind == "member":
                out.append(token.text)
            elif token.kind == "var":
                raise self.fail(token.start, "variables are not supported")  # type: ignore[operator]
            elif token.kind == "name":
                if after is not None and after.text == "(":
                    _check_function(token.text, token, self.fail)
                    out.append(f"_wf.{token.text}")
                elif token.text in self._WORDS:
                    out.append(f" {self._WORDS[token.text]} ")
                elif token.text in ("contains", "startsWith", "endsWith", "matches"):
                    raise self.fail(token.start, f"operator {token.text} is not supported; "  # type: ignore[operator]
                                    "use the function contains(sub, s) / hasPrefix / hasSuffix")
                elif token.text in ("trigger", "body"):
                    skip, text = self._request(i)
                    out.append(text)
                    i += skip
                elif token.text == "current":
                    out.append("_wf.current()")
                else:
                    out.append(_root(token.text))
            elif token.text == "+":
                strings = any(t is not None and t.kind == "str"
                              for t in (tokens[i - 1] if i else None, after))
                out.append(" ~ " if strings else " + ")
            elif token.text in self._REFUSED:
                raise self.fail(token.start, self._REFUSED[token.text])  # type: ignore[operator]
            elif token.text == ".":
                raise self.fail(token.start, "unexpected `.`")  # type: ignore[operator]
            else:
                depth += token.text in "(["
                if depth > MAX_DEPTH:
                    raise self.fail(token.start, f"nested more than {MAX_DEPTH} deep")  # type: ignore[operator]
                out.append(self._OPS[token.text])
            i += 1
        return re.sub(r"\s+", " ", "".join(out)).strip()

    def _request(self, i: int) -> tuple[int, str]:
        """`trigger["headers"]["X-Id"]` and friends: the HTTP request's parts. Returns how
        many tokens after `i` it consumed and the Jinja text."""
        key, used = self._key_at(i + 1)
        if key not in _REQUEST_PARTS:
            return 0, "trigger"
        sub, more = self._key_at(i + 1 + used)
        if key in ("headers", "query") and isinstance(sub, str) and more:
            function = "header" if key == "headers" else "query"
            return used + more, _call(function, [json.dumps(sub)])
        return used, f"trigger.request.{key}"

    def _key_at(self, i: int) -> tuple[object, int]:
        """A literal key at token `i` (`["k"]` or `.k`) and its token count, else (None, 0)."""
        tokens = self.tokens
        if i < len(tokens) and tokens[i].kind == "member" and tokens[i].text.count(".") == 1:
            return tokens[i].text[1:], 1
        if (i + 2 < len(tokens) and tokens[i].text == "[" and tokens[i + 1].kind == "str"
                and tokens[i + 2].text == "]"):
            return _value_of(tokens[i + 1]), 3
        return None, 0


class _Go:
    """A Go template pipeline: `arg`, `fn arg...`, `x | fn arg`, parentheses."""

    _COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}

    def __init__(self, tokens: list[_Token], fail: object, end: int) -> None:
        self.tokens, self.fail, self.end, self.i = tokens, fail, end, 0

    def error(self, token: _Token | None, problem: str) -> ExpressionError:
        offset = token.start if token is not None else self.end
        return self.fail(offset, problem)  # type: ignore[operator,no-any-return]

    def translate(self) -> str:
        if not self.tokens:
            raise self.error(None, "empty action")
        text = self.pipeline(0)
        if self.i < len(self.tokens):
            raise self.error(self.tokens[self.i], f"unexpected {self.tokens[self.i].text!r}")
        return text

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def pipeline(self, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise self.error(self.peek(), f"nested more than {MAX_DEPTH} deep")
        value = self.command(depth, None)
        while (token := self.peek()) is not None and token.text == "|":
            self.i += 1
            value = self.command(depth, value)
        return value

    def command(self, depth: int, piped: str | None) -> str:
        token = self.peek()
        if token is None or token.text in (")", "|"):
            raise self.error(token, "a command is missing")
        if token.kind == "name" and token.text not in ("true", "false", "nil"):
            self.i += 1
            args = []
            while (arg := self.peek()) is not None and arg.text not in (")", "|"):
                args.append(self.operand(depth))
            if piped is not None:
                args.append(piped)
            return self.function(token, args)
        if piped is not None:
            raise self.error(token, "only a function can follow `|`")
        value = self.operand(depth)
        extra = self.peek()
        if extra is not None and extra.text not in (")", "|"):
            raise self.error(extra, f"unexpected {extra.text!r} after a value "
                             "(a function name goes first)")
        return value

    def operand(self, depth: int) -> str:
        token = self.peek()
        if token is None:
            raise self.error(None, "a value is missing")
        self.i += 1
        if token.kind == "str":
            return _literal(token)
        if token.kind == "num":
            return token.text
        if token.kind == "field":
            return self.field(token)
        if token.kind == "var":
            raise self.error(token, "template variables ($x) are not supported")
        if token.kind == "name":
            if token.text in ("true", "false"):
                return token.text
            if token.text == "nil":
                return "none"
            return self.function(token, [])
        if token.text == "(":
            inner = self.pipeline(depth + 1)
            close = self.peek()
            if close is None or close.text != ")":
                raise self.error(close, "`(` is never closed")
            self.i += 1
            return f"({inner})"
        raise self.error(token, f"unexpected {token.text!r}")

    def field(self, token: _Token) -> str:
        """`.steps.fetch.id` -> steps["fetch"]["id"]; `.` is the whole state."""
        if token.text == ".":
            return "_wf.current()"
        names = token.text[1:].split(".")
        head, rest = names[0], names[1:]
        if head in _REQUEST_PARTS[:2] and len(rest) == 1:
            return _call("header" if head == "headers" else "query", [json.dumps(rest[0])])
        if head == "path_params":
            base = "trigger.request.path_params"
        elif head in ("steps", "trigger", "meta"):
            base = head
        else:
            base = _root(head)
        return base + "".join(f"[{json.dumps(name)}]" for name in rest)

    def function(self, token: _Token, args: list[str]) -> str:
        name = token.text
        if name in self._COMPARE:
            self.arity(token, args, 2)
            return f"({args[0]} {self._COMPARE[name]} {args[1]})"
        if name in ("and", "or"):
            self.arity(token, args, 2, many=True)
            return "(" + f" {name} ".join(args) + ")"
        if name == "not":
            self.arity(token, args, 1)
            return f"(not {args[0]})"
        if name == "index":
            self.arity(token, args, 1, many=True)
            return args[0] + "".join(f"[{key}]" for key in args[1:])
        if name == "len":
            self.arity(token, args, 1)
            return f"({args[0]} | length)"
        if name in ("print", "println"):
            return "(" + " ~ ".join(args or ['""']) + ")"
        if name == "printf":
            self.arity(token, args, 1, many=True)
            fmt = args[0].replace("%v", "%s")
            return f"({fmt} % ({''.join(a + ', ' for a in args[1:])}))"
        if name == "urlquery":
            return _call("urlEncode", args)
        _check_function(name, token, self.fail)
        return _call(name, args)

    def arity(self, token: _Token, args: list[str], count: int, many: bool = False) -> None:
        if len(args) < count or (not many and len(args) != count):
            wanted = f"at least {count}" if many else str(count)
            raise self.error(token, f"{token.text} takes {wanted} argument(s), got {len(args)}")
