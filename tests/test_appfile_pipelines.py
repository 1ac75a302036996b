"""Spec-shaped pipelines (GoCodeAlone/workflow application files) converted to native
pipeline definitions: triggers, error policies, steps, templates, and errors that say where."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from activities.step_catalog import default_registry
from engine.appfile.pipelines import native_pipelines
from engine.pipeline_config import HttpTrigger, ScheduleTrigger, parse_pipelines
from interfaces.errors import ConfigError


@dataclass
class App:
    """What of engine.appfile's ApplicationFile the conversion reads."""

    pipelines: dict[str, dict[str, Any]]
    triggers: dict[str, Any] = field(default_factory=dict)
    modules: list[dict[str, Any]] = field(default_factory=lambda: [
        {"name": "api-server", "type": "http.server", "config": {"address": ":8080"}}])
    path: Path = Path("app.yaml")

    def where(self, key: str) -> str:
        return f"{self.path}:{list(self.pipelines).index(key.split('.', 1)[1]) + 10}" \
            if key.startswith("pipelines.") else str(self.path)


SPEC = yaml.safe_load("""
triggers:
  http:
    server: api-server
pipelines:
  stripe-payment:
    trigger:
      type: http
      config: {path: /webhooks/stripe, method: POST, middlewares: [auth]}
    steps:
      - name: validate-payload
        type: step.validate
        config: {strategy: required_fields, required_fields: [type, data]}
      - name: extract-event
        type: step.set
        config:
          values:
            event_type: "{{ .type }}"
            payload_id: "{{ .data.id }}"
      - name: route-by-type
        type: step.conditional
        config:
          field: "{{ .event_type }}"
          routes: {"payment_intent.succeeded": process-success}
          default: log-unknown
      - name: process-success
        type: step.json_response
        config: {status: 200, body_from: "steps.extract-event"}
      - name: log-unknown
        type: step.log
        config: {level: warn, message: 'unknown ${ event_type }'}
    on_error: stop
    timeout: 30s
  hourly-sync:
    trigger:
      type: cron
      config: {schedule: "0 * * * *", timezone: "America/New_York"}
    steps:
      - name: sync
        type: step.set
        config: {values: {at: '${ meta["started_at"] }'}}
    timeout: 5m
  order:
    trigger: {type: http, config: {path: "/orders/{id}", method: put}}
    on_error: compensate
    steps:
      - {name: reserve, type: step.set, config: {values: {reserved: true}}}
      - name: approve
        type: step.gate
        config: {type: manual, approvers: [ada], timeout: 1h}
      - name: auto
        type: step.gate
        config: {type: automated, auto_approve_conditions: ["reserved == true"]}
    compensation:
      - {name: release, type: step.log, config: {message: "release {{ .steps.reserve.reserved }}"}}
  tolerant:
    on_error: continue
    steps:
      - {name: boom, type: step.fail, config: {message: no}}
""")


def app_of(spec: Mapping[str, Any]) -> App:
    return App(pipelines=dict(spec["pipelines"]), triggers=dict(spec.get("triggers") or {}))


def test_spec_pipelines_become_native_definitions_that_load() -> None:
    notes: list[str] = []
    native = native_pipelines(app_of(SPEC), notes=notes)
    loaded = parse_pipelines({"pipelines": native}, "app.yaml", default_registry())
    stripe = loaded["stripe-payment"].spec
    assert isinstance(stripe.trigger, HttpTrigger)
    assert (stripe.trigger.method, stripe.trigger.path) == ("POST", "/webhooks/stripe")
    assert stripe.timeout is not None and stripe.timeout.total_seconds() == 30
    assert stripe.strict_templates is False  # missing keys render empty, as in the spec
    steps = {s.name: s for s in stripe.steps}
    assert steps["extract-event"].config["values"] == {
        "event_type": "{{ type }}", "payload_id": '{{ data["id"] }}'}
    assert steps["route-by-type"].config["field"] == "{{ event_type }}"
    assert steps["log-unknown"].config["message"] == "unknown {{ event_type }}"
    assert any("middlewares dropped" in note for note in notes)
    cron = loaded["hourly-sync"].spec.trigger
    assert isinstance(cron, ScheduleTrigger)
    assert (cron.cron, cron.timezone) == ("0 * * * *", "America/New_York")
    order = loaded["order"].spec
    assert order.on_error == "compensate" and [s.name for s in order.compensation] == ["release"]
    gate = {s.name: s for s in order.steps}["approve"]
    # The manual gate is a real durable approval, not the spec's "awaiting" note.
    assert gate.type == "step.wait_for_approval"
    assert gate.config == {"message": "approve to go on (step.gate, manual)",
                           "approvers": ["ada"], "timeout": "1h", "on_timeout": "fail"}
    assert {s.name: s for s in order.steps}["auto"].type == "step.gate"
    assert loaded["tolerant"].spec.on_error == "skip"


