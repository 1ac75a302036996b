"""`wfctl validate` and `wfctl convert` for application files (the spec engine's dialect)."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console

from engine.appfile import ApplicationFile, AppStacks, app_stacks, load_application
from engine.appfile.model import is_application_file
from engine.appfile.stacks import IAC_STEPS, stack_name
from engine.bounded_yaml import load_yaml, read_document
from interfaces.errors import ConfigError

console = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def is_application_path(path: Path) -> bool:
    """A file (not a folder) in the spec's dialect; unreadable files are left to the
    loader that reports them."""
    if not path.is_file():
        return False
    try:
        data = load_yaml(read_document(path), str(path))
    except ConfigError:
        return False
    return isinstance(data, Mapping) and is_application_file(data)


def _fail(problems: list[str]) -> typer.Exit:
    for problem in problems:
        err.print(f"[red]error:[/] {problem}")
    return typer.Exit(1)


def load_or_exit(path: Path, env: str | None, skip_unknown: bool) -> tuple[ApplicationFile,
                                                                            AppStacks]:
    try:
        app = load_application(path, skip_unknown=skip_unknown)
        return app, app_stacks(app, env=env)
    except ConfigError as error:
        raise _fail(error.problems) from None


def _converter_function(name: str) -> Any:
    """A function of the pipeline converter (engine.appfile.pipelines), None until it is in
    the build."""
    try:
        module = importlib.import_module("engine.appfile.pipelines")
    except ModuleNotFoundError:
        return None
    return getattr(module, name, None)


def _pipeline_converter() -> Any:
    """engine.appfile.pipelines.native_pipelines(app) -> the file's pipelines as wfctl's."""
    return _converter_function("native_pipelines")


def _step_types(steps: Any) -> Iterator[str]:
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, Mapping) and isinstance(step.get("type"), str):
            yield step["type"]


def _unknown_step_types(app: ApplicationFile) -> dict[str, list[str]]:
    """step type -> pipelines using it, for types wfctl has no step for."""
    from activities.step_catalog import default_registry

    registry = default_registry()
    found: dict[str, list[str]] = {}
    for name, pipeline in app.pipelines.items():
        body = pipeline if isinstance(pipeline, Mapping) else {}
        for kind in (*_step_types(body.get("steps")), *_step_types(body.get("compensation"))):
            if kind not in registry and kind not in IAC_STEPS:
                found.setdefault(kind, []).append(name)
    return found


def _iac_step_problems(app: ApplicationFile, env: str | None) -> list[str]:
    """The spec's IaC step keys (platform, resource_id, resources, state_store, provider)
    checked against the file's modules, as the pipeline converter will map them."""
    from engine.appfile import native_iac_step

    problems = []
    for name, pipeline in app.pipelines.items():
        body = pipeline if isinstance(pipeline, Mapping) else {}
        for list_key in ("steps", "compensation"):
            for step in body.get(list_key) or []:
                if not isinstance(step, Mapping) or step.get("type") not in IAC_STEPS:
                    continue
                config = step.get("config") or {}
                try:
                    native_iac_step(app, step["type"], config if isinstance(config, Mapping)
                                    else {}, env=env)
                except ConfigError as error:
                    where = f'{app.where(f"pipelines.{name}")}: pipeline "{name}": step ' \
                        f'"{step.get("name")}"'
                    problems.extend(f"{where}: {problem}" for problem in error.problems)
    return problems


_RESOURCE = re.compile(r'resource "([^"]+)"')


def _stack_problems(built: AppStacks, app: ApplicationFile | None = None) -> list[str]:
    """Each stack checked as `wfctl infra` would: shape, types per provider, references;
    a problem of one resource is prefixed with the file and line of its module."""
    problems = _stack_checks(built)
    if app is None:
        return problems
    located = []
    for problem in problems:
        match = _RESOURCE.search(problem)
        key = f"modules.{match.group(1)}" if match else ""
        located.append(f"{app.where(key)}: {problem}" if key in app.lines else problem)
    return located


def _stack_checks(built: AppStacks) -> list[str]:
    from engine.iac.stack import parse_stack, validate_stack
    from providers.registry import create_provider

    problems: list[str] = []
    for name, document in built.stacks.items():
        source = f'stack "{name}"'
        try:
            doc = parse_stack(document, source)
            capabilities = {
                key: create_provider(block.type).capabilities()
                for key, block in doc.providers.items()
            }
            validate_stack(doc, capabilities, source)
        except ConfigError as error:
            problems.extend(error.problems)
    return problems


