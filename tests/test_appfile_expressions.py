"""The spec's `${ expr }` and Go `{{ .x }}` templates, translated at load and rendered by our
template engine: what a pipeline sees, and errors that point at the expression."""

from __future__ import annotations

from typing import Any

import pytest

from engine.appfile.expressions import MAX_TEMPLATE_CHARS, ExpressionError, translate
from engine.templates import TemplateEngine, TemplateError, check_syntax
from interfaces import PipelineContext


def context() -> PipelineContext:
    ctx = PipelineContext.new(
        {"name": "ann", "count": 2, "request": {
            "headers": {"x-request-id": "r-1"}, "query": {"page": "3"},
            "path_params": {"id": "7"}, "body": {"name": "ann", "count": 2}}},
        {"pipeline": "p", "run_id": "run-1"},
    )
    ctx.merge_step_output("fetch-user", {"id": "u-1", "status": "active", "tags": ["a", "b"],
                                         "rows": [{"n": 1}, {"n": 2}]})
    return ctx


def render(spec_template: str) -> Any:
    # Application-file pipelines render leniently, as the spec engine does.
    return TemplateEngine(strict=False).render(translate(spec_template), context())


@pytest.mark.parametrize(("template", "expected"), [
    # expr syntax
    ('${ steps["fetch-user"]["id"] }', "u-1"),
    ('${ status == "active" && count > 0 }', True),
    ('${ status == "gone" || !(count > 5) }', True),
    ('${ "Hello " + body["name"] }', "Hello ann"),
    ("${ count + 1 }", 3),
    ("${ upper(name) }", "ANN"),
    ('${ trigger["headers"]["X-Request-Id"] }', "r-1"),
    ('${ trigger["query"]["page"] }', "3"),
    ('${ trigger["path_params"]["id"] }', "7"),
    ('${ current["name"] }', "ann"),
    ('${ meta["run_id"] }', "run-1"),
    ('${ steps["fetch-user"]["tags"] }', ["a", "b"]),
    ("${ missing == nil }", True),
    ('${ join(",", steps["fetch-user"]["tags"]) }', "a,b"),
    # Go templates
    ("{{ .name }}", "ann"),
    ("{{ .steps.fetch-user.id }}", "u-1"),
    ("{{ .steps.fetch-user.id | upper }}", "U-1"),
    ('{{ index .steps "fetch-user" "tags" 1 }}', "b"),
    ("{{ .headers.X-Request-Id }}", "r-1"),
    ("{{ .query.page }}", "3"),
    ('{{ default "anon" .nickname }}', "anon"),
    ('{{ replace "-" "_" .steps.fetch-user.id }}', "u_1"),
    ("{{ json .steps.fetch-user.tags }}", '["a","b"]'),
    ('{{ sum .steps.fetch-user.rows "n" }}', 3),
    ('{{ printf "%s:%v" .name .count }}', "ann:2"),
    ('{{ if eq .status "active" }}on{{ else }}off{{ end }}', "on"),
    ('{{ if and (gt .count 5) true }}big{{ else if eq .count 2 }}two{{ end }}', "two"),
    ("{{ len .tags }}", 2),
    ("a {{- \" b \" -}} c", "a b c"),
    # Mixed in one string, and text that only looks like Jinja.
    ("id={{ .steps.fetch-user.id }} n=${ count * 10 }", "id=u-1 n=20"),
    ("100{% done", "100{% done"),
    ("no templates here", "no templates here"),
    ('{{ "héllo 😀" }} ${ `raw \\n` + "ü" }', "héllo 😀 raw \\nü"),
])
def test_both_syntaxes_render_what_the_spec_means(template: str, expected: Any) -> None:
    assert render(template) == expected


