"""The rule every infra.secret obeys whatever the cloud: its value is never in the stack.

A stack document is a workflow input, recorded in the history of every run that carries it;
validation refuses a value written there before any run starts, and each driver refuses it
again (a document may reach a driver without wfctl's validation, from the Temporal CLI).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Config keys that would put the value itself in the stack document.
LITERAL_KEYS = frozenset({"value", "secret_value", "secret_string", "data", "payload"})


def literal_value_problems(config: Mapping[str, Any]) -> list[str]:
    """Why `config` would put a secret's value into the stack document, if it does."""
    return [
        f"config.{key}: a secret's value never goes in the stack (it would be recorded in "
        "the workflow history); name an environment variable of the worker with "
        "`value_env`, or leave it out to have one generated (`generate_length`)"
        for key in sorted(LITERAL_KEYS & set(config))
    ]
