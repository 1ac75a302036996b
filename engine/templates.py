"""Jinja2 templates over a pipeline's context, sandboxed and deterministic.

Config values are rendered just before a step runs. A value that is exactly one `{{ expr }}`
keeps the expression's native type (so `{{ trigger.amount }}` stays a number); anything else
renders to a string. Nothing here does I/O, and only an engine given a `time_budget` reads
a clock, so workflow code may use one without (engine.template_limits holds the bounds).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Mapping
from functools import update_wrapper
from typing import Any

import jinja2
from jinja2 import nodes, pass_context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.visitor import NodeTransformer
from markupsafe import EscapeFormatter, Markup

from engine.appfile.functions import SPEC_FUNCTIONS
from engine.template_filters import bounded_filters, bounded_range, check_str_method
from engine.template_limits import (
    MAX_VALUE_CHARS,
    TemplateLimitError,
    budget,
    check_binop,
    check_format_spec,
    check_length,
    check_result,
    counted,
    end_render,
    measure,
    start_render,
    weighed,
)
from interfaces import PipelineContext

# The names templates see besides the keys of the current state; these win over same-named keys.
RESERVED_NAMES = ("steps", "trigger", "meta")

# Enough for any config a person writes; a bound so data-dependent sources cannot grow it forever.
_CACHE_LIMIT = 2048
_MESSAGE_SOURCE_LIMIT = 200


class TemplateError(ValueError):
    """A template failed to parse or render; the message quotes the template."""

    def __init__(self, source: str, problem: str, limit: str | None = None) -> None:
        self.source, self.problem = source, problem
        # Which bound of engine.template_limits the render went over, if that was the problem.
        self.limit = limit
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
    """Jinja's sandbox (no private attributes, no mutating the context) with bounded work:
    every call, operator, filter and loop iteration is charged to the render's budget and
    checked for the size it would make (engine.template_limits)."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, undefined: type[jinja2.Undefined]) -> None:
        super().__init__(
            undefined=undefined, autoescape=False, keep_trailing_newline=True, finalize=_finalize
        )
        # Both use `random`: a pipeline replayed by Temporal must render the same text again.
        self.globals.pop("lipsum", None)
        self.filters.pop("random", None)
        self.filters = bounded_filters(self.filters)
        self.filters.update(_HOOKS)
        self.globals["range"] = bounded_range(self.globals["range"])
        # The spec engine's functions, which translated application-file templates call
        # (engine.appfile.expressions); under one name no pipeline key is likely to shadow.
        self.globals["_wf"] = SPEC_FUNCTIONS

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        # Both kinds of compile (templates and bare expressions) pass here with their tree.
        _Bounding().visit(source)
        return super()._generate(source, name, filename, defer_init=defer_init)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Pipeline data is JSON: `order.items` means the key, not the dict method `items`.
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        check_binop(operator, left, right)
        return check_result(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        budget().charge()
        bound_to = getattr(__obj, "__self__", None)
        if isinstance(bound_to, str):
            check_str_method(getattr(__obj, "__name__", ""), bound_to, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        # Only what the call made is new output: `s.strip()` of a clean string returns `s`.
        if any(result is given for given in (bound_to, *args)):
            return result
        return check_result(result)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`"{:>999999999}".format(1)`: every field's spec and value checked before."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType):
            return None
        text = getattr(value, "__self__", None)
        if value.__name__ not in ("format", "format_map") or not isinstance(text, str):
            return None
        formatter: _BoundedFormatter = (
            _BoundedEscapeFormatter(self, escape=text.escape)
            if isinstance(text, Markup)
            else _BoundedFormatter(self)
        )
        is_map = value.__name__ == "format_map"

        def format(*args: Any, **kwargs: Any) -> str:  # noqa: A001 - stands for str.format
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one mapping argument")
                args, kwargs = (), args[0]
            return type(text)(formatter.vformat(text, args, kwargs))

        return update_wrapper(format, value)


class _BoundedFormatter(SandboxedFormatter):
    def format_field(self, value: Any, format_spec: str) -> Any:
        check_format_spec(format_spec)
        measure(value)
        return check_result(super().format_field(value, format_spec))


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    pass


# Called by the rewritten tree as filters: Jinja calls a filter directly (an environment
# call costs a sandbox check each time), and never folds a context filter at compile time.
@pass_context
def _count_loop(_: Any, items: Any) -> Any:
    return counted(items)


@pass_context
def _weigh(_: Any, value: Any) -> Any:
    return weighed(value)


@pass_context
def _concat(_: Any, parts: tuple[Any, ...]) -> str:
    """`a ~ b`: each part measured before it is turned into text."""
    for part in parts:
        measure(part)
    return budget().produce("".join(str(part) for part in parts))


@pass_context
def _slice(_: Any, value: Any, start: Any, stop: Any, step: Any) -> Any:
    """`s[1:]`: Jinja slices without asking the sandbox, and a slice copies."""
    return check_result(value[start:stop:step])


_HOOKS = {
    "_wfctl_count_loop": _count_loop,
    "_wfctl_weigh": _weigh,
    "_wfctl_concat": _concat,
    "_wfctl_slice": _slice,
}


class _Bounding(NodeTransformer):
    """Rewrites a parsed template so that loops, comparisons and `~` pass through counters."""

    def visit_For(self, node: nodes.For) -> nodes.Node:  # noqa: N802 - Jinja's visitor naming
        self.generic_visit(node)
        node.iter = _hook("_wfctl_count_loop", node.iter)
        return node

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:  # noqa: N802
        self.generic_visit(node)
        node.expr = _hook("_wfctl_weigh", node.expr)
        for operand in node.ops:
            operand.expr = _hook("_wfctl_weigh", operand.expr)
        return node

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:  # noqa: N802
        self.generic_visit(node)
        if not isinstance(node.arg, nodes.Slice):
            return node
        bounds = [
            part if part is not None else nodes.Const(None, lineno=node.lineno)
            for part in (node.arg.start, node.arg.stop, node.arg.step)
        ]
        return nodes.Filter(node.node, "_wfctl_slice", bounds, [], None, None, lineno=node.lineno)

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:  # noqa: N802
        self.generic_visit(node)
        return _hook("_wfctl_concat", nodes.Tuple(node.nodes, "load", lineno=node.lineno))


def _hook(name: str, argument: nodes.Expr) -> nodes.Filter:
    return nodes.Filter(argument, name, [], [], None, None, lineno=argument.lineno)


def _finalize(value: Any) -> Any:
    """Every `{{ ... }}` of a text template, before Jinja turns it into text."""
    measure(value)
    return value


def _joined(chunks: Iterable[str]) -> str:
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_VALUE_CHARS:
            check_length(size, "the rendered text")
        parts.append(chunk)
    return "".join(parts)


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


class _LenientUndefined(jinja2.ChainableUndefined):
    """A missing value with strict templates off: chainable, and equal to `none`, as a
    missing key is nil in the spec's templates (`${ x == nil }`)."""

    def __eq__(self, other: object) -> bool:
        return other is None or type(self) is type(other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = jinja2.ChainableUndefined.__hash__


class TemplateEngine:
    def __init__(self, strict: bool = True, time_budget: float | None = None) -> None:
        """`time_budget`: seconds one render may take. Only for activities: in workflow code
        the clock differs on replay, so there only the counted bounds apply."""
        self.strict = strict
        self.time_budget = time_budget
        # Chainable: with strict off, `{{ trigger.a.b }}` on a missing `a` renders empty too.
        self._env = _Sandbox(jinja2.StrictUndefined if strict else _LenientUndefined)
        self._compiled: dict[str, _Compiled] = {}

    def namespace(self, ctx: PipelineContext) -> dict[str, Any]:
        names = dict(ctx.current)
        names.update(steps=ctx.step_outputs, trigger=ctx.trigger_data, meta=ctx.metadata)
        return names

    def render(self, value: Any, ctx: PipelineContext) -> Any:
        """Render every template string in `value` (dict values, list items); keys stay literal.
        The limits hold for the whole of `value`: one budget per call."""
        token = start_render(self.time_budget)
        try:
            return self._render(value, self.namespace(ctx))
        finally:
            end_render(token)

    def evaluate(self, expression: Any, ctx: PipelineContext) -> Any:
        """The native value of a bare expression (`trigger.amount > 0`) or of a template."""
        if not isinstance(expression, str):
            return expression
        return self.render(as_expression_template(expression), ctx)

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
        except TemplateLimitError as exc:
            raise TemplateError(value, str(exc), exc.limit) from None
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
                compiled = lambda names: _joined(template.generate(names))  # noqa: E731
            else:
                function = self._env.compile_expression(expression, undefined_to_none=False)
                compiled = lambda names: self._checked_native(function(**names))  # noqa: E731
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(source, _syntax_problem(exc)) from None
        if len(self._compiled) >= _CACHE_LIMIT:
            self._compiled.clear()
        self._compiled[source] = compiled
        return compiled

    def _checked_native(self, value: Any) -> Any:
        # Before: a list repeated by reference is small in memory and huge once converted.
        # After: generators (`map`, `select`) are only sized once they have been consumed.
        measure(value)
        native = self._native(value)
        measure(native)
        return native

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
            return [self._native(item) for item in counted(value)]
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
