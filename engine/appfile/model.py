"""What an application file holds once read, and what its infrastructure becomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Any of these at the top level makes a file an application file, not a pipeline file.
APPLICATION_KEYS = ("modules", "workflows", "requires", "triggers", "imports")
# Top-level sections only the spec's format has (wfctl reads none of them; validate says so).
SPEC_ONLY_SECTIONS = ("platform", "infrastructure", "sidecars", "ci", "environments",
                      "secretStores", "secrets", "services", "mesh", "networking", "security",
                      "config")
# Module types wfctl runs; every `infra.<type>` is a resource (its provider says if it has it).
HTTP_TYPES = ("http.server", "http.router")
IAC_TYPES = ("iac.provider", "iac.state")


def is_application_file(data: Mapping[str, Any]) -> bool:
    """True for the spec's dialect: a top-level modules/workflows/requires/triggers/imports,
    a section only the spec has (platform, ci, secrets, ...) in a file that is neither a
    pipeline nor a stack file, or a pipeline whose trigger has the spec's `{type, config}`
    shape (a native trigger cannot have `config`), as the spec docs' snippets have."""
    if not isinstance(data, Mapping):
        return False
    if any(key in data for key in APPLICATION_KEYS):
        return True
    if "pipelines" not in data and "stack" not in data and any(
            key in data for key in SPEC_ONLY_SECTIONS):
        return True
    pipelines = data.get("pipelines")
    return isinstance(pipelines, Mapping) and any(
        isinstance(p, Mapping) and isinstance(p.get("trigger"), Mapping)
        and "config" in p["trigger"]
        for p in pipelines.values()
    )


def is_supported_module_type(module_type: str) -> bool:
    return (
        module_type in HTTP_TYPES
        or module_type in IAC_TYPES
        or (module_type.startswith("infra.") and len(module_type) > len("infra."))
    )


@dataclass(frozen=True)
class ApplicationFile:
    path: Path
    name: str
    version: str
    description: str
    requires: dict[str, Any]
    # Raw module entries, imports merged (name, type, config, dependsOn, environments, ...).
    modules: list[dict[str, Any]]
    # Raw spec-shaped pipelines (trigger/steps/on_error/...): converted elsewhere.
    pipelines: dict[str, dict[str, Any]]
    triggers: dict[str, Any]
    workflows: dict[str, Any]
    # The http.server module's listen address (`address`, or `port` as ":PORT").
    http_address: str | None
    # "modules.<name>" / "pipelines.<name>" / "pipelines.<name>.steps.<step>" (compensation
    # steps too) / "triggers.<name>" -> line in the file that declared it.
    lines: dict[str, int]
    # Same keys -> the file that declared it (the main file or an import).
    sources: dict[str, Path] = field(default_factory=dict)
    # Top-level `environments:` (per-environment provider/region), as written.
    environments: dict[str, Any] = field(default_factory=dict)
    # Top-level sections wfctl does not read (platform, secrets, ci, ...), by name.
    other_sections: tuple[str, ...] = ()

    def where(self, key: str) -> str:
        """`file:line` of "modules.<name>" / "pipelines.<name>", for error messages."""
        source = self.sources.get(key, self.path)
        line = self.lines.get(key)
        return f"{source}:{line}" if line else str(source)

    def module(self, name: str) -> dict[str, Any] | None:
        return next((m for m in self.modules if m.get("name") == name), None)

    def modules_of(self, *types: str) -> list[dict[str, Any]]:
        return [m for m in self.modules if m.get("type") in types]

    @property
    def infra_modules(self) -> list[dict[str, Any]]:
        return [m for m in self.modules if str(m.get("type", "")).startswith("infra.")]

    @property
    def unsupported_modules(self) -> list[tuple[str, str]]:
        """(module name, type) of every module type wfctl does not run."""
        return [
            (str(m.get("name")), str(m.get("type")))
            for m in self.modules
            if not is_supported_module_type(str(m.get("type", "")))
        ]

    @property
    def unsupported_workflows(self) -> list[str]:
        """The `workflows:` sub-sections (http, messaging, statemachine, events): none run."""
        return [f"workflows.{key}" for key in self.workflows]


@dataclass(frozen=True)
class AppStacks:
    # Stack name -> a native stack document (what a stack file holds; parse_stack reads it).
    stacks: dict[str, dict[str, Any]]
    # infra.* module name -> the stack it is a resource of.
    resource_stack: dict[str, str]
    # What the mapping decided for the user ("orders-db placed in network vpc ...").
    notes: list[str]
    # (module name, type) of modules that are no resource, provider or state.
    unsupported: list[tuple[str, str]]
    # Module name (or "stack <name>") -> keys of the spec's config that have no native
    # counterpart and were left out, with why: `wfctl convert` writes them as comments.
    dropped: dict[str, list[str]] = field(default_factory=dict)
    # iac.state module name -> the stack it holds.
    state_stack: dict[str, str] = field(default_factory=dict)
