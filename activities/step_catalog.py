"""The step types a worker offers: the built-in pure, control, I/O and database steps plus
installed plugins."""

from __future__ import annotations

from engine.step_registry import StepRegistry


def default_registry() -> StepRegistry:
    from activities.steps import IO_STEP_TYPES
    from activities.steps.db import DB_EXEC, DB_QUERY
    from engine.steps import PURE_STEP_TYPES
    from engine.steps.control import CONTROL_STEP_TYPES
    from engine.steps.iac import IAC_STEP_TYPES

    registry = StepRegistry()
    for step_type in (
        *PURE_STEP_TYPES, *CONTROL_STEP_TYPES, *IAC_STEP_TYPES, *IO_STEP_TYPES, DB_QUERY, DB_EXEC
    ):
        registry.add(step_type)
    registry.load_entry_points()
    return registry