def validate_application(path: Path, env: str | None, skip_unknown: bool) -> None:
    app, built = load_or_exit(path, env, skip_unknown)
    problems = _stack_problems(built, app)
    unknown_steps = _unknown_step_types(app)
    converter = _pipeline_converter()
    pipeline_notes: list[str] = []
    if converter is not None:
        from activities.step_catalog import default_registry
        from engine.appfile.pipelines import checked_pipelines, convert_pipelines

        # Converted, then checked as a native pipeline file is (step configs, jumps): the
        # problems of both, for every pipeline.
        native, not_converted = convert_pipelines(app, env=env, notes=pipeline_notes,
                                                  skip_unknown=skip_unknown)
        problems.extend(not_converted)
        try:
            checked_pipelines(app, native, default_registry())
        except ConfigError as error:
            problems.extend(error.problems)
    else:
        problems.extend(_iac_step_problems(app, env))
    if converter is None and unknown_steps and not skip_unknown:
        problems.extend(
            f"step type {kind} (pipelines {', '.join(names)}) is not supported by wfctl"
            for kind, names in sorted(unknown_steps.items())
        )
    if app.unsupported_workflows and not skip_unknown:
        problems.extend(
            f"{path}: {section} is not supported by wfctl (it runs the file's `pipelines`; "
            "--skip-unknown-types makes this a warning)" for section in app.unsupported_workflows
        )
    if problems:
        raise _fail(problems)
    label = f"{app.name} {app.version}".strip()
    console.print(f"{path}: application {label}")
    if app.http_address:
        console.print(f"  http server on {app.http_address}")
    for name, document in built.stacks.items():
        resources = ", ".join(f"{r['name']} ({r['type']})" for r in document["resources"])
        console.print(f"  stack {name}: {len(document['resources'])} resources: "
                      f"{resources or 'none'}")
    console.print(f"  {len(app.pipelines)} pipelines: {', '.join(app.pipelines) or 'none'}")
    for note in [*built.notes, *pipeline_notes]:
        console.print(f"  note: {note}")
    for owner, keys in built.dropped.items():
        for key in keys:
            err.print(f"[yellow]warning:[/] module {owner}: {key} (left out)")
    for name, kind in built.unsupported:
        err.print(f"[yellow]warning:[/] module {name}: type {kind} is not supported (skipped)")
    for section in app.unsupported_workflows:
        err.print(f"[yellow]warning:[/] {section} is not supported (skipped)")
    if converter is None:
        for kind, names in sorted(unknown_steps.items()):
            err.print(f"[yellow]warning:[/] step type {kind} (pipelines {', '.join(names)}) "
                      "is not supported (skipped)")
    for section in app.other_sections:
        err.print(f"[yellow]warning:[/] top-level section {section} is not read by wfctl")
    for name, entry in app.environments.items():
        ignored = sorted(set(entry) - {"provider", "region"}) if isinstance(entry, Mapping) \
            else []
        if ignored:
            err.print(f"[yellow]warning:[/] environments.{name}: {', '.join(ignored)} not read "
                      "by wfctl (it reads provider and region)")


def _stack_text(document: dict[str, Any], built: AppStacks, source: Path) -> str:
    """The stack as YAML; each key the conversion left out is a `#` comment above the
    resource it belonged to (providers', state's and unsupported modules' in the header)."""
    resources = {r["name"] for r in document["resources"]}
    header = [f"# Converted by `wfctl convert` from {source}; keys with no wfctl counterpart",
              "# are kept as comments, each with why."]
    for owner, keys in built.dropped.items():
        if owner not in resources:
            header += [f"# dropped from module {owner}: {key}" for key in keys]
    header += [f"# dropped module {name}: type {kind} is not supported by wfctl"
               for name, kind in built.unsupported]
    lines = []
    for line in yaml.safe_dump(document, sort_keys=False).splitlines():
        name = line.removeprefix("- name: ") if line.startswith("- name: ") else None
        if name is not None and name in built.dropped:
            lines += [f"# dropped: {key}" for key in built.dropped[name]]
        lines.append(line)
    return "\n".join([*header, *lines]) + "\n"


def convert_application(path: Path, out: Path, env: str | None, skip_unknown: bool) -> None:
    app, built = load_or_exit(path, env, skip_unknown)
    out.mkdir(parents=True, exist_ok=True)
    problems = _stack_problems(built, app)
    if problems:
        raise _fail(problems)
    for name, document in built.stacks.items():
        target = out / f"{name}-stack.yaml"
        target.write_text(_stack_text(document, built, path))
        console.print(f"wrote {target} ({len(document['resources'])} resources)")
    # The hook for the pipeline converter: engine.appfile.pipelines.pipeline_file_text(app,
    # env=...) -> the native pipeline file's text, its dropped keys as `#` comments.
    writer = _converter_function("pipeline_file_text")
    if writer is not None:
        target = out / f"{stack_name(app, None, False, None)}-pipelines.yaml"
        target.write_text(writer(app, env=env))
        console.print(f"wrote {target}")
    elif app.pipelines:
        err.print(f"[yellow]warning:[/] {len(app.pipelines)} pipelines not written: the "
                  "pipeline converter (engine.appfile.pipelines) is not in this build")


def stack_document(path: Path, env: str | None) -> dict[str, Any]:
    """The one stack of an application file as `wfctl infra` runs it (its SQLite path made
    absolute by the same rule as a stack file's); ConfigError when it has none or several."""
    from engine.iac.stack import parse_stack
    from statestore.factory import with_absolute_path

    app = load_application(path, skip_unknown=True)
    built = app_stacks(app, env=env)
    if len(built.stacks) != 1:
        found = ", ".join(built.stacks) or "no infra.* modules"
        raise ConfigError(
            f"{path}: {len(built.stacks)} stacks ({found}); `wfctl infra` runs one: write "
            "them out with `wfctl convert` and pass each stack file with -f"
        )
    for note in built.notes:
        err.print(f"note: {note}")
    doc = parse_stack(next(iter(built.stacks.values())), str(path))
    data = doc.model_dump(mode="json", exclude_defaults=True)
    data["state"] = with_absolute_path(doc.state.model_dump(mode="json", exclude_none=True))
    data["stack"] = doc.stack
    return data
