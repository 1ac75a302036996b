"""Bounded templates: every denial-of-service template fails with the limit it went over,
in a unit render and in a real pipeline run, and never holds up other runs on the worker."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from engine.template_limits import MAX_INT_BITS, MAX_VALUE_CHARS, MAX_WORK
from engine.templates import TemplateEngine, TemplateError
from interfaces import PipelineContext
from tests.pipeline_harness import running_pipelines

engine = TemplateEngine()


@pytest.fixture
def ctx() -> PipelineContext:
    return PipelineContext.new(
        {"items": list(range(10_000)), "text": "x" * 1000, "big": "x" * MAX_VALUE_CHARS}
    )


# (template, the limit it goes over). Each of these ate gigabytes or spun before the limits.
HOSTILE = [
    ("{{ '%0999999999d' % 1 }}", "output size"),
    ("{{ '%.999999999f' % 1 }}", "output size"),
    ("{{ '%*d' % (999999999, 1) }}", "output size"),
    ("{{ '%0999999999d' | format(1) }}", "output size"),
    ("{{ '{:>999999999}'.format(1) }}", "output size"),
    ("{{ '{:{w}}'.format(1, w=999999999) }}", "output size"),
    ("{{ '{v:.999999999f}'.format_map({'v': 1.0}) }}", "output size"),
    ("{{ 'x' | center(10**9) }}", "output size"),
    ("{{ 'x' | center(1000000000) }}", "output size"),
    ("{{ 'x'.center(10**9) }}", "output size"),
    ("{{ 'x'.ljust(10**9) }}", "output size"),
    ("{{ 'x'.rjust(10**9) }}", "output size"),
    ("{{ 'x'.zfill(10**9) }}", "output size"),
    ("{{ ('\t' * 1000).expandtabs(10**6) }}", "output size"),
    ("{{ 'x' | indent(10**9, true) }}", "output size"),
    ("{{ 'x y' | wordwrap(1, wrapstring=big) }}", "output size"),
    ("{{ big | replace('x', big) }}", "output size"),
    ("{{ big.replace('x', big) }}", "output size"),
    ("{{ 'x' | batch(10**9, 'y') | list }}", "output size"),
    ("{{ [1] | slice(10**9) | list }}", "output size"),
    ("{{ 'x' * 999999999 }}", "output size"),
    ("{{ text * 1001 }}", "output size"),
    ("{{ [[1] * 1000] * 1000 }}", "output size"),
    # Doubling a string through a namespace, with `~` and with `+`.
    ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
     "{% endfor %}{{ ns.s | length }}", "output size"),
    ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
     "{% endfor %}{{ ns.s | length }}", "output size"),
    # A billion laughs in list literals: small in memory, ten million items as text.
    ("{% set a = [1,2,3,4,5,6,7,8,9,0] %}{% set b = [a,a,a,a,a,a,a,a,a,a] %}"
     "{% set c = [b,b,b,b,b,b,b,b,b,b] %}{% set d = [c,c,c,c,c,c,c,c,c,c] %}"
     "{% set e = [d,d,d,d,d,d,d,d,d,d] %}{% set f = [e,e,e,e,e,e,e,e,e,e] %}"
     "{% set g = [f,f,f,f,f,f,f,f,f,f] %}{{ g | string | length }}", "output size"),
    # A huge base to a small exponent, again and again: each exponent alone looks harmless.
    ("{{ ((10 ** 999) ** 999) ** 999 }}", "integer size"),
    ("{{ 10 ** (10 ** 8) }}", "integer size"),
    ("{% set ns = namespace(n=2 ** 1000) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}"
     "{% endfor %}{{ ns.n > 0 }}", "integer size"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "work"),
    ("{% for a in items %}{% for b in items %}{% endfor %}{% endfor %}", "work"),
    ("{% for a in items %}{{ items | sum }}{% endfor %}", "work"),
    ("{{ range(100000) | map('center', 100000) | list | length }}", "work"),
    # Searching or copying a megabyte of trigger data in a loop: a megabyte each time.
    ("{% for i in range(100000) %}{% if 'z' in big %}{% endif %}{% endfor %}", "work"),
    ("{% for i in range(100000) %}{% set t = big[1:] %}{% endfor %}", "output size"),
]


@pytest.mark.parametrize(("template", "limit"), HOSTILE)
def test_hostile_templates_fail_with_the_limit_they_broke(
    ctx: PipelineContext, template: str, limit: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        engine.render(template, ctx)
    assert caught.value.limit == limit
    assert f"template limit exceeded ({limit})" in str(caught.value)


def test_left_associative_power_stays_small(ctx: PipelineContext) -> None:
    # Jinja reads `10**10**8` as (10**10)**8: a small number, allowed.
    assert engine.render("{{ 10**10**8 }}", ctx) == 10**80


def test_ordinary_templates_stay_within_the_limits(ctx: PipelineContext) -> None:
    assert engine.render("{{ items | sum }}", ctx) == sum(range(10_000))
    assert engine.render("{% for i in items[:5] %}{{ i }},{% endfor %}", ctx) == "0,1,2,3,4,"
    assert engine.render("{{ '%05.1f|%-4s|' % (3.14159, 'ab') }}", ctx) == "003.1|ab  |"
    assert engine.render("{{ '{:>6}'.format('ab') }}", ctx) == "    ab"
    assert engine.render("{{ 'ab' | center(6) }}", ctx) == "  ab  "
    assert engine.render("{{ 2 ** (MAX - 1) }}".replace("MAX", str(MAX_INT_BITS)), ctx) == (
        2 ** (MAX_INT_BITS - 1)
    )
    assert len(engine.render("{{ 'x' * MAX }}".replace("MAX", str(MAX_VALUE_CHARS)), ctx)) == (
        MAX_VALUE_CHARS
    )
    loops = f"{{% for i in range({MAX_WORK // 2}) %}}{{% endfor %}}done"
    assert engine.render(loops, ctx) == "done"


def test_the_budget_is_per_render_not_per_engine(ctx: PipelineContext) -> None:
    loops = f"{{% for i in range({MAX_WORK // 2}) %}}{{% endfor %}}done"
    for _ in range(5):
        assert engine.render(loops, ctx) == "done"
    # One render of a config tree shares one budget across its values.
    with pytest.raises(TemplateError, match=r"\(work\)"):
        engine.render([loops, loops, loops], ctx)


def test_only_an_engine_given_a_time_budget_reads_the_clock(ctx: PipelineContext) -> None:
    loop = "{% for i in range(3) %}{% endfor %}ok"
    already_late = TemplateEngine(time_budget=-1.0)
    with pytest.raises(TemplateError) as caught:
        already_late.render(loop, ctx)
    assert caught.value.limit == "time"
    # Workflow code's engine has no clock: the same render passes, as it will on replay.
    assert TemplateEngine().render(loop, ctx) == "ok"


PIPELINES = """
pipelines:
  hostile-if:
    steps:
      - name: spin
        type: step.set
        if: "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
        config: {values: {never: true}}
  hostile-config:
    steps:
      - name: pad
        type: step.set
        config: {values: {padded: "{{ 'x'.ljust(10**9) }}"}}
  hostile-foreach:
    steps:
      - name: each
        type: step.foreach
        config:
          items: "{{ range(100000) | map('center', 100000) | list }}"
          steps:
            - {name: inner, type: step.set, config: {values: {x: 1}}}
  calm:
    steps:
      - name: hello
        type: step.set
        config: {values: {greeting: "hello {{ who }}"}}
