"""The spec's pipeline triggers as native ones, for engine.appfile.pipelines' converter.

    trigger: {type: http, config: {path, method, router, middlewares}}  -> {type: http, ...}
    trigger: {type: cron, config: {schedule, timezone}}          -> {type: schedule, cron, ...}

Event triggers are refused until an event source exists (with --skip-unknown-types the
pipeline is kept untriggered). The converter supplies `problem`, `notes`, `where`, `app`
and `skip_unknown`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EVENT_TRIGGERS = ("event", "messaging", "eventbus", "message")


class SpecTriggers:
    app: Any
    notes: list[str]
    where: str
    skip_unknown: bool

    def problem(self, text: str) -> None:
        raise NotImplementedError

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
            elif key == "router":
                self.router(value)
            else:
                self.problem(f"trigger.config: unknown key {key!r} of an http trigger "
                             "(path, method, router, middlewares)")
        if "path" not in native:
            self.problem("trigger.config: an http trigger needs `path`")
            return None
        return native

    def router(self, name: Any) -> None:
        """`router` names the http.router module the route hangs on. wfctl serve has one
        router per file, so the name is only checked: it must be an http.router module when
        the file declares modules (a snippet without any gets a note)."""
        if not isinstance(name, str) or not name:
            self.problem("trigger.config.router: the name of an http.router module")
            return
        modules = [m for m in self.app.modules if isinstance(m, Mapping)]
        if not modules:
            self.notes.append(f"{self.where}: trigger.config.router {name!r} names no module "
                              "of this file; wfctl serve routes every http pipeline itself")
            return
        if any(m.get("name") == name and m.get("type") == "http.router" for m in modules):
            return
        routers = sorted(str(m.get("name")) for m in modules if m.get("type") == "http.router")
        self.problem(f"trigger.config.router {name!r} is not an http.router module (declared: "
                     f"{', '.join(routers) or 'none'})")

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
