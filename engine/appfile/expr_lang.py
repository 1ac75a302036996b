"""The spec's expr syntax, `${ ... }`, as Jinja: a token rewrite with a little look-ahead.

`&&`/`||`/`!` become and/or/not, `+` joins when a side is a string literal, function calls
go to the spec's functions (`_wf.upper(...)`), `body` is `trigger`, `current` the state, and
`trigger["headers"]["X-Id"]` a header lookup in any case."""

from __future__ import annotations

import re

from engine.appfile.expression_tokens import (
    MAX_DEPTH,
    REQUEST_PARTS,
    Fail,
    Token,
    call,
    check_function,
    jinja_string,
    literal,
    root,
    value_of,
)


class ExprTranslator:
    """One `${ ... }` body."""

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

    def __init__(self, tokens: list[Token], fail: Fail, end: int) -> None:
        self.tokens, self.fail, self.end = tokens, fail, end

    def translate(self) -> str:
        tokens, out, depth = self.tokens, [], 0
        if not tokens:
            raise self.fail(self.end, "empty expression")
        i = 0
        while i < len(tokens):
            token = tokens[i]
            after = tokens[i + 1] if i + 1 < len(tokens) else None
            if token.kind == "str":
                out.append(literal(token))
            elif token.kind == "num":
                out.append(token.text)
            elif token.kind == "member":
                out.append(token.text)
            elif token.kind == "var":
                raise self.fail(token.start, "variables are not supported")
            elif token.kind == "name":
                if after is not None and after.text == "(":
                    check_function(token.text, token, self.fail)
                    out.append(f"_wf.{token.text}")
                elif token.text in self._WORDS:
                    out.append(f" {self._WORDS[token.text]} ")
                elif token.text in ("contains", "startsWith", "endsWith", "matches"):
                    raise self.fail(token.start, f"operator {token.text} is not supported; "
                                    "use the function contains(sub, s) / hasPrefix / hasSuffix")
                elif token.text in ("trigger", "body"):
                    skip, text = self._request(i)
                    out.append(text)
                    i += skip
                elif token.text == "current":
                    out.append("_wf.current()")
                else:
                    out.append(root(token.text))
            elif token.text == "+":
                strings = any(t is not None and t.kind == "str"
                              for t in (tokens[i - 1] if i else None, after))
                out.append(" ~ " if strings else " + ")
            elif token.text in self._REFUSED:
                raise self.fail(token.start, self._REFUSED[token.text])
            elif token.text == ".":
                raise self.fail(token.start, "unexpected `.`")
            else:
                # Open brackets only: Jinja's parser recurses on each, a sequence is fine.
                depth += (token.text in "([") - (token.text in ")]")
                if depth > MAX_DEPTH:
                    raise self.fail(token.start, f"nested more than {MAX_DEPTH} deep")
                out.append(self._OPS[token.text])
            i += 1
        return re.sub(r"\s+", " ", "".join(out)).strip()

    def _request(self, i: int) -> tuple[int, str]:
        """`trigger["headers"]["X-Id"]` and friends: the HTTP request's parts. Returns how
        many tokens after `i` it consumed and the Jinja text."""
        key, used = self._key_at(i + 1)
        if key not in REQUEST_PARTS:
            return 0, "trigger"
        sub, more = self._key_at(i + 1 + used)
        if key in ("headers", "query") and isinstance(sub, str) and more:
            function = "header" if key == "headers" else "query"
            return used + more, call(function, [jinja_string(sub)])
        return used, f"trigger.request.{key}"

    def _key_at(self, i: int) -> tuple[object, int]:
        """A literal key at token `i` (`["k"]` or `.k`) and its token count, else (None, 0)."""
        tokens = self.tokens
        if i < len(tokens) and tokens[i].kind == "member" and tokens[i].text.count(".") == 1:
            return tokens[i].text[1:], 1
        if (i + 2 < len(tokens) and tokens[i].text == "[" and tokens[i + 1].kind == "str"
                and tokens[i + 2].text == "]"):
            return value_of(tokens[i + 1]), 3
        return None, 0
