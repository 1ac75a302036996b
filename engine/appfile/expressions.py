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

from engine.appfile.expr_lang import ExprTranslator
from engine.appfile.expression_tokens import ExpressionError, Token, jinja_string, tokens
from engine.appfile.go_templates import GoPipeline

# Bounds: a config string longer than this is not a template a person wrote.
MAX_TEMPLATE_CHARS = 20_000


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


class _Translator:
    """Walks the string: literal text, `${ }` bodies and `{{ }}` actions, in order."""

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
            if text.startswith("${{", i):
                # A dollar sign before a Go action ("${{ .total }}", a price): no `${ }` body
                # can start with `{` (the spec refuses map literals), so this is never one.
                self.literal.append("$")
                i += 1
            elif text.startswith("${", i):
                end = _closing(text, i + 2, "}")
                if end < 0:
                    raise self.fail(i, "`${` is never closed by `}`")
                self.flush()
                found = tokens(text, i + 2, end, self.fail, go=False)
                self.out.append("{{ " + ExprTranslator(found, self.fail, end).translate() + " }}")
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
            self.out.append("{{ " + jinja_string(chunk) + " }}")
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
            found = tokens(self.text, inner_start, inner_end, self.fail, go=True)
            self.out.append(self.control(found, start) or
                            "{{ " + GoPipeline(found, self.fail, end).translate() + " }}")
        self.trim_next = trim_after

    def control(self, parts: list[Token], start: int) -> str | None:
        """`{{ if }}`, `{{ else }}`, `{{ else if }}`, `{{ end }}`; None for an output action."""
        if not parts or parts[0].kind != "name":
            return None
        word = parts[0].text
        if word == "if":
            self.blocks.append(start)
            return "{% if " + GoPipeline(parts[1:], self.fail, start).translate() + " %}"
        if word == "else":
            if not self.blocks:
                raise self.fail(start, "`{{ else }}` outside an `{{ if }}`")
            if len(parts) > 1 and parts[1].text == "if":
                return "{% elif " + GoPipeline(parts[2:], self.fail, start).translate() + " %}"
            return "{% else %}"
        if word == "end":
            if not self.blocks:
                raise self.fail(start, "`{{ end }}` closes nothing")
            self.blocks.pop()
            return "{% endif %}"
        if word in ("range", "with", "define", "template", "block", "break", "continue"):
            raise self.fail(parts[0].start, f"Go template `{word}` is not supported (only "
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
