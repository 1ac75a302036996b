"""Go template actions, `{{ ... }}`, as Jinja expressions: `.a.b` field chains, function
calls with Go's argument order (a piped value last), parentheses, and Go's builtins (eq, and,
not, index, len, printf, print)."""

from __future__ import annotations

from engine.appfile.expression_tokens import (
    MAX_DEPTH,
    REQUEST_PARTS,
    ExpressionError,
    Fail,
    Token,
    call,
    check_function,
    jinja_string,
    literal,
    root,
)


class GoPipeline:
    """A Go template pipeline: `arg`, `fn arg...`, `x | fn arg`, parentheses."""

    _COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}

    def __init__(self, tokens: list[Token], fail: Fail, end: int) -> None:
        self.tokens, self.fail, self.end, self.i = tokens, fail, end, 0

    def error(self, token: Token | None, problem: str) -> ExpressionError:
        offset = token.start if token is not None else self.end
        return self.fail(offset, problem)

    def translate(self) -> str:
        if not self.tokens:
            raise self.error(None, "empty action")
        text = self.pipeline(0)
        if self.i < len(self.tokens):
            raise self.error(self.tokens[self.i], f"unexpected {self.tokens[self.i].text!r}")
        return text

    def peek(self) -> Token | None:
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
            return literal(token)
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

    def field(self, token: Token) -> str:
        """`.steps.fetch.id` -> steps["fetch"]["id"]; `.` is the whole state."""
        if token.text == ".":
            return "_wf.current()"
        names = token.text[1:].split(".")
        head, rest = names[0], names[1:]
        if head in REQUEST_PARTS[:2] and len(rest) == 1:
            return call("header" if head == "headers" else "query", [jinja_string(rest[0])])
        if head == "path_params":
            base = "trigger.request.path_params"
        elif head in ("steps", "trigger", "meta"):
            base = head
        else:
            base = root(head)
        return base + "".join(f"[{jinja_string(name)}]" for name in rest)

    def function(self, token: Token, args: list[str]) -> str:
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
            return call("urlEncode", args)
        check_function(name, token, self.fail)
        return call(name, args)

    def arity(self, token: Token, args: list[str], count: int, many: bool = False) -> None:
        if len(args) < count or (not many and len(args) != count):
            wanted = f"at least {count}" if many else str(count)
            raise self.error(token, f"{token.text} takes {wanted} argument(s), got {len(args)}")
