"""The check that keeps drivers' OUTPUTS declarations honest: every key a live resource
reports is declared, or planning would refuse a reference to it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from interfaces import ResourceOutput


def assert_outputs_declared(
    resources: Iterable[ResourceOutput], drivers: Mapping[str, type[Any]]
) -> None:
    for resource in resources:
        declared = drivers[resource.type].OUTPUTS
        assert declared is not None, f"{resource.type} declares no OUTPUTS"
        undeclared = set(resource.outputs) - declared
        assert not undeclared, f"{resource.type} reports undeclared outputs {sorted(undeclared)}"
