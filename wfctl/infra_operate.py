"""`wfctl infra pause|resume|parallelism|retry|skip|abort|cancel|progress <stack>`: steer and
watch a running apply.

They name the stack, not a file: they talk to the run holding `stack:<name>` through its
Updates and its `progress` query, as the Temporal CLI can (`temporal workflow update execute
--workflow-id stack:<name> --name pause --input '{"by": "ada"}'`).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.text import Text
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from interfaces.errors import WfctlError
from wfctl.connection import ConnectionSettings
from wfctl.infra_cli import TaskQueue, _run, console, infra_app
from wfctl.stack_client import StackClient
from workflows import task_queues
from workflows.iac.models import Progress

StackName = Annotated[str, typer.Argument(help="stack name (its run is `stack:<name>`)")]
By = Annotated[
    str | None,
    typer.Option("--by", help="who is doing this, recorded in the run (default: this client)"),
]
WATCH_INTERVAL = 1.0


class NotRunningError(WfctlError):
    """No run holds the stack, or it has ended."""


async def _operated(stack: str, call: Any) -> Any:
    """An Update or query of the stack's run; its refusal said in one line."""
    try:
        return await call
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        message = getattr(cause, "message", None) or str(cause or error)
        raise WfctlError(f"stack:{stack}: {message}") from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise NotRunningError(f"no run of stack {stack!r} is running (stack:{stack})") from None
        raise


def _send(ctx: typer.Context, stack: str, queue: str, update: Any) -> None:
    async def body(client: Client, settings: ConnectionSettings) -> None:
        answer = await _operated(stack, update(StackClient(client, queue)))
        console.print(f"stack:{stack}: {answer}", highlight=False)

    _run(ctx, body)


@infra_app.command("pause")
def pause_command(
    ctx: typer.Context,
    stack: StackName,
    by: By = None,
    reason: Annotated[str, typer.Option(help="why, shown in progress")] = "",
    task_queue: TaskQueue = task_queues.IAC,
) -> None:
    """Start no new action; running ones finish. The run keeps its lock."""
    _send(ctx, stack, task_queue, lambda stacks: stacks.pause(stack, by, reason))


@infra_app.command("resume")
def resume_command(
    ctx: typer.Context, stack: StackName, by: By = None, task_queue: TaskQueue = task_queues.IAC
) -> None:
    """Let a paused run start actions again."""
    _send(ctx, stack, task_queue, lambda stacks: stacks.resume(stack, by))


def _provider_caps(values: list[str]) -> dict[str, int]:
    caps = {}
    for value in values:
        key, _, number = value.partition("=")
        if not key or not number.isdigit() or int(number) < 1:
            raise typer.BadParameter(f"{value!r}: expected <provider key>=<N>, N >= 1")
        caps[key] = int(number)
    return caps


@infra_app.command("parallelism")
def parallelism_command(
    ctx: typer.Context,
    stack: StackName,
    parallelism: Annotated[int | None, typer.Argument(min=1, help="actions at once")] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option("--provider", help="per provider cap, <key>=<N> (repeatable)"),
    ] = None,
    by: By = None,
    task_queue: TaskQueue = task_queues.IAC,
) -> None:
    """Change the caps for what starts next; running actions are never cancelled."""
    caps = _provider_caps(provider or [])
    if parallelism is None and not caps:
        raise typer.BadParameter("give N, --provider <key>=<N>, or both")
    _send(
        ctx, stack, task_queue, lambda stacks: stacks.set_parallelism(stack, parallelism, caps, by)
    )


@infra_app.command("retry")
def retry_command(
    ctx: typer.Context,
    stack: StackName,
    resources: Annotated[
        list[str] | None, typer.Argument(help="failed resources to run again (default: all)")
    ] = None,
    by: By = None,
    task_queue: TaskQueue = task_queues.IAC,
) -> None:
    """Run failed actions again (an apply started with --on-failure wait), without a re-plan."""
    _send(ctx, stack, task_queue, lambda stacks: stacks.retry(stack, resources, by))


@infra_app.command("skip")
def skip_command(
    ctx: typer.Context,
    stack: StackName,
    resource: Annotated[str, typer.Argument(help="the failed resource")],
    by: By = None,
    task_queue: TaskQueue = task_queues.IAC,
) -> None:
    """Give up on a failed action: it and its dependents are skipped, the rest goes on."""
    _send(ctx, stack, task_queue, lambda stacks: stacks.skip(stack, resource, by))


