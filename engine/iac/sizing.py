"""Merging a provider's resolved sizing into a resource's config."""

from __future__ import annotations

from typing import TypeVar

from interfaces.iac import ProviderSizing, ResourceSpec

Spec = TypeVar("Spec", bound=ResourceSpec)


def apply_sizing(spec: Spec, sizing: ProviderSizing | None) -> Spec:
    """A copy of `spec` whose config carries `instance_type` and the sizing's specs.

    Values the user set explicitly in config win over the sizing's. Without a sizing the
    spec is returned as it is.
    """
    if sizing is None:
        return spec
    config = {**sizing.specs, "instance_type": sizing.instance_type, **spec.config}
    return spec.model_copy(update={"config": config})
