"""The step registry: step type names mapped to their implementations.

A step type is a config model (validated when the pipeline file loads, and again after its
templates are rendered) plus an async `execute`. `io` says where it runs: pure steps run as
Temporal local activities (cheap, still recorded in history), I/O steps as activities.
Third-party step types register through the entry point group `wfctl.steps`: each entry point
names a `StepType` or a callable that takes the registry (`StepRegistrar`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel

from interfaces import PipelineContext, StepResult

ENTRY_POINT_GROUP = "wfctl.steps"


@dataclass(frozen=True)
class StepCall:
    """Everything a step execution may look at besides its rendered config."""

    pipeline: str
    step_name: str
    context: PipelineContext
    # Renders templates against `context` with the pipeline's strictness (engine.templates).
    render: Callable[[Any], Any]
    attempt: int = 1


StepExecute = Callable[[Any, StepCall], Awaitable[StepResult]]


@dataclass(frozen=True)
class StepType:
    name: str
    config_model: type[BaseModel]
    execute: StepExecute
    io: bool = False
    # Config keys left unrendered before execute (expressions the step evaluates itself,
    # nested step lists rendered per iteration).
    raw_fields: frozenset[str] = field(default_factory=frozenset)
    description: str = ""


class UnknownStepType(KeyError):
    pass


class StepError(Exception):
    """A step failed. The activity layer turns it into a Temporal ApplicationError.

    `retryable` decides whether the step's retry policy applies; `retry_after` (seconds, for
    example from an HTTP Retry-After header) becomes the next retry delay.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        error_type: str = "StepError",
    ) -> None:
        super().__init__(message)
        self.retryable, self.retry_after, self.error_type = retryable, retry_after, error_type


class StepRegistry:
    def __init__(self) -> None:
        self._types: dict[str, StepType] = {}

    def register(self, type_name: str, factory: StepType) -> None:
        if factory.name != type_name:
            raise ValueError(f"step type registered as {type_name!r} calls itself {factory.name!r}")
        self._types[type_name] = factory

    def add(self, step_type: StepType) -> None:
        self.register(step_type.name, step_type)

    def get(self, type_name: str) -> StepType:
        try:
            return self._types[type_name]
        except KeyError:
            raise UnknownStepType(type_name) from None

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._types

    def __iter__(self) -> Iterator[StepType]:
        return iter(sorted(self._types.values(), key=lambda t: t.name))

    def names(self) -> list[str]:
        return sorted(self._types)

    def load_entry_points(self) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            loaded = ep.load()
            if isinstance(loaded, StepType):
                self.add(loaded)
            else:
                loaded(self)
