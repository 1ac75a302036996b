"""An application file's spec-shaped pipelines as wfctl's native pipeline definitions.

    pipelines:                              pipelines:
      plan:                                   plan:
        trigger:                                trigger: {type: http, path: /plan,
          type: http                                      method: POST}
          config: {path: /plan, method: POST}   strict_templates: false
        steps:                                  steps:
          - name: plan                            - name: plan
            type: step.iac_plan                     type: step.iac_plan
            config: {platform: [db]}                config: {document: {...}, targets: [db]}

The result is what engine.pipeline_config parses (`pipelines:` values), so a spec pipeline
runs as any native one: one Temporal workflow, each step in its history. What changes on
the way: triggers (`config` flattened; cron -> a Temporal Schedule; event sources refused),
`on_error: continue` (the native `skip`), templates of both syntaxes translated once
(engine.appfile.expressions), a manual `step.gate` made a durable step.wait_for_approval,
IaC steps given their stack document (engine.appfile's native_iac_step). Templates are
lenient, as the spec's are: a missing key renders empty rather than failing the step.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from engine.appfile.expressions import ExpressionError, translate
from engine.pipeline_config import PipelineDefinition, parse_pipelines
from engine.step_registry import StepRegistry
from interfaces.errors import ConfigError

PIPELINE_KEYS = ("trigger", "steps", "on_error", "timeout", "compensation", "description")
STEP_KEYS = ("name", "type", "config")
ON_ERROR = {"stop": "stop", "continue": "skip", "skip": "skip", "compensate": "compensate"}
EVENT_TRIGGERS = ("event", "messaging", "eventbus", "message")
# A spec manual gate waits this long by default.
GATE_TIMEOUT = "24h"
MAX_STEPS = 1000
_MAX_CONFIG_DEPTH = 64


class SpecApplication(Protocol):
    """What of an engine.appfile.ApplicationFile the conversion reads."""

    @property
    def pipelines(self) -> dict[str, dict[str, Any]]: ...
    @property
    def triggers(self) -> dict[str, Any]: ...
    @property
    def modules(self) -> list[dict[str, Any]]: ...
    def where(self, key: str) -> str: ...


# (app, spec step type, config, env) -> (native type, native config); engine.appfile's
# native_iac_step by default.
IacConverter = Callable[[Any, str, Mapping[str, Any], str | None], tuple[str, dict[str, Any]]]


def native_pipelines(
    app: SpecApplication, *, env: str | None = None, notes: list[str] | None = None,
    iac_step: IacConverter | None = None, skip_unknown: bool = False,
) -> dict[str, dict[str, Any]]:
    """The native pipeline definitions of `app`'s pipelines; ConfigError lists every problem
    with file:line, pipeline, step and key. `notes` collects what was dropped or changed.
    `skip_unknown` (the spec's --skip-unknown-types) keeps a pipeline whose trigger wfctl
    has no source for, without that trigger (it still runs from `wfctl pipeline run`)."""
    converted, problems = convert_pipelines(app, env=env, notes=notes, iac_step=iac_step,
                                            skip_unknown=skip_unknown)
    if problems:
        raise ConfigError(problems)
    return converted


def convert_pipelines(
    app: SpecApplication, *, env: str | None = None, notes: list[str] | None = None,
    iac_step: IacConverter | None = None, skip_unknown: bool = False,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """native_pipelines' work without raising: the pipelines that converted, and the
    problems of the others (`wfctl validate` checks the first further and reports both)."""
    notes = notes if notes is not None else []
    problems: list[str] = _server_problems(app, notes)
    converted: dict[str, dict[str, Any]] = {}
    for name, raw in app.pipelines.items():
        converter = _Pipeline(app, name, env, notes, iac_step or _default_iac_step,
                              skip_unknown)
        native = converter.convert(raw)
        problems += converter.problems
        if not converter.problems:
            converted[name] = native
    return converted, problems


def application_pipelines(
    path: Path, registry: StepRegistry, *, env: str | None = None
) -> dict[str, PipelineDefinition]:
    """The pipelines of an application file in the spec's dialect, converted to native
    definitions (engine.appfile.pipelines) and checked like a pipeline file's. Module
    types and triggers wfctl does not run are `wfctl validate`'s to report (without
    --skip-unknown-types); the pipelines run regardless, an event-triggered one untriggered."""
    from engine.appfile import load_application

    app = load_application(path, skip_unknown=True)
    return checked_pipelines(app, native_pipelines(app, env=env, skip_unknown=True), registry)


def checked_pipelines(
    app: Any, native: dict[str, dict[str, Any]], registry: StepRegistry
) -> dict[str, PipelineDefinition]:
    """Converted pipelines checked as a native file's are; each problem of a step starts with
    the file and line of that step in the application file."""
    try:
        return parse_pipelines({"pipelines": native}, str(app.path), registry)
    except ConfigError as error:
        raise ConfigError([_with_step_line(app, p) for p in error.problems]) from None


def _with_step_line(app: Any, problem: str) -> str:
    prefix = f"{app.path}: "
    match = re.match(r'pipeline "([^"]+)": (?:compensation: )?step "([^"]+)"',
                     problem[len(prefix):]) if problem.startswith(prefix) else None
    if match is None:
        return problem
    located = step_location(app, *match.groups())
    return f"{located}: {problem[len(prefix):]}" if located else problem


def step_location(app: Any, pipeline: str, step: str) -> str | None:
    """`file:line` of a step (compensation steps too) from engine.appfile's line table."""
    key = f"pipelines.{pipeline}.steps.{step}"
    line = getattr(app, "lines", {}).get(key)
    if not line:
        return None
    return f"{getattr(app, 'sources', {}).get(key, app.path)}:{line}"


