"""What every wfctl command group shares: connection settings, connecting (or exiting with
one clear line), and loading pipeline files (or exiting with each problem)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from temporalio.client import Client

from engine.pipeline_config import PipelineDefinition
from interfaces.errors import ConfigError
from wfctl.codec import EncryptionKeyError, EncryptionKeysMissing
from wfctl.connection import ConnectionSettings, TemporalUnreachable, connect
from wfctl.tracing import TracingConfigError

err_console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")
ClientBody = Callable[[Client, ConnectionSettings], Awaitable[T]]


def settings_of(ctx: typer.Context) -> ConnectionSettings:
    """The global options given to `wfctl`, else the environment's."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, ConnectionSettings) else ConnectionSettings.from_env()


async def connect_or_exit(settings: ConnectionSettings) -> Client:
    try:
        return await connect(settings)
    except TemporalUnreachable as exc:
        err_console.print(str(exc), style="red", highlight=False)
        raise typer.Exit(1) from None
    except EncryptionKeyError as exc:
        err_console.print(f"[red]encryption keys:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except TracingConfigError as exc:
        err_console.print(f"[red]cannot trace:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None


def run_with_client(ctx: typer.Context, body: ClientBody[T]) -> T:
    settings = settings_of(ctx)

    async def go() -> T:
        return await body(await connect_or_exit(settings), settings)

    try:
        return asyncio.run(go())
    except EncryptionKeysMissing as exc:  # (`wfctl infra` says it as a WfctlError)
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None


def load_pipelines_or_exit(path: Path) -> dict[str, PipelineDefinition]:
    from activities.step_catalog import default_registry
    from engine.pipeline_config import load_pipelines

    try:
        return load_pipelines(path, default_registry())
    except ConfigError as exc:
        for problem in exc.problems:
            err_console.print(f"[red]error:[/] {problem}", highlight=False)
        raise typer.Exit(1) from None
