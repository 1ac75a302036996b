"""Jinja2 templates over a pipeline's context, sandboxed and deterministic.

Config values are rendered just before a step runs. A value that is exactly one `{{ expr }}`
keeps the expression's native type (so `{{ trigger.amount }}` stays a number); anything else
renders to a string. Nothing here does I/O or reads a clock, so workflow code may use it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from interfaces import PipelineContext

# The names templates see besides the keys of the current state; these win over same-named keys.
RESERVED_NAMES = ("steps", "trigger", "meta")

# Enough for any config a person writes; a bound so data-dependent sources cannot grow it forever.
_CACHE_LIMIT = 2048
# Guards against `{{ 9 ** 9 ** 9 }}` or `{{ "x" * 10 ** 9 }}` stalling a worker.
_MAX_EXPONENT = 1000
_MAX_REPEAT = 100_000
_MESSAGE_SOURCE_LIMIT = 200


class TemplateError(ValueError):
    """A template failed to parse or render; the message quotes the template."""

    def __init__(self, source: str, problem: str) -> None:
        self.source, self.problem = source, problem
        shown = source if len(source) <= _MESSAGE_SOURCE_LIMIT else source[:_MESSAGE_SOURCE_LIMIT]
        super().__init__(f'template "{shown}": {problem}')


def has_template_syntax(value: str) -> bool:
    return "{{" in value or "{%" in value


def as_expression_template(expression: str) -> str:
    """`trigger.amount > 0` -> `{{ trigger.amount > 0 }}`; templates are returned unchanged."""
    return expression if has_template_syntax(expression) else "{{ " + expression + " }}"


def is_truthy(value: Any) -> bool:
    """Truthiness of a rendered condition: a template that printed "false" or "0" is false."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no", "off", "none", "null")
    return bool(value)


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox (no private attributes, no mutating the context) with bounded arithmetic."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, undefined: type[jinja2.Undefined]) -> None:
        super().__init__(undefined=undefined, autoescape=False, keep_trailing_newline=True)
        # Both use `random`: a pipeline replayed by Temporal must render the same text again.
        self.globals.pop("lipsum", None)
        self.filters.pop("random", None)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Pipeline data is JSON: `order.items` means the key, not the dict method `items`.
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is larger than {_MAX_EXPONENT}")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                too_long = isinstance(sequence, str | list | tuple) and isinstance(count, int)
                if too_long and len(sequence) * count > _MAX_REPEAT:
                    raise SecurityError(
                        f"repeating a sequence to more than {_MAX_REPEAT} items"
                    )
        return super().call_binop(context, operator, left, right)


def _single_expression(env: jinja2.Environment, source: str) -> str | None:
    """The expression inside `source` when it is exactly one `{{ ... }}`, else None.

    Parsing (rather than pattern matching) tells `{{ a }}{{ b }}` and `{{ "}}" }}` apart.
    """
    text = source.strip()
    if not (text.startswith("{{") and text.endswith("}}")):
        return None
    body = env.parse(text).body
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return None
    parts = body[0].nodes
    if len(parts) != 1 or isinstance(parts[0], nodes.TemplateData):
        return None
    inner = text[2:-2]
    # Whitespace-control markers belong to the delimiters, not to the expression.
    if inner[:1] in ("-", "+"):
        inner = inner[1:]
    if inner.endswith("-"):
        inner = inner[:-1]
    return inner


# A compiled source: a function of the namespace giving the native value or the rendered text.
_Compiled = Callable[[dict[str, Any]], Any]


class TemplateEngine:
    def __init__(self, strict: bool = True) -> None:
        self.strict = strict
        # Chainable: with strict off, `{{ trigger.a.b }}` on a missing `a` renders empty too.
        self._env = _Sandbox(jinja2.StrictUndefined if strict else jinja2.ChainableUndefined)
        self._compiled: dict[str, _Compiled] = {}

    def namespace(self, ctx: PipelineContext) -> dict[str, Any]:
        names = dict(ctx.current)
        names.update(steps=ctx.step_outputs, trigger=ctx.trigger_data, meta=ctx.metadata)
        return names

    def render(self, value: Any, ctx: PipelineContext) -> Any:
        """Render every template string in `value` (dict values, list items); keys stay literal."""
        return self._render(value, self.namespace(ctx))

    def evaluate(self, expression: Any, ctx: PipelineContext) -> Any:
        """The native value of a bare expression (`trigger.amount > 0`) or of a template."""
        if not isinstance(expression, str):
            return expression
        return self._render(as_expression_template(expression), self.namespace(ctx))

    def truthy(self, condition: Any, ctx: PipelineContext) -> bool:
        return is_truthy(self.evaluate(condition, ctx))

    def _render(self, value: Any, names: dict[str, Any]) -> Any:
        if isinstance(value, dict):
            return {key: self._render(item, names) for key, item in value.items()}
        if isinstance(value, list):
            return [self._render(item, names) for item in value]
        if not isinstance(value, str) or not has_template_syntax(value):
            return value
        compiled = self._compile(value)
        try:
            return compiled(names)
        except jinja2.TemplateError as exc:
            raise TemplateError(value, exc.message or str(exc)) from None
        except Exception as exc:  # `{{ 1 / 0 }}`, `{{ "a" + 1 }}`: still the template's fault
            raise TemplateError(value, f"{type(exc).__name__}: {exc}") from None

    def _compile(self, source: str) -> _Compiled:
        compiled = self._compiled.get(source)
        if compiled is not None:
            return compiled
        try:
            expression = _single_expression(self._env, source)
            if expression is None:
                template = self._env.from_string(source)
                compiled = template.render
            else:
                function = self._env.compile_expression(expression, undefined_to_none=False)
                compiled = lambda names: self._native(function(**names))  # noqa: E731
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(source, _syntax_problem(exc)) from None
        if len(self._compiled) >= _CACHE_LIMIT:
            self._compiled.clear()
        self._compiled[source] = compiled
        return compiled

    def _native(self, value: Any) -> Any:
        """Make an expression's value JSON-friendly and resolve undefined parts by strictness."""
        if isinstance(value, jinja2.Undefined):
            if self.strict:
                str(value)  # raises the UndefinedError (or SecurityError) it carries
            return None
        if isinstance(value, str | bytes):
            return value
        if isinstance(value, Mapping):
            return {key: self._native(item) for key, item in value.items()}
        # Tuples, ranges and the generators filters like `map` return: lists, as JSON has them.
        if isinstance(value, Iterable):
            return [self._native(item) for item in value]
        return value


def _syntax_problem(exc: jinja2.TemplateSyntaxError) -> str:
    where = f" (line {exc.lineno})" if exc.source and "\n" in exc.source.strip() else ""
    return f"syntax error: {exc.message}{where}"


_syntax_env = _Sandbox(jinja2.Undefined)


def check_syntax(value: Any, path: str = "") -> list[str]:
    """Syntax errors of every template in a config tree, each prefixed with its dotted path."""
    if isinstance(value, dict):
        return [
            problem
            for key, item in value.items()
            for problem in check_syntax(item, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(value, list):
        return [
            problem
            for index, item in enumerate(value)
            for problem in check_syntax(item, f"{path}[{index}]")
        ]
    if not isinstance(value, str) or not has_template_syntax(value):
        return []
    try:
        _syntax_env.parse(value)
    except jinja2.TemplateSyntaxError as exc:
        problem = str(TemplateError(value, _syntax_problem(exc)))
        return [f"{path}: {problem}" if path else problem]
    return []