@pytest.mark.parametrize(("change", "expected"), [
    ({"trigger": {"type": "event", "config": {"event": "user.created"}}},
     'app.yaml:10: pipeline "p": trigger type event: no event source exists in wfctl yet'),
    ({"trigger": {"type": "http", "path": "/x"}},
     'pipeline "p": trigger: unknown key(s) path (the spec puts'),
    ({"trigger": {"type": "http", "config": {"method": "GET"}}},
     'pipeline "p": trigger.config: an http trigger needs `path`'),
    ({"trigger": {"type": "cron", "config": {"timezone": "UTC"}}},
     "a cron trigger needs `schedule`"),
    ({"on_error": "retry"}, "on_error 'retry' is not one of stop, continue, skip, compensate"),
    ({"retries": 3}, "unknown key 'retries' (a pipeline has:"),
    ({"steps": [{"name": "s", "type": "step.set", "config": {"values": {
        "x": 'ok ${ a ? b : c }'}}}]},
     'app.yaml:10: pipeline "p": step "s": config.values.x: the ternary `a ? b : c` is not '
     "supported; use step.conditional or a Go `{{ if }}` (column 9 of 'ok ${ a ? b : c }')"),
    ({"compensation": [{"name": "u", "type": "step.log", "config": {"message": "{{ range }}"}}]},
     'pipeline "p": compensation step "u": config.message: Go template `range`'),
    ({"steps": [{"name": "s", "type": "step.set", "if": "x"}]},
     'step "s": unknown key \'if\' (a step has: name, type, config)'),
    ({"steps": [{"name": "g", "type": "step.gate", "config": {"type": "manual", "mode": 1}}]},
     'step "g": config: a manual gate has approvers, timeout (not mode)'),
])
def test_problems_name_file_line_pipeline_step_and_key(
    change: dict[str, Any], expected: str
) -> None:
    raw = {"steps": [{"name": "s", "type": "step.set", "config": {"values": {"a": 1}}}], **change}
    with pytest.raises(ConfigError) as info:
        native_pipelines(App(pipelines={"p": raw}))
    assert any(expected in problem for problem in info.value.problems), info.value.problems


def test_http_server_trigger_must_name_an_http_server_module() -> None:
    app = App(pipelines={}, triggers={"http": {"server": "db"}},
              modules=[{"name": "api-server", "type": "http.server"},
                       {"name": "db", "type": "infra.database"}])
    with pytest.raises(ConfigError, match="triggers.http.server 'db' is not an http.server "
                                          r"module \(declared: api-server\)"):
        native_pipelines(app)
    # A name this file does not declare (a snippet of a larger file): a note, not an error.
    notes: list[str] = []
    native_pipelines(App(pipelines={}, triggers={"http": {"server": "web"}}), notes=notes)
    assert notes == ["app.yaml: triggers.http.server 'web' names no module of this file; "
                     "wfctl serve listens on --host/--port"]


def test_skip_unknown_keeps_an_event_pipeline_without_its_trigger() -> None:
    raw = {"trigger": {"type": "event", "config": {"event": "user.created"}},
           "steps": [{"name": "s", "type": "step.log", "config": {"message": "hi"}}]}
    notes: list[str] = []
    native = native_pipelines(App(pipelines={"p": raw}), notes=notes, skip_unknown=True)
    assert "trigger" not in native["p"] and native["p"]["steps"][0]["name"] == "s"
    assert notes == ['app.yaml:10: pipeline "p": trigger type event dropped: no event source '
                     "exists in wfctl yet (the pipeline runs from wfctl pipeline run)"]


