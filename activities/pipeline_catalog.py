"""The pipeline definitions a worker serves, loaded from its config file or folder, and the
watcher that reloads them (the spec's Reconfigurable)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from engine.pipeline_config import PipelineDefinition, load_pipelines
from engine.step_registry import StepRegistry
from interfaces.errors import ConfigError

log = logging.getLogger("wfctl.config")

_YAML_SUFFIXES = (".yaml", ".yml")


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
    def load(
        cls, path: str | Path, registry: StepRegistry, *, env: str | None = None
    ) -> PipelineCatalog:
        return cls(load_pipelines(path, registry, env=env), str(path))

    def replace(self, definitions: dict[str, PipelineDefinition]) -> None:
        self._definitions = dict(definitions)

    def get(self, name: str) -> PipelineDefinition:
        try:
            return self._definitions[name]
        except KeyError:
            raise UnknownPipeline(name, self.names()) from None

    def names(self) -> list[str]:
        return sorted(self._definitions)

    def definitions(self) -> dict[str, PipelineDefinition]:
        return dict(self._definitions)


def config_fingerprint(path: str | Path) -> str:
    """A digest of the config's YAML contents (contents, not mtimes: two saves within one
    clock tick still differ)."""
    root = Path(path)
    files = [root] if root.is_file() else sorted(
        p for p in root.rglob("*") if p.suffix in _YAML_SUFFIXES and p.is_file()
    )
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file).encode())
        try:
            # In pieces: a huge file dropped into the folder must not be read into memory.
            with file.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        except OSError:
            digest.update(b"<unreadable>")
    return digest.hexdigest()


OnReload = Callable[[dict[str, PipelineDefinition]], Awaitable[None]]


class CatalogReloader:
    """Watches the config: a valid change replaces the catalog for new runs (running ones keep
    the definition recorded in their history); an invalid one is logged once and ignored."""

    def __init__(
        self,
        catalog: PipelineCatalog,
        registry: StepRegistry,
        path: str | Path,
        on_reload: OnReload | None = None,
        env: str | None = None,
    ) -> None:
        self.catalog, self.registry, self.path = catalog, registry, Path(path)
        self.on_reload, self.env = on_reload, env
        self._fingerprint = config_fingerprint(self.path)

    async def check(self) -> bool:
        """Reload if the files changed; True when new definitions took effect. Reading and
        parsing run in a thread: the event loop serves every run of this worker meanwhile."""
        fingerprint = await asyncio.to_thread(config_fingerprint, self.path)
        if fingerprint == self._fingerprint:
            return False
        # Remembered even when invalid: the problem is logged once, not at every poll.
        self._fingerprint = fingerprint
        try:
            definitions = await asyncio.to_thread(
                load_pipelines, self.path, self.registry, env=self.env
            )
        except ConfigError as exc:
            log.error(
                "config reload rejected, still serving the previous pipelines: %s",
                " | ".join(exc.problems),
            )
            return False
        self.catalog.replace(definitions)
        log.info("config reloaded from %s: %s", self.path, ", ".join(sorted(definitions)))
        if self.on_reload is not None:
            await self.on_reload(definitions)
        return True

    async def watch(self, stop: asyncio.Event, interval: float) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                await self.check()
