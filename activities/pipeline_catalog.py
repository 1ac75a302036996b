"""The pipeline definitions a worker serves, loaded from its config file or folder."""

from __future__ import annotations

from pathlib import Path

from engine.pipeline_config import PipelineDefinition, load_pipelines
from engine.step_registry import StepRegistry


class UnknownPipeline(KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name, self.known = name, known
        shown = ", ".join(known) or "none loaded"
        super().__init__(f'unknown pipeline "{name}" (known: {shown})')

    def __str__(self) -> str:
        return str(self.args[0])


class PipelineCatalog:
    """Definitions by name. `replace` swaps the whole set at once, so a run never sees a mix."""

    def __init__(self, definitions: dict[str, PipelineDefinition], source: str = "") -> None:
        self._definitions = dict(definitions)
        self.source = source

    @classmethod
    def load(cls, path: str | Path, registry: StepRegistry) -> PipelineCatalog:
        return cls(load_pipelines(path, registry), str(path))

    def replace(self, definitions: dict[str, PipelineDefinition]) -> None:
        self._definitions = dict(definitions)

    def get(self, name: str) -> PipelineDefinition:
        try:
            return self._definitions[name]
        except KeyError:
            raise UnknownPipeline(name, self.names()) from None

    def names(self) -> list[str]:
        return sorted(self._definitions)