def test_native_checks_still_apply_after_conversion() -> None:
    """A converted pipeline is checked like a native one: a jump to a missing step."""
    raw = {"steps": [{"name": "r", "type": "step.conditional",
                      "config": {"field": "x", "routes": {"a": "nowhere"}}}]}
    native = native_pipelines(App(pipelines={"p": raw}))
    with pytest.raises(ConfigError, match='step "r": jumps to step "nowhere"'):
        parse_pipelines({"pipelines": native}, "app.yaml", default_registry())


def test_iac_steps_go_through_the_iac_converter_with_translated_templates() -> None:
    seen: list[tuple[str, dict[str, Any], str | None]] = []

    def iac_step(app: Any, step_type: str, config: Mapping[str, Any], env: str | None
                 ) -> tuple[str, dict[str, Any]]:
        seen.append((step_type, dict(config), env))
        if config.get("platform") == "ghost":
            raise ConfigError("platform 'ghost' is not an infra.* module")
        return step_type, {"document": {"name": "s", "resources": []}}

    raw = {"steps": [{"name": "plan", "type": "step.iac_plan",
                      "config": {"platform": "db", "note": "${ upper(x) }"}}]}
    native = native_pipelines(App(pipelines={"p": raw}), env="prod", iac_step=iac_step)
    assert seen == [("step.iac_plan", {"platform": "db", "note": "{{ _wf.upper(x) }}"}, "prod")]
    assert native["p"]["steps"][0]["config"] == {"document": {"name": "s", "resources": []}}
    raw["steps"][0]["config"]["platform"] = "ghost"
    with pytest.raises(ConfigError, match='pipeline "p": step "plan": platform \'ghost\''):
        native_pipelines(App(pipelines={"p": raw}), iac_step=iac_step)


def test_a_cron_trigger_becomes_a_schedule_in_its_timezone() -> None:
    from wfctl.schedules import build_schedule

    native = native_pipelines(app_of(SPEC))
    loaded = parse_pipelines({"pipelines": native}, "app.yaml", default_registry())
    trigger = loaded["hourly-sync"].spec.trigger
    assert isinstance(trigger, ScheduleTrigger)
    spec = build_schedule("hourly-sync", trigger, "q").spec
    assert spec.cron_expressions == ["0 * * * *"] and spec.time_zone_name == "America/New_York"
    bad = {"p": {"trigger": {"type": "cron", "config": {"schedule": "@hourly",
                                                        "timezone": "Mars/Olympus"}},
                 "steps": [{"name": "s", "type": "step.log", "config": {"message": "x"}}]}}
    with pytest.raises(ConfigError, match="'Mars/Olympus' is not an IANA time zone name"):
        parse_pipelines({"pipelines": native_pipelines(App(pipelines=bad))}, "a.yaml",
                        default_registry())


BAD_APP = """\
name: broken
modules:
  - {name: api, type: http.server, config: {port: 8080}}
pipelines:
  ok:
    trigger: {type: http, config: {path: /ok, method: GET}}
    steps:
      - {name: answer, type: step.json_response, config: {body: {fine: true}}}
  welcome:
    trigger: {type: event, config: {event: user.created}}
    steps:
      - {name: send, type: step.log, config: {message: hi}}
  shout:
    steps:
      - name: loud
        type: step.set
        config: {values: {x: "{{ range .items }}{{ . }}{{ end }}"}}
  typo:
    steps:
      - {name: first, type: step.set, config: {values: {a: 1}}}
      - {name: second, type: step.lgo, config: {message: hi}}
"""


