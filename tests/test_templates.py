"""The template engine: native values, strictness, the sandbox, and error messages."""

from __future__ import annotations

import pytest

from engine.templates import TemplateEngine, TemplateError, check_syntax, is_truthy
from interfaces import PipelineContext


@pytest.fixture
def ctx() -> PipelineContext:
    context = PipelineContext.new(
        {"amount": 42, "order": {"id": "o-1", "items": [1, 2]}, "name": "Ada"},
        metadata={"run": "r-7"},
    )
    context.merge_step_output("fetch", {"status_code": 200, "body": {"ok": True}})
    return context


strict = TemplateEngine()
lenient = TemplateEngine(strict=False)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ amount }}", 42),
        ("  {{ amount * 2 }}  ", 84),
        ("{{ amount > 10 }}", True),
        ("{{ order.items }}", [1, 2]),
        ("{{ order }}", {"id": "o-1", "items": [1, 2]}),
        ("{{ none }}", None),
        ("{{ (1, 2) }}", [1, 2]),
        ("{{ order.items | map('string') }}", ["1", "2"]),
        ("{{- amount -}}", 42),
        ('{{ "}}" }}', "}}"),
    ],
)
def test_single_expression_keeps_its_native_type(
    ctx: PipelineContext, template: str, expected: object
) -> None:
    assert strict.render(template, ctx) == expected


def test_anything_else_renders_to_text(ctx: PipelineContext) -> None:
    assert strict.render("total: {{ amount }}", ctx) == "total: 42"
    assert strict.render("{{ amount }}{{ amount }}", ctx) == "4242"
    assert strict.render("{% if amount > 1 %}big{% endif %}", ctx) == "big"
    assert strict.render("line {{ name }}\n", ctx) == "line Ada\n"


def test_plain_values_and_structures(ctx: PipelineContext) -> None:
    assert strict.render("no templates {here}", ctx) == "no templates {here}"
    assert strict.render(7, ctx) == 7
    value = {"{{ name }}": ["{{ amount }}", {"n": "{{ name }}"}], "flag": True}
    assert strict.render(value, ctx) == {"{{ name }}": [42, {"n": "Ada"}], "flag": True}


def test_steps_trigger_and_meta_win_over_current_keys(ctx: PipelineContext) -> None:
    ctx.current["trigger"] = "shadowed"
    assert strict.render("{{ steps.fetch.body.ok }}", ctx) is True
    assert strict.render("{{ trigger.order.id }}", ctx) == "o-1"
    assert strict.render("{{ meta.run }}", ctx) == "r-7"
    assert strict.render("{{ status_code }}", ctx) == 200


def test_strict_undefined_names_the_template_and_the_problem(ctx: PipelineContext) -> None:
    with pytest.raises(TemplateError) as caught:
        strict.render("{{ trigger.missing }}", ctx)
    assert str(caught.value) == (
        "template \"{{ trigger.missing }}\": 'dict object' has no attribute 'missing'"
    )
    with pytest.raises(TemplateError, match="'nope' is undefined"):
        strict.render("hello {{ nope }}", ctx)
    with pytest.raises(TemplateError, match="missing"):
        strict.render("{{ trigger.missing.deeper }}", ctx)
    with pytest.raises(TemplateError, match="'nope' is undefined"):
        strict.render("{{ [1, nope] }}", ctx)
    assert isinstance(caught.value, ValueError)


def test_lenient_undefined_renders_empty(ctx: PipelineContext) -> None:
    assert lenient.render("{{ trigger.missing }}", ctx) is None
    assert lenient.render("a{{ nope.x.y }}b", ctx) == "ab"
    assert lenient.render("{{ [nope, 1] }}", ctx) == [None, 1]


def test_defaults_and_tests_work_under_strict(ctx: PipelineContext) -> None:
    assert strict.render("{{ trigger.missing | default(5) }}", ctx) == 5
    assert strict.render("{{ nope is defined }}", ctx) is False


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ name.__class__ }}",
        "{{ order.items.append(3) }}",
        "{{ 2 ** 100000 }}",
        "{{ 'x' * 10000000 }}",
    ],
)
def test_sandbox_blocks_unsafe_operations(ctx: PipelineContext, template: str) -> None:
    with pytest.raises(TemplateError):
        strict.render(template, ctx)
    assert ctx.current["order"]["items"] == [1, 2]


def test_randomness_is_not_available(ctx: PipelineContext) -> None:
    with pytest.raises(TemplateError):
        strict.render("{{ order.items | random }}", ctx)
    with pytest.raises(TemplateError):
        strict.render("{{ lipsum() }}", ctx)


def test_runtime_and_syntax_errors_become_template_errors(ctx: PipelineContext) -> None:
    with pytest.raises(TemplateError, match=r'template "\{\{ 1 / 0 \}\}": ZeroDivisionError'):
        strict.render("{{ 1 / 0 }}", ctx)
    with pytest.raises(TemplateError, match="syntax error"):
        strict.render("{{ amount + }}", ctx)
    with pytest.raises(TemplateError, match="syntax error"):
        strict.render("{% if %}x", ctx)


def test_evaluate_and_truthy(ctx: PipelineContext) -> None:
    assert strict.evaluate("amount > 40", ctx) is True
    assert strict.evaluate("{{ amount + 1 }}", ctx) == 43
    assert strict.evaluate(False, ctx) is False
    assert strict.truthy("order.items | length == 2", ctx)
    assert not strict.truthy("{% if amount > 100 %}yes{% else %}false{% endif %}", ctx)
    assert [is_truthy(v) for v in ("", "0", "False", " no ", "yes", 0, [], [0])] == [
        False, False, False, False, True, False, False, True,
    ]


def test_compiled_templates_are_cached(ctx: PipelineContext) -> None:
    engine = TemplateEngine()
    engine.render(["{{ amount }}", "x {{ name }}"], ctx)
    compiled = dict(engine._compiled)
    ctx.current["amount"] = 1
    assert engine.render("{{ amount }}", ctx) == 1
    assert engine._compiled == compiled


def test_check_syntax_finds_every_error_with_its_path() -> None:
    config = {
        "values": {"ok": "{{ a }}", "bad": "{{ a + }}"},
        "list": ["fine", "{% for %}"],
        "number": 3,
    }
    problems = check_syntax(config)
    assert len(problems) == 2
    assert problems[0].startswith('values.bad: template "{{ a + }}": syntax error')
    assert problems[1].startswith('list[1]: template "{% for %}": syntax error')
    assert check_syntax({"a": "{{ undefined_is_fine_here }}"}) == []
