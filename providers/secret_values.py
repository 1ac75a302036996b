"""Where an infra.secret's value comes from, the same on every cloud.

A stack document is a workflow input, so a value written in it would be in the history of
every run. The value therefore never travels: `value_env` names an environment variable of
the worker, read inside the create/update activity, or (without it) the driver generates one
of `generate_length` characters. The driver sends the value to the cloud and returns only
where it came from (`value_source`, kept on the secret as a tag or label), never the value.
"""

from __future__ import annotations

import os
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interfaces import DiffResult, ResourceOutput, ResourceSpec
from interfaces.errors import ProviderError
from interfaces.secrets import literal_value_problems
from providers.diffing import field_diff

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
DEFAULT_LENGTH = 32
MIN_LENGTH, MAX_LENGTH = 16, 4096
# Letters and digits only: safe in URLs, DSNs, shells and every cloud's secret rules.
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class ValueSource:
    """`env` (a worker variable) or `generated` (length characters)."""

    env: str = ""
    length: int = 0

    def label(self) -> str:
        """What the cloud keeps beside the secret so `read` can report the source."""
        return f"env:{self.env}" if self.env else f"generated:{self.length}"

    def fields(self) -> dict[str, Any]:
        """The source as the config keys `read` reports and `diff` compares."""
        return {"value_env": self.env, "generate_length": self.length}

    def value(self, describe: str) -> str:
        """The secret's value; never log, return or put it in an error."""
        if not self.env:
            return "".join(secrets.choice(_ALPHABET) for _ in range(self.length))
        found = os.environ.get(self.env)
        if not found:
            raise ProviderError(
                f"{describe}: value_env {self.env} is not set (or empty) on the worker; "
                "set it in the worker's environment",
                code="InvalidConfig",
            )
        return found


def value_source(config: Mapping[str, Any], describe: str) -> ValueSource:
    """The source `config` asks for; ProviderError (InvalidConfig) naming the bad key."""
    problems = literal_value_problems(config)
    if problems:
        raise ProviderError(f"{describe}: {problems[0]}", code="InvalidConfig")
    env = config.get("value_env")
    length = config.get("generate_length")
    if env:
        if not isinstance(env, str) or not ENV_NAME.match(env):
            raise ProviderError(
                f"{describe}: value_env {env!r} is not an environment variable name",
                code="InvalidConfig",
            )
        if length is not None:
            raise ProviderError(
                f"{describe}: value_env and generate_length exclude each other",
                code="InvalidConfig",
            )
        return ValueSource(env=env)
    if length is None:
        return ValueSource(length=DEFAULT_LENGTH)
    if isinstance(length, bool) or not isinstance(length, int) or not (
        MIN_LENGTH <= length <= MAX_LENGTH
    ):
        raise ProviderError(
            f"{describe}: generate_length must be a whole number {MIN_LENGTH}..{MAX_LENGTH}, "
            f"not {length!r}",
            code="InvalidConfig",
        )
    return ValueSource(length=length)


def compared_fields(config: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The source fields `diff` compares: none while the live secret's source is unknown (an
    imported one) and the config names none, so importing never plans a new value."""
    unknown = not current.get("value_env") and not current.get("generate_length")
    if unknown and "value_env" not in config and "generate_length" not in config:
        return {}
    return value_source(config, "").fields()


def source_from_label(label: str | None) -> ValueSource:
    """The source a secret's tag or label recorded; unknown (an imported secret): neither."""
    kind, _, detail = (label or "").partition(":")
    if kind == "env":
        return ValueSource(env=detail)
    if kind == "generated" and detail.isdigit():
        return ValueSource(length=int(detail))
    return ValueSource()


class SourcedValue:
    """What the infra.secret drivers of every cloud share about the value's source; a mixin
    listed before the cloud's driver base (DriverBase), whose fields and diffing it uses."""

    def diff(self, desired: ResourceSpec, current: ResourceOutput) -> DiffResult:
        fields = {
            k: v for k, v in self.desired_fields(desired).items()  # type: ignore[attr-defined]
            if k not in ("value_env", "generate_length")
        }  # fmt: skip
        fields.update(compared_fields(desired.config, current.outputs))
        return field_diff(fields, current.outputs, self.same, self.forces_new)  # type: ignore[attr-defined]

    def config_from_outputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        config: dict[str, Any] = super().config_from_outputs(outputs)  # type: ignore[misc]
        # Only the key of the source there is: the other one would contradict it.
        config.pop("generate_length" if config.get("value_env") else "value_env", None)
        if not config.get("generate_length"):
            config.pop("generate_length", None)
        return config

    def _source(self, spec: ResourceSpec) -> ValueSource:
        return value_source(spec.config, self.describe(spec.name))  # type: ignore[attr-defined]