@pytest.mark.parametrize(("template", "column", "problem"), [
    ("${ a ? b : c }", 6, "the ternary"),
    ("x ${ uuid() }", 6, "function uuid is not supported"),
    ("${ nope(1) }", 4, "unknown function nope"),
    ("{{ range .items }}x{{ end }}", 4, "Go template `range` is not supported"),
    ("{{ $x := 1 }}", 4, "template variables"),
    ("{{ .a", 1, "`{{` is never closed"),
    ("ok ${ a", 4, "`${` is never closed"),
    ("{{ if .a }}x", 1, "has no `{{ end }}`"),
    ("{{ end }}", 1, "closes nothing"),
    ('{{ .a "b" }}', 7, "after a value"),
    ("{{ eq .a }}", 4, "eq takes 2 argument(s), got 1"),
    ("${ x contains 'a' }", 6, "operator contains is not supported"),
    ("${ {a: 1} }", 4, "map literals"),
    ("{{ now }}", 4, "reads the clock"),
])
def test_unsupported_constructs_are_refused_with_their_column(
    template: str, column: int, problem: str
) -> None:
    with pytest.raises(ExpressionError) as info:
        translate(template)
    assert info.value.column == column, str(info.value)
    assert problem in str(info.value)
    assert repr(template) in str(info.value) or template[:50] in str(info.value)


def test_translated_templates_are_valid_native_templates() -> None:
    for template in ('${ steps["a"]["b"] && !x }', "{{ .x | lower | upper }}",
                     '{{ if .a }}{{ "%}" }}{{ end }}'):
        assert check_syntax(translate(template)) == [], template


def test_bounds_hold_for_huge_or_deep_input() -> None:
    with pytest.raises(ExpressionError, match="more than"):
        translate("${ a }" + "x" * MAX_TEMPLATE_CHARS)
    with pytest.raises(ExpressionError, match="nested more than"):
        translate("{{ " + "(" * 100 + ".a" + ")" * 100 + " }}")
    with pytest.raises(ExpressionError, match="nested more than"):
        translate("${ " + "(" * 100 + "a" + ")" * 100 + " }")
    # Many groups one after the other are not deep.
    assert render("${ " + " + ".join(["(count)"] * 50) + " }") == 100
    # What a translated template computes is bounded like any template.
    with pytest.raises(TemplateError, match="limit"):
        render('{{ replace "a" "' + "b" * 1000 + '" (printf "%s" "' + "a" * 5000 + '") }}')


@pytest.mark.parametrize(("template", "expected"), [
    ('{{ unique .rows "g" }}', [{"g": "a", "n": 2}, {"g": "b", "n": 1}]),
    ("{{ pluck (sortBy .rows \"n\") \"n\" }}", [1, 2, 3]),
    ('{{ groupBy .rows "g" }}', {"a": [{"g": "a", "n": 2}, {"g": "a", "n": 3}],
                                 "b": [{"g": "b", "n": 1}]}),
    ("{{ flatten .nested }}", [1, 2, 3]),
    ('{{ first .nested }} {{ last .nested }}', "[1, 2] [3]"),
    ('{{ min .rows "n" }}-{{ max .rows "n" }}', "1-3"),
    ('${ toInt("42") + toFloat("0.5") }', 42.5),
    ("{{ div 1 0 }}", 0.0),
    ('{{ coalesce .nothing "" "x" }}', "x"),
    ('{{ trimPrefix "/api" "/api/v1" | upper }}', "/V1"),
    ('{{ step "s" "k" }} {{ trigger "rows" 0 "g" }}', "v a"),
    ('{{ b64 "a:b" }}', "YTpi"),
    ('{{ urlEncode "a b&c" }}', "a+b%26c"),
])
def test_the_spec_functions(template: str, expected: Any) -> None:
    ctx = PipelineContext.new({"rows": [{"g": "a", "n": 2}, {"g": "b", "n": 1},
                                        {"g": "a", "n": 3}], "nested": [[1, 2], [3]]}, {})
    ctx.merge_step_output("s", {"k": "v"})
    assert TemplateEngine(strict=False).render(translate(template), ctx) == expected


def test_functions_walking_collections_are_charged_for_them() -> None:
    ctx = PipelineContext.new({"many": list(range(200_000))}, {})
    for template in ("{{ unique .many }}", "{{ sum .many }}", "{{ join \",\" .many }}"):
        with pytest.raises(TemplateError, match="limit exceeded"):
            TemplateEngine(strict=False).render(translate(template), ctx)


def test_a_state_key_named_like_a_function_does_not_shadow_it() -> None:
    ctx = PipelineContext.new({"upper": "shadow", "name": "ann"}, {})
    assert TemplateEngine(strict=False).render(translate("${ upper(name) }"), ctx) == "ANN"