"""


async def failure(run: asyncio.Future[object]) -> ApplicationError:
    with pytest.raises(WorkflowFailureError) as info:
        await run
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def test_hostile_runs_fail_their_step_while_others_complete(client: Client) -> None:
    async with running_pipelines(client, PIPELINES) as executor:
        hostile = [
            await executor.start_pipeline(name, {})
            for name in ("hostile-if", "hostile-config", "hostile-foreach") * 3
        ]
        # Same worker, same moment: an ordinary run is served.
        calm = [executor.execute_pipeline("calm", {"who": f"run {i}"}) for i in range(5)]
        results = await asyncio.gather(*calm)
        assert [r["greeting"] for r in results] == [f"hello run {i}" for i in range(5)]

        causes = [await failure(asyncio.ensure_future(h.result())) for h in hostile]
        spin, pad, each = causes[:3]
        assert spin.type == "StepFailed"
        assert spin.message.startswith('step "spin" failed: template')
        assert "template limit exceeded (work)" in spin.message
        assert pad.message.startswith('step "pad" failed: template')
        assert "template limit exceeded (output size)" in pad.message
        assert pad.details[0]["error_type"] == "TemplateLimitExceeded"
        assert each.message.startswith('step "each" failed: template')
        assert "template limit exceeded (work)" in each.message
