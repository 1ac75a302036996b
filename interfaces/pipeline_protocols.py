"""Pipeline-side contracts of the spec, as structural Protocols."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from interfaces.pipeline import PipelineContext, StepResult


@runtime_checkable
class PipelineStep(Protocol):
    """One configured step: a name and an execution over the context."""

    @property
    def name(self) -> str: ...

    async def execute(self, context: PipelineContext) -> StepResult: ...


StepFactory = Callable[[str, Mapping[str, Any]], PipelineStep]


@runtime_checkable
class StepRegistrar(Protocol):
    """Something step types can be registered with."""

    def register(self, type_name: str, factory: Any) -> None: ...


@runtime_checkable
class StepRegistryProvider(Protocol):
    """A plugin that adds step types to a registrar."""

    def register_steps(self, registrar: StepRegistrar) -> None: ...


@runtime_checkable
class PipelineRunner(Protocol):
    """Runs one named pipeline to completion and returns its output."""

    async def run(self, pipeline: str, data: dict[str, Any]) -> dict[str, Any]: ...


@runtime_checkable
class PipelineExecutor(Protocol):
    """The client-side entry point: execute a pipeline by name."""

    async def execute_pipeline(self, name: str, data: dict[str, Any]) -> dict[str, Any]: ...


@runtime_checkable
class EventRecorder(Protocol):
    """Reads back what happened in a run (in wfctl: from the Temporal history)."""

    async def step_events(self, run_id: str) -> list[dict[str, Any]]: ...


@runtime_checkable
class EventEmitter(Protocol):
    """Emits lifecycle events of pipelines and steps."""

    async def emit(self, event_type: str, payload: dict[str, Any]) -> None: ...


@runtime_checkable
class MetricsRecorder(Protocol):
    """Records step durations and outcomes."""

    def record_step(
        self, pipeline: str, step: str, status: str, started: datetime, ended: datetime
    ) -> None: ...


@runtime_checkable
class Reconfigurable(Protocol):
    """A component that can take a new configuration without a restart."""

    def reconfigure(self, config: dict[str, Any]) -> None: ...


@runtime_checkable
class Trigger(Protocol):
    """Starts pipelines from an outside event (a schedule, a webhook, ...)."""

    @property
    def name(self) -> str: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


__all__ = [
    "EventEmitter",
    "EventRecorder",
    "MetricsRecorder",
    "PipelineContext",
    "PipelineExecutor",
    "PipelineRunner",
    "PipelineStep",
    "Reconfigurable",
    "StepFactory",
    "StepRegistrar",
    "StepRegistryProvider",
    "StepResult",
    "Trigger",
]