def test_wfctl_validate_names_file_line_pipeline_and_step(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from wfctl.cli import app

    path = tmp_path / "app.yaml"
    path.write_text(BAD_APP)
    done = CliRunner().invoke(app, ["validate", str(path)])
    assert done.exit_code == 1
    err = " ".join(done.output.split())
    assert f'{path}:9: pipeline "welcome": trigger type event: no event source exists' in err
    # The step's own line, not its pipeline's.
    assert (f'{path}:15: pipeline "shout": step "loud": config.values.x: Go template `range` '
            "is not supported") in err
    assert "column 4" in err
    # What the native checks find after conversion has the step's line too.
    assert f'{path}:21: pipeline "typo": step "second": unknown step type "step.lgo"' in err


def test_form_bodies_decode_bounded_and_only_where_request_parse_reads_a_body() -> None:
    from wfctl.request_guard import MAX_FORM_FIELDS, decode_form

    assert decode_form(b"a=1&b=x%20y&a=2&c=") == ({"a": ["1", "2"], "b": "x y", "c": ""}, None)
    assert decode_form(b"a=%ff")[1] is not None and "not UTF-8" in str(decode_form(b"a=%ff")[1])
    too_many = "&".join(f"f{i}=1" for i in range(MAX_FORM_FIELDS + 1)).encode()
    assert decode_form(too_many)[1] == f"the form has more than {MAX_FORM_FIELDS} fields"
    parse = {"name": "p", "type": "step.request_parse", "config": {"parse_body": True}}
    raw = {"trigger": {"type": "http", "config": {"path": "/f"}}, "steps": [parse]}
    assert native_pipelines(App(pipelines={"p": raw}))["p"]["trigger"]["form"] is True
    raw["steps"] = [{"name": "s", "type": "step.set", "config": {"values": {"a": 1}}}]
    assert "form" not in native_pipelines(App(pipelines={"p": raw}))["p"]["trigger"]


ENV_APP = """\
name: envs
modules:
  - {name: cloud, type: iac.provider, config: {provider: aws, region: us-east-1}}
  - {name: state, type: iac.state, config: {backend: sqlite, path: state.db}}
  - name: db
    type: infra.database
    config: {engine: postgres, size: s}
    environments:
      prod: {config: {size: l}}
pipelines:
  plan:
    steps:
      - {name: plan, type: step.iac_plan, config: {resources: [db]}}
"""


def test_the_worker_env_picks_an_application_files_environment(tmp_path: Path) -> None:
    """`python worker.py --env prod` loads the pipelines' stacks with prod's overrides."""
    from activities.pipeline_catalog import PipelineCatalog

    path = tmp_path / "envs.yaml"
    path.write_text(ENV_APP)
    registry = default_registry()
    for env, stack, size in ((None, "envs", "s"), ("prod", "envs-prod", "l")):
        step = PipelineCatalog.load(path, registry, env=env).get("plan").spec.steps[0]
        document = step.config["document"]
        assert (document["stack"], document["resources"][0]["size"]) == (stack, size), env


def test_a_file_of_spec_shaped_pipelines_alone_loads_as_an_application_file(
    tmp_path: Path,
) -> None:
    """No modules: the `{type, config}` trigger says which dialect it is (as the DSL
    reference's snippets are written)."""
    from engine.pipeline_config import load_pipelines

    path = tmp_path / "hooks.yaml"
    path.write_text("pipelines:\n  hook:\n    trigger: {type: http, config: {path: /hook}}\n"
                    "    steps:\n      - {name: r, type: step.json_response, "
                    "config: {body: {ok: '${ true }'}}}\n")
    hook = load_pipelines(path, default_registry())["hook"]
    assert isinstance(hook.spec.trigger, HttpTrigger) and hook.spec.trigger.path == "/hook"
    assert hook.folder == str(tmp_path.resolve())
    assert hook.spec.steps[0].config == {"body": {"ok": "{{ true }}"}}


def test_convert_writes_a_native_pipelines_file_that_loads_beside_its_stack_files(
    tmp_path: Path,
) -> None:
    from engine.appfile import load_application
    from engine.appfile.pipelines import pipeline_file_text
    from engine.pipeline_config import load_pipelines

    source = Path(__file__).resolve().parent / "fixtures" / "apppipe" / "shop.yaml"
    text = source.read_text().replace(
        "config: {path: /plan, method: POST}", "config: {path: /plan, method: POST, "
        "middlewares: [auth]}")
    app_path = tmp_path / "shop.yaml"
    app_path.write_text(text)
    written = pipeline_file_text(load_application(app_path))
    assert written.splitlines()[:2] == [
        f"# converted from {app_path} by wfctl convert",
        f'# {app_path}:58: pipeline "plan-infra": trigger.config.middlewares dropped: wfctl '
        "has no middleware modules (use the trigger's `auth`)"]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "shop-pipelines.yaml").write_text(written)
    loaded = load_pipelines(tmp_path / "out" / "shop-pipelines.yaml", default_registry())
    assert sorted(loaded) == ["apply-infra", "destroy-infra", "infra-status", "plan-infra"]
    apply = loaded["apply-infra"].spec.steps[0]
    assert apply.type == "step.iac_apply"
    assert apply.config == {"stack": "shop-stack.yaml", "plan": '{{ trigger["plan_id"] }}'}
