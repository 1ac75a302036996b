"""A plan as text, the way Terraform prints one (the CLI adds the colors)."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from engine.iac.plan import CONFIG_PREFIX, plan_counts
from interfaces.iac import FieldChange, Plan, PlanAction

MASK = "(sensitive)"
# A key holding any of these is masked wherever it appears (`db_password`, `secret_arn`, ...).
SENSITIVE_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "private_key",
    "api_key",
    "apikey",
    "access_key",
    "credential",
)
_SYMBOLS = {"create": "+", "update": "~", "replace": "±", "delete": "-"}
_INDENT = "    "


def render_plan(plan: Plan, sensitive_keys: Collection[str] = ()) -> str:
    """Every action with its changed fields, then the `Plan: ...` summary line.

    `sensitive_keys` are extra key names or dotted paths (`config.auth.pin`) to mask besides
    the ones that look sensitive and the ones the recorded state marks sensitive.
    """
    if not plan.actions:
        return "No changes. Infrastructure matches the configuration."
    lines = []
    for action in plan.actions:
        extra = set(sensitive_keys)
        if action.current is not None:
            extra.update(action.current.sensitive)
        lines.append(_header(action, plan.notes.get(action.resource.name, "")))
        lines.extend(_INDENT + line for line in _fields(action, extra))
    counts = plan_counts(plan)
    lines.append("")
    lines.append(
        f"Plan: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['replace']} to replace, {counts['delete']} to destroy."
    )
    return "\n".join(lines)


def mask_sensitive(mapping: Mapping[str, Any], sensitive_keys: Collection[str] = ()) -> dict:
    """A copy with the value of every sensitive-looking or listed key replaced by a mask."""
    return _mask(mapping, set(sensitive_keys), "")


def is_sensitive(path: str, sensitive_keys: Collection[str] = ()) -> bool:
    """Whether a dotted path (or any key along it) looks sensitive or is listed."""
    bare = path.removeprefix(CONFIG_PREFIX)
    if path in sensitive_keys or bare in sensitive_keys:
        return True
    return any(
        part in sensitive_keys or _looks_sensitive(part) for part in bare.split(".") if part
    )


def _header(action: PlanAction, note: str) -> str:
    resource = action.resource
    line = f'{_SYMBOLS[action.action]} {action.action} {resource.type} "{resource.name}"'
    if action.action == "replace":
        forcing = [c.path.removeprefix(CONFIG_PREFIX) for c in action.changes if c.force_new]
        if forcing:
            line += f" (forces replacement: {', '.join(forcing)})"
    if note:
        line += f" ({note})"
    return line


def _fields(action: PlanAction, sensitive: set[str]) -> list[str]:
    if action.action == "create":
        return [
            f"+ {change.path}: {format_value(change.path, change.new, sensitive)}"
            for change in _leaves(action.resource.config, CONFIG_PREFIX.rstrip("."))
        ]
    if action.action == "delete":
        return []
    return [_change_line(change, sensitive) for change in action.changes]


def _change_line(change: FieldChange, sensitive: set[str]) -> str:
    old = format_value(change.path, change.old, sensitive)
    new = format_value(change.path, change.new, sensitive)
    suffix = " (forces replacement)" if change.force_new else ""
    return f"~ {change.path}: {old} -> {new}{suffix}"


def _leaves(value: Any, path: str) -> list[FieldChange]:
    if isinstance(value, Mapping) and value:
        found = []
        for key in sorted(value, key=str):
            found.extend(_leaves(value[key], f"{path}.{key}"))
        return found
    return [FieldChange(path=path, new=value)]


def format_value(path: str, value: Any, sensitive: Collection[str] = ()) -> str:
    """A value as plans and drift reports show it: JSON, sensitive parts masked."""
    if value is not None and is_sensitive(path, sensitive):
        return MASK
    if isinstance(value, Mapping | list):
        value = _mask(value, set(sensitive), path.removeprefix(CONFIG_PREFIX))
    return json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)


def _mask(value: Any, sensitive: set[str], path: str) -> Any:
    if isinstance(value, Mapping):
        masked = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            hidden = is_sensitive(child, sensitive) and item is not None
            masked[key] = MASK if hidden else _mask(item, sensitive, child)
        return masked
    if isinstance(value, list):
        return [_mask(item, sensitive, path) for item in value]
    return value


def _looks_sensitive(key: str) -> bool:
    normalized = key.lower().replace("-", "_")
    return any(part in normalized for part in SENSITIVE_PARTS)
