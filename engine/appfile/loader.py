"""Reading an application file and its imports into one ApplicationFile.

Imports merge as the spec documents them: modules concatenated (the importing file first,
then each import in order), pipelines and triggers merged with the first definition winning,
workflows deep-merged, requires.plugins deduplicated by name. Module names must be unique
across every file; a cycle of imports is refused with its chain. Depth and file count are
bounded, like every document wfctl reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.appfile.model import ApplicationFile, is_supported_module_type
from engine.bounded_yaml import load_yaml, read_document
from interfaces.errors import ConfigError

MAX_IMPORT_DEPTH = 8
MAX_IMPORT_FILES = 64
MAX_MODULES = 1000
# Sections an application file may have that wfctl reads (the rest are listed, not read).
READ_SECTIONS = frozenset({
    "name", "version", "description", "requires", "modules", "pipelines", "triggers",
    "workflows", "imports", "environments",
})


@dataclass
class _Merged:
    modules: list[dict[str, Any]] = field(default_factory=list)
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    triggers: dict[str, Any] = field(default_factory=dict)
    workflows: dict[str, Any] = field(default_factory=dict)
    plugins: list[dict[str, Any]] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)
    other_sections: list[str] = field(default_factory=list)
    files: int = 0
    problems: list[str] = field(default_factory=list)


def load_application(path: Path, *, skip_unknown: bool = False) -> ApplicationFile:
    """The application file at `path` with its imports merged; ConfigError listing every
    problem (file:line: module "x": ...). Unknown module types are problems unless
    `skip_unknown` (the spec's --skip-unknown-types): then they stay in `modules` and
    ApplicationFile.unsupported_modules names them."""
    path = Path(path)
    merged = _Merged()
    top = _read_one(path, merged, chain=())
    problems = merged.problems
    _check_modules(merged, problems, skip_unknown)
    if problems:
        raise ConfigError(problems)
    requires = dict(top.get("requires") or {}) if isinstance(top.get("requires"), Mapping) else {}
    if merged.plugins:
        requires["plugins"] = merged.plugins
    return ApplicationFile(
        path=path,
        name=str(top.get("name") or path.stem),
        version=str(top.get("version") or ""),
        description=str(top.get("description") or ""),
        requires=requires,
        modules=merged.modules,
        pipelines=merged.pipelines,
        triggers=merged.triggers,
        workflows=merged.workflows,
        http_address=_http_address(merged),
        lines=merged.lines,
        sources=merged.sources,
        environments=dict(top.get("environments") or {})
        if isinstance(top.get("environments"), Mapping) else {},
        other_sections=tuple(dict.fromkeys(merged.other_sections)),
    )


def _read_one(path: Path, merged: _Merged, chain: tuple[Path, ...]) -> dict[str, Any]:
    merged.files += 1
    text = read_document(path, "cannot read application file")
    data = load_yaml(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: an application file is a mapping, got {type(data).__name__}")
    lines = _lines(text)
    _merge(path, data, lines, merged)
    imports = data.get("imports") or []
    if not isinstance(imports, list) or not all(isinstance(i, str) for i in imports):
        merged.problems.append(f"{path}: imports: a list of file paths relative to this file")
        return dict(data)
    here = chain + (path.resolve(),)
    for name in imports:
        target = (path.parent / name).resolve()
        if target in here:
            cycle = " -> ".join(str(p) for p in (*here[here.index(target):], target))
            merged.problems.append(f"{path}: imports {name}: circular import: {cycle}")
            continue
        if len(here) >= MAX_IMPORT_DEPTH:
            merged.problems.append(
                f"{path}: imports {name}: imports nest deeper than {MAX_IMPORT_DEPTH} files"
            )
            continue
        if merged.files >= MAX_IMPORT_FILES:
            merged.problems.append(
                f"{path}: imports {name}: more than {MAX_IMPORT_FILES} files imported in all"
            )
            continue
        try:
            _read_one(path.parent / name, merged, here)
        except ConfigError as error:
            merged.problems.extend(f"{p} (imported from {path})" for p in error.problems)
    return dict(data)


def _merge(path: Path, data: Mapping[str, Any], lines: dict[str, int], merged: _Merged) -> None:
    merged.other_sections.extend(str(k) for k in data if k not in READ_SECTIONS)
    modules = data.get("modules") or []
    if not isinstance(modules, list):
        merged.problems.append(f"{path}: modules: a list of {{name, type, config}} entries")
        modules = []
    for position, module in enumerate(modules):
        where = f"{path}:{lines.get(f'modules#{position}', '?')}"
        if not isinstance(module, Mapping):
            merged.problems.append(f"{where}: module #{position + 1}: a mapping with name/type")
            continue
        name, kind = module.get("name"), module.get("type")
        if not isinstance(name, str) or not name:
            merged.problems.append(f"{where}: module #{position + 1}: needs a `name`")
            continue
        if not isinstance(kind, str) or not kind:
            merged.problems.append(f'{where}: module "{name}": needs a `type`')
            continue
        shape = _module_shape_problem(module)
        if shape:
            merged.problems.append(f'{where}: module "{name}": {shape}')
            continue
        key = f"modules.{name}"
        if key in merged.lines:
            merged.problems.append(
                f'{where}: module "{name}": already declared at '
                f"{merged.sources[key]}:{merged.lines[key]} (module names are unique across "
                "imported files)"
            )
            continue
        if len(merged.modules) >= MAX_MODULES:
            merged.problems.append(f"{where}: more than {MAX_MODULES} modules")
            break
        merged.lines[key] = lines.get(f"modules#{position}", 0)
        merged.sources[key] = path
        merged.modules.append(dict(module))
    _merge_mapping(path, data, "pipelines", merged.pipelines, lines, merged)
    _merge_mapping(path, data, "triggers", merged.triggers, lines, merged)
    workflows = data.get("workflows")
    if isinstance(workflows, Mapping):
        merged.workflows = _deep_merge(merged.workflows, workflows)
    requires = data.get("requires")
    plugins = requires.get("plugins") if isinstance(requires, Mapping) else None
    for plugin in plugins or []:
        if isinstance(plugin, Mapping) and not any(
            p.get("name") == plugin.get("name") for p in merged.plugins
        ):
            merged.plugins.append(dict(plugin))


def _module_shape_problem(module: Mapping[str, Any]) -> str | None:
    """What is wrong with a module's config, dependsOn or environments, if anything."""
    if not isinstance(module.get("config") or {}, Mapping):
        return "config: a mapping of key to value"
    needs = module.get("dependsOn")
    if needs is not None and not isinstance(needs, str) and not (
            isinstance(needs, list) and all(isinstance(n, str) for n in needs)):
        return "dependsOn: a list of module names"
    environments = module.get("environments")
    if environments is None:
        return None
    if not isinstance(environments, Mapping):
        return "environments: a mapping of environment name to {config: ...} or null"
    for env, override in environments.items():
        if override is None:
            continue
        if not isinstance(override, Mapping) or not isinstance(override.get("config") or {},
                                                                 Mapping):
            return f"environments.{env}: {{config: {{...}}}} or null"
    return None


def _merge_mapping(
    path: Path,
    data: Mapping[str, Any],
    section: str,
    into: dict[str, Any],
    lines: dict[str, int],
    merged: _Merged,
) -> None:
    value = data.get(section)
    if value is None:
        return
    if not isinstance(value, Mapping):
        merged.problems.append(f"{path}: {section}: a mapping of name to definition")
        return
    for key, item in value.items():
        if key in into:  # the importing file (or the earlier import) wins, as the spec says
            continue
        into[str(key)] = item
        prefix = f"{section}.{key}"
        for found, line in lines.items():  # the entry's own line, and its steps' lines
            if found == prefix or found.startswith(prefix + ".steps."):
                merged.lines[found] = line
                merged.sources[found] = path
        merged.lines.setdefault(prefix, 0)
        merged.sources.setdefault(prefix, path)


def _deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in extra.items():
        if isinstance(result.get(key), Mapping) and isinstance(value, Mapping):
            result[key] = _deep_merge(result[key], value)
        elif key not in result:
            result[key] = value
    return result


def _check_modules(merged: _Merged, problems: list[str], skip_unknown: bool) -> None:
    if skip_unknown:
        return
    unknown = [
        m for m in merged.modules if not is_supported_module_type(str(m.get("type")))
    ]
    for module in unknown:
        key = f"modules.{module['name']}"
        problems.append(
            f'{merged.sources[key]}:{merged.lines[key]}: module "{module["name"]}": type '
            f'"{module["type"]}" is not supported by wfctl (it runs http.server, http.router, '
            "iac.provider, iac.state and infra.*; --skip-unknown-types makes this a warning)"
        )


def _http_address(merged: _Merged) -> str | None:
    servers = [m for m in merged.modules if m.get("type") == "http.server"]
    named = merged.triggers.get("http", {}).get("server") if isinstance(
        merged.triggers.get("http"), Mapping) else None
    chosen = next((m for m in servers if m.get("name") == named), servers[0] if servers else None)
    if chosen is None:
        return None
    config = chosen.get("config") or {}
    if not isinstance(config, Mapping):
        merged.problems.append(f'{_where(merged, chosen)}: config: a mapping')
        return None
    address, port = config.get("address"), config.get("port")
    if address not in (None, ""):
        return str(address)
    if port not in (None, ""):
        return f":{port}"
    merged.problems.append(f"{_where(merged, chosen)}: http.server needs `address` (\":8080\")")
    return None


def _where(merged: _Merged, module: Mapping[str, Any]) -> str:
    key = f"modules.{module.get('name')}"
    return f'{merged.sources.get(key)}:{merged.lines.get(key)}: module "{module.get("name")}"'


def _lines(text: str) -> dict[str, int]:
    """"modules#<index>", "pipelines.<name>", "triggers.<name>" -> 1-based line.

    Composing again is safe: load_yaml has bounded this very text, and composing builds the
    node graph without expanding aliases.
    """
    try:
        root: Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    found: dict[str, int] = {}
    if not isinstance(root, MappingNode):
        return found
    for key_node, value_node in root.value:
        if not isinstance(key_node, ScalarNode):
            continue
        if key_node.value == "modules" and isinstance(value_node, SequenceNode):
            for index, item in enumerate(value_node.value):
                found[f"modules#{index}"] = item.start_mark.line + 1
        elif key_node.value in ("pipelines", "triggers") and isinstance(value_node, MappingNode):
            for name_node, body in value_node.value:
                if isinstance(name_node, ScalarNode):
                    prefix = f"{key_node.value}.{name_node.value}"
                    found[prefix] = name_node.start_mark.line + 1
                    found.update(_step_lines(prefix, body))
    return found


def _step_lines(prefix: str, body: Node) -> dict[str, int]:
    """"<prefix>.steps.<step name>" (and `.compensation.`, filed under steps) -> line."""
    found: dict[str, int] = {}
    if not isinstance(body, MappingNode):
        return found
    for key_node, value_node in body.value:
        if not (isinstance(key_node, ScalarNode) and key_node.value in ("steps", "compensation")
                and isinstance(value_node, SequenceNode)):
            continue
        for step in value_node.value:
            if not isinstance(step, MappingNode):
                continue
            for field_node, field_value in step.value:
                if (isinstance(field_node, ScalarNode) and field_node.value == "name"
                        and isinstance(field_value, ScalarNode)):
                    found.setdefault(f"{prefix}.steps.{field_value.value}",
                                     step.start_mark.line + 1)
    return found