def pipeline_file_text(app: Any, *, env: str | None = None) -> str:
    """The native pipelines file `wfctl convert` writes beside the stack files: IaC steps name
    their stack file (`<stack>-stack.yaml`) instead of carrying the document, and each key the
    conversion dropped or changed is a `#` comment at the top."""
    import yaml

    notes: list[str] = []
    native = native_pipelines(app, env=env, notes=notes, skip_unknown=True)
    for pipeline in native.values():
        for step in [*pipeline["steps"], *pipeline.get("compensation", [])]:
            document = step["config"].pop("document", None) if step["type"].startswith(
                "step.iac_") else None
            if isinstance(document, Mapping):
                step["config"] = {"stack": f"{document['stack']}-stack.yaml", **step["config"]}
    header = [f"# converted from {app.path} by wfctl convert"]
    header += [f"# {note}" for note in notes]
    body = yaml.safe_dump({"pipelines": native}, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + "\n" + body


def _default_iac_step(
    app: Any, step_type: str, config: Mapping[str, Any], env: str | None
) -> tuple[str, dict[str, Any]]:
    from engine.appfile import native_iac_step

    return native_iac_step(app, step_type, config, env=env)


def _server_problems(app: SpecApplication, notes: list[str]) -> list[str]:
    """`triggers: {http: {server: NAME}}` names the http.server module: another module type
    is an error; a name the file does not declare (a snippet of a larger file) a note."""
    http = (app.triggers or {}).get("http")
    if http is None:
        return []
    server = http.get("server") if isinstance(http, Mapping) else None
    if server is None:
        return []
    types = {m.get("name"): m.get("type") for m in app.modules if isinstance(m, Mapping)}
    if types.get(server) in ("http.server", "http.router"):
        return []
    if server not in types:
        notes.append(f"{app.where('triggers')}: triggers.http.server {server!r} names no module "
                     "of this file; wfctl serve listens on --host/--port")
        return []
    servers = sorted(str(n) for n, t in types.items() if t == "http.server")
    return [f"{app.where('triggers')}: triggers.http.server {server!r} is not an http.server "
            f"module (declared: {', '.join(servers) or 'none'})"]


class _Pipeline:
    def __init__(
        self, app: SpecApplication, name: str, env: str | None, notes: list[str],
        iac_step: IacConverter, skip_unknown: bool,
    ) -> None:
        self.app, self.name, self.env, self.notes = app, name, env, notes
        self.where = f'{app.where(f"pipelines.{name}")}: pipeline "{name}"'
        self.iac_step, self.skip_unknown = iac_step, skip_unknown
        self.problems: list[str] = []
        # The name of the step being converted, for the line of its problems.
        self.at: str | None = None

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.location()}: {text}")

    def location(self) -> str:
        """`file:line: pipeline "x"`, the line the current step's when it is known."""
        located = step_location(self.app, self.name, self.at) if self.at else None
        return f'{located}: pipeline "{self.name}"' if located else self.where

    def convert(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            self.problem("expected a mapping with `trigger` and `steps`")
            return {}
        for key in raw:
            if key not in PIPELINE_KEYS:
                self.problem(f"unknown key {key!r} (a pipeline has: {', '.join(PIPELINE_KEYS)})")
        native: dict[str, Any] = {"strict_templates": False}
        if raw.get("description"):
            native["description"] = str(raw["description"])
        trigger = self.trigger(raw.get("trigger"))
        if trigger is not None:
            native["trigger"] = trigger
        on_error = raw.get("on_error", "stop")
        if on_error not in ON_ERROR:
            self.problem(f"on_error {on_error!r} is not one of {', '.join(ON_ERROR)}")
        else:
            native["on_error"] = ON_ERROR[on_error]
        if raw.get("timeout") is not None:
            native["timeout"] = raw["timeout"]
        native["steps"] = self.steps(raw.get("steps"), "steps")
        if trigger is not None and trigger["type"] == "http" and any(
            step["type"] == "step.request_parse"
            and (step["config"].get("parse_body") or step["config"].get("format"))
            for step in native["steps"]
        ):
            # The spec's request_parse reads form bodies as well as JSON.
            trigger["form"] = True
        if raw.get("compensation") is not None:
            native["compensation"] = self.steps(raw["compensation"], "compensation")
            if on_error != "compensate":
                self.notes.append(f"{self.where}: compensation runs only with "
                                  "on_error: compensate")
        return native

    # ---- triggers ----

    def trigger(self, raw: Any) -> dict[str, Any] | None:
        if raw is None:
            return None
        if not isinstance(raw, Mapping) or not isinstance(raw.get("type"), str):
            self.problem("trigger: expected {type: http|cron|schedule, config: {...}}")
            return None
        kind = raw["type"]
        config = raw.get("config") or {}
        extra = [k for k in raw if k not in ("type", "config")]
        if extra:
            self.problem(f"trigger: unknown key(s) {', '.join(map(str, extra))} (the spec "
                         "puts a trigger's settings under `config`)")
        if not isinstance(config, Mapping):
            self.problem("trigger.config: expected a mapping")
            return None
        if kind == "http":
            return self.http_trigger(config)
        if kind in ("cron", "schedule"):
            return self.cron_trigger(config)
        if kind in EVENT_TRIGGERS and self.skip_unknown:
            self.notes.append(f"{self.where}: trigger type {kind} dropped: no event source "
                              "exists in wfctl yet (the pipeline runs from wfctl pipeline run)")
            return None
        if kind in EVENT_TRIGGERS:
            self.problem(f"trigger type {kind}: no event source exists in wfctl yet; only "
                         "http and cron/schedule triggers run (start it with `wfctl pipeline "
                         "run` or call_pipeline meanwhile)")
            return None
        self.problem(f"trigger type {kind!r} is not one of http, cron, schedule")
        return None

    def http_trigger(self, config: Mapping[str, Any]) -> dict[str, Any] | None:
        native: dict[str, Any] = {"type": "http"}
        for key, value in config.items():
            if key in ("path", "method"):
                native[key] = value
            elif key == "middlewares":
                self.notes.append(f"{self.where}: trigger.config.middlewares dropped: wfctl "
                                  "has no middleware modules (use the trigger's `auth`)")
            else:
                self.problem(f"trigger.config: unknown key {key!r} of an http trigger "
                             "(path, method, middlewares)")
        if "path" not in native:
            self.problem("trigger.config: an http trigger needs `path`")
            return None
        return native

    def cron_trigger(self, config: Mapping[str, Any]) -> dict[str, Any] | None:
        native: dict[str, Any] = {"type": "schedule"}
        for key, value in config.items():
            if key in ("schedule", "cron"):
                native["cron"] = value
            elif key == "timezone":
                native["timezone"] = value
            elif key == "interval":
                native["interval"] = value
            else:
                self.problem(f"trigger.config: unknown key {key!r} of a cron trigger "
                             "(schedule, timezone)")
        if "cron" not in native and "interval" not in native:
            self.problem("trigger.config: a cron trigger needs `schedule`")
            return None
        return native

    # ---- steps ----

    def steps(self, raw: Any, label: str) -> list[dict[str, Any]]:
        if not isinstance(raw, list):
            self.problem(f"{label}: expected a list of steps")
            return []
        if len(raw) > MAX_STEPS:
            self.problem(f"{label}: more than {MAX_STEPS} steps")
            return []
        converted = []
        for index, step in enumerate(raw):
            name = step.get("name") if isinstance(step, Mapping) else None
            self.at = name if isinstance(name, str) else None
            native = self.step(step, index, label)
            self.at = None
            if native is not None:
                converted.append(native)
        return converted

    def step(self, raw: Any, index: int, label: str) -> dict[str, Any] | None:
        if not isinstance(raw, Mapping):
            self.problem(f"{label}[{index}]: expected a mapping with name, type, config")
            return None
        name = raw.get("name")
        here = f'step "{name}"' if isinstance(name, str) else f"{label}[{index}]"
        if label == "compensation":
            here = f"compensation {here}"
        for key in raw:
            if key not in STEP_KEYS:
                self.problem(f"{here}: unknown key {key!r} (a step has: {', '.join(STEP_KEYS)})")
        step_type = raw.get("type")
        config = raw.get("config") or {}
        if not isinstance(name, str) or not isinstance(step_type, str):
            self.problem(f"{here}: needs a `name` and a `type`")
            return None
        if not isinstance(config, Mapping):
            self.problem(f"{here}: config: expected a mapping")
            return None
        translated = self.templates(config, f"{here}: config", 0)
        if translated is None:
            return None
        try:
            step_type, translated = self.native_step(step_type, translated)
        except ConfigError as exc:
            for problem in exc.problems:
                self.problem(f"{here}: {problem}")
            return None
        return {"name": name, "type": step_type, "config": translated}

    def native_step(self, step_type: str, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if step_type == "step.gate" and config.get("type") == "manual":
            return "step.wait_for_approval", _manual_gate(config)
        if step_type.startswith("step.iac_"):
            return self.iac_step(self.app, step_type, config, self.env)
        if step_type == "step.log" and config.get("level") == "warn":
            # The spec's (and Go's slog) name of our "warning".
            return step_type, {**config, "level": "warning"}
        return step_type, config

    def templates(self, value: Any, path: str, depth: int) -> Any:
        """`value` with every string translated; None (and a problem) if one cannot be."""
        if depth > _MAX_CONFIG_DEPTH:
            self.problem(f"{path}: nested more than {_MAX_CONFIG_DEPTH} deep")
            return None
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                done = self.templates(item, f"{path}.{key}", depth + 1)
                if done is None and item is not None:
                    return None
                out[key] = done
            return out
        if isinstance(value, list):
            items = []
            for i, item in enumerate(value):
                done = self.templates(item, f"{path}[{i}]", depth + 1)
                if done is None and item is not None:
                    return None
                items.append(done)
            return items
        if not isinstance(value, str):
            return value
        try:
            return translate(value)
        except ExpressionError as exc:
            self.problem(f"{path}: {exc}")
            return None


def _manual_gate(config: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's manual gate, as the durable approval it stands for."""
    unknown = [k for k in config if k not in ("type", "approvers", "timeout", "message")]
    if unknown:
        raise ConfigError(f"config: a manual gate has approvers, timeout (not "
                          f"{', '.join(map(str, unknown))})")
    return {
        "message": config.get("message") or "approve to go on (step.gate, manual)",
        "approvers": list(config.get("approvers") or []),
        "timeout": config.get("timeout") or GATE_TIMEOUT,
        "on_timeout": "fail",
    }