@infra_app.command("abort")
def abort_command(
    ctx: typer.Context,
    stack: StackName,
    rollback: Annotated[bool, typer.Option(help="delete what this run created")] = False,
    by: By = None,
    task_queue: TaskQueue = task_queues.IAC,
) -> None:
    """End the run now: running actions finish and are recorded, nothing else starts."""
    _send(ctx, stack, task_queue, lambda stacks: stacks.abort(stack, rollback, by))


@infra_app.command("cancel")
def cancel_command(
    ctx: typer.Context, stack: StackName, by: By = None, task_queue: TaskQueue = task_queues.IAC
) -> None:
    """Stop the run cleanly: nothing more starts, running actions are cancelled and what they
    left is read back into the state; the lock is released."""
    _send(ctx, stack, task_queue, lambda stacks: stacks.cancel(stack, by))


def decision_hint(stack: str, progress: Progress) -> str:
    """What to run when an apply waits for an operator after a failure."""
    failed = " ".join(progress.failed) or "<resource>"
    return (
        f"The run waits for a decision (since {progress.awaiting_decision_since}):\n"
        f"  wfctl infra retry {stack} [{failed}]   after fixing the cause\n"
        f"  wfctl infra skip {stack} <resource>   skip it and its dependents\n"
        f"  wfctl infra abort {stack} [--rollback]"
    )


def _age(since: str, now: datetime) -> str:
    seconds = max((now - datetime.fromisoformat(since)).total_seconds(), 0.0)
    if seconds < 120:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def render_progress(stack: str, progress: Progress, now: datetime | None = None) -> str:
    """What `wfctl infra progress` prints."""
    now = now or datetime.now(UTC)
    head = f"stack:{stack}  {progress.phase or 'starting'}"
    if progress.total:
        head += (
            f"  {progress.done}/{progress.total} done, {len(progress.running)} running, "
            f"{progress.failed_count()} failed, {progress.skipped} skipped, "
            f"{progress.waiting} waiting"
        )
    if progress.parallelism:
        caps = "".join(f", {k}={v}" for k, v in sorted(progress.provider_parallelism.items()))
        head += f"  (parallelism {progress.parallelism}{caps})"
    lines = [head]
    if progress.paused is not None:
        held = progress.paused
        since = datetime.fromisoformat(held.since)
        lines.append(
            f"Paused by {held.by} since {since:%Y-%m-%d %H:%M:%S} UTC "
            f"({_age(held.since, now)} ago)" + (f": {held.reason}" if held.reason else "")
        )
    if progress.cancelled or progress.not_started:
        lines.append(
            f"Stopped: cancelled mid-call (read back from the cloud): "
            f"{', '.join(progress.cancelled) or 'none'}; not started: {progress.not_started}"
        )
    if progress.running_actions:
        lines.append("Running:")
        lines += [
            f"  {action.action} {action.name}  {_age(action.since, now)}"
            for action in progress.running_actions
        ]
    if progress.errors:
        lines.append("Failed:")
        lines += [f"  {e.action} {e.resource}: {e.error}" for e in progress.errors]
    if progress.awaiting_decision_since:
        lines.append(decision_hint(stack, progress))
    return "\n".join(lines)


@infra_app.command("progress")
def progress_command(
    ctx: typer.Context,
    stack: StackName,
    watch: Annotated[bool, typer.Option("--watch", help="follow it until the run ends")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    task_queue: TaskQueue = task_queues.IAC,
) -> None:
    """Phase, counts, running actions and failures of the stack's running apply or destroy."""

    async def read(stacks: StackClient) -> tuple[Progress, bool]:
        handle = stacks.handle_of(stack)
        progress = await _operated(stack, stacks.progress(handle))
        running = (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        return progress, running

    async def body(client: Client, settings: ConnectionSettings) -> None:
        stacks = StackClient(client, task_queue)
        progress, running = await read(stacks)
        if as_json:
            console.print_json(progress.model_dump_json())
            return
        if not watch or not running:
            console.print(render_progress(stack, progress), highlight=False, markup=False)
            return
        with Live(Text(render_progress(stack, progress)), console=console) as live:
            while running:
                await asyncio.sleep(WATCH_INTERVAL)
                progress, running = await read(stacks)
                live.update(Text(render_progress(stack, progress)))

    _run(ctx, body)
