"""`wfctl infra ...`: plan, apply, destroy, drift, import, status, outputs, unlock, state.

Every command reads the stack file given with -f, starts (or reads) the stack's workflow and
prints its workflow id and web UI link. Exit codes: 0 success, 1 failure, 2 drift found.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from engine.durations import parse_duration
from engine.iac.plan_render import format_value, mask_sensitive, render_plan
from interfaces.errors import WfctlError
from interfaces.iac import Plan
from wfctl.cli_support import connect_or_exit, settings_of
from wfctl.connection import ConnectionSettings
from wfctl.stack_client import (
    StackClient,
    load_document,
    masked_plan,
    open_store,
    state_location,
)
from workflows import task_queues
from workflows.iac.models import ApplyOutcome, DestroyOutcome, DriftReport, PlanOutcome

infra_app = typer.Typer(help="Plan, apply and inspect infrastructure stacks.", no_args_is_help=True)
state_app = typer.Typer(help="Read the recorded state of a stack.", no_args_is_help=True)
infra_app.add_typer(state_app, name="state")

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

StackFile = Annotated[Path, typer.Option("-f", "--file", help="stack file (YAML or JSON)")]
TaskQueue = Annotated[
    str, typer.Option(envvar="WFCTL_IAC_TASK_QUEUE", help="task queue of the IaC worker")
]
Targets = Annotated[list[str] | None, typer.Option("--target", help="only these resources")]
Allow = Annotated[
    list[str] | None,
    typer.Option("--allow-replace", help="protected resources that may be replaced or deleted"),
]
WaitForLock = Annotated[
    bool, typer.Option("--wait-for-lock", help="queue behind a run holding the stack")
]
LockTimeout = Annotated[
    str, typer.Option(help="with --wait-for-lock: give up after this long (10s, 5m, 1h)")
]
DEFAULT_FILE = Path("stack.yaml")
Env = Annotated[str | None, typer.Option(
    "--env", help="application files: the environment whose overrides apply")]


def _lock_wait(wait: bool, timeout: str) -> float | None:
    if not wait:
        return None
    try:
        return parse_duration(timeout).total_seconds()
    except ValueError as error:
        raise typer.BadParameter(f"--lock-timeout: {error}") from None


def _run(ctx: typer.Context, body: Callable[[Client, ConnectionSettings], Awaitable[T]]) -> T:
    settings = settings_of(ctx)

    async def go() -> T:
        return await body(await connect_or_exit(settings), settings)

    try:
        return asyncio.run(go())
    except WorkflowFailureError as failure:
        err.print(f"[red]Error:[/red] {_failure_text(failure)}", highlight=False)
        raise typer.Exit(1) from None
    except WfctlError as error:
        err.print(f"[red]Error:[/red] {error}", highlight=False)
        raise typer.Exit(1) from None


def _failure_text(failure: WorkflowFailureError) -> str:
    cause = failure.cause
    while cause is not None and not isinstance(cause, ApplicationError) and cause.cause:
        cause = cause.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or failure)


@contextmanager
def _reported() -> Iterator[None]:
    """A bad stack file or state store said in one line and exit 1, not a traceback."""
    try:
        yield
    except WfctlError as error:
        err.print(f"[red]Error:[/red] {error}", highlight=False)
        raise typer.Exit(1) from None


def _document(path: Path, env: str | None = None) -> dict[str, Any]:
    from wfctl.appfile_cli import is_application_path, stack_document

    with _reported():
        if is_application_path(path):  # the spec engine's dialect: its one stack
            return stack_document(path, env)
        return load_document(path)


def _announce(handle: WorkflowHandle[Any, Any], settings: ConnectionSettings) -> None:
    err.print(f"Workflow: {handle.id}", highlight=False)
    url = settings.workflow_url(handle.id, handle.result_run_id)
    err.print(f"Web UI:   {url}", highlight=False)


def _print_plan(plan: Plan | None, as_json: bool) -> None:
    if plan is None:
        err.print("the plan is not available (its state store is not reachable from here)")
        return
    plan = masked_plan(plan)
    if as_json:
        console.print_json(plan.model_dump_json())
    else:
        console.print(render_plan(plan), highlight=False, markup=False)


@infra_app.command("plan")
def plan_command(
    ctx: typer.Context,
    file: StackFile = DEFAULT_FILE,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="write the plan here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the plan as JSON")] = False,
    destroy: Annotated[bool, typer.Option(help="plan the destruction of the stack")] = False,
    target: Targets = None,
    allow_replace: Allow = None,
    task_queue: TaskQueue = task_queues.IAC,
    env: Env = None,
) -> None:
    """Show what apply would change (and save the plan with -o)."""
    document = _document(file, env)

    async def body(client: Client, settings: ConnectionSettings) -> None:
        stacks = StackClient(client, task_queue)
        handle = await stacks.start(
            "plan", document, destroy=destroy, targets=target, allow_replace=allow_replace
        )
        _announce(handle, settings)
        outcome: PlanOutcome = await handle.result()
        plan = outcome.plan or stacks.saved_plan(document, outcome.plan_id)
        _print_plan(plan, as_json)
        if out is not None and plan is not None:
            out.write_text(masked_plan(plan).model_dump_json(indent=2))
            err.print(f"Saved the plan to {out}: apply it with `wfctl infra apply --plan {out}`")

    _run(ctx, body)


async def _wait_for_plan(
    stacks: StackClient, handle: WorkflowHandle[Any, Any]
) -> PlanOutcome | None:
    outages = _Outages(handle)
    while True:
        try:
            plan = await stacks.current_plan(handle)
            if plan is not None:
                return plan
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                return None
        except RPCError as error:
            await outages.wait_out(error)
            continue
        await asyncio.sleep(0.2)


async def _approve(
    stacks: StackClient, handle: WorkflowHandle[Any, Any], document: dict[str, Any]
) -> None:
    plan = await _wait_for_plan(stacks, handle)
    if plan is None or not any(plan.counts.values()):
        return
    _print_plan(plan.plan or stacks.saved_plan(document, plan.plan_id), False)
    answer = await asyncio.to_thread(
        typer.prompt,
        "\nDo you want to perform these actions? Only 'yes' will be accepted to approve",
        default="",
        show_default=False,
    )
    if answer.strip() == "yes":
        await stacks.approve(handle, plan.plan_id)
    else:
        await stacks.reject(handle, "declined at the prompt")


# RPC failures of a server that is down or restarting; anything else is a real answer.
_OUTAGE_CODES = (
    RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED
)
# How long one outage is waited out before giving up (the run itself goes on regardless).
RECONNECT_FOR = 600.0
# Failures closer together than this are the same outage (the SDK retries ~10 s per call).
_SAME_OUTAGE = 60.0


class _Outages:
    """Waits out a Temporal server that is down or restarting while a run is followed: the
    run lives in the server's history, so following it can simply start again."""

    def __init__(self, handle: WorkflowHandle[Any, Any]) -> None:
        self.handle = handle
        self.started = self.last_failure = 0.0

    async def wait_out(self, error: RPCError) -> None:
        """Return when it is time to try again; re-raise what is not an outage."""
        if error.status not in _OUTAGE_CODES:
            raise error
        now = time.monotonic()
        if now - self.last_failure > _SAME_OUTAGE:
            self.started = now
            err.print(
                f"Lost the connection to Temporal ({error.message}); reconnecting. "
                "The run goes on meanwhile.",
                highlight=False,
            )
        elif now - self.started > RECONNECT_FOR:
            err.print(
                f"[red]Error:[/red] Temporal unreachable for {RECONNECT_FOR:.0f}s; the run goes "
                f"on: follow it with `wfctl infra status` or in the web UI ({self.handle.id})",
                highlight=False,
            )
            raise typer.Exit(1) from None
        self.last_failure = now
        await asyncio.sleep(1.0)


async def _result_through_outages(handle: WorkflowHandle[Any, Any]) -> Any:
    outages = _Outages(handle)
    while True:
        try:
            return await handle.result()
        except RPCError as error:
            await outages.wait_out(error)


class _CtrlC:
    """Ctrl-C while an apply is followed: the first says what the second does; the second
    cancels the run cleanly (the `cancel` Update) and following goes on to the end; a third
    stops following (the run still ends on its own)."""

    def __init__(self, stacks: StackClient, stack: str, result: asyncio.Future[Any]) -> None:
        self.stacks, self.stack, self.result = stacks, stack, result
        self.presses = 0
        self.cancelling: asyncio.Task[None] | None = None

    def __call__(self) -> None:
        self.presses += 1
        if self.presses == 1:
            err.print(
                "Ctrl-C again cancels the run: nothing more starts, running actions stop and "
                f"are read back from the cloud (or: wfctl infra cancel {self.stack}). The run "
                "goes on otherwise.",
                highlight=False,
            )
        elif self.presses == 2:
            err.print(f"Cancelling the run of {self.stack} ...", highlight=False)
            self.cancelling = asyncio.ensure_future(self._cancel())
        else:
            self.result.cancel()

    async def _cancel(self) -> None:
        try:
            await self.stacks.cancel(self.stack)
        except Exception as error:  # noqa: BLE001 - said, and following goes on
            cause = getattr(error, "cause", None)
            err.print(f"[red]Error:[/red] {getattr(cause, 'message', None) or error}")


async def _follow(stacks: StackClient, handle: WorkflowHandle[Any, Any]) -> Any:
    """Wait for the result, showing progress from the workflow's `progress` query."""
    result_task = asyncio.ensure_future(_result_through_outages(handle))
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(
            signal.SIGINT, _CtrlC(stacks, handle.id.removeprefix("stack:"), result_task)
        )
        handled = True
    except (ValueError, RuntimeError, NotImplementedError):
        handled = False  # not the main thread (or no signals here): Ctrl-C stays as it is
    try:
        return await _follow_progress(stacks, handle, result_task)
    except asyncio.CancelledError:
        stack = handle.id.removeprefix("stack:")
        err.print(f"Stopped following; the run goes on: wfctl infra progress {stack}")
        raise typer.Exit(130) from None
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGINT)


async def _follow_progress(
    stacks: StackClient, handle: WorkflowHandle[Any, Any], result_task: asyncio.Future[Any]
) -> Any:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    stack = handle.id.removeprefix("stack:")
    told = ""  # the decision wait already shown
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("applying", total=None)
        while not result_task.done():
            try:
                progress = await stacks.progress(handle)
                waiting = progress.awaiting_decision_since
                if waiting and waiting != told:
                    told = waiting
                    for error in progress.errors:
                        bar.console.print(
                            f"[red]Error:[/red] {error.action} {error.resource}: {error.error}",
                            highlight=False,
                        )
                    bar.console.print(
                        infra_operate.decision_hint(stack, progress), highlight=False, markup=False
                    )
                running = ", ".join(progress.running[:3])
                bar.update(
                    task,
                    total=progress.total or None,
                    completed=progress.done,
                    description=f"{progress.phase} {running}".strip(),
                )
            except Exception:  # noqa: BLE001 - the query may race the run's end; keep waiting
                pass
            await asyncio.wait({result_task}, timeout=0.5)
    return result_task.result()


def _summary(outcome: ApplyOutcome | DestroyOutcome) -> int:
    for error in outcome.errors:
        err.print(
            f"[red]Error:[/red] {error.action} {error.resource}: {error.error}", highlight=False
        )
    if outcome.skipped:
        err.print(f"Skipped (a dependency failed): {', '.join(outcome.skipped)}", highlight=False)
    if outcome.status == "no_changes":
        console.print("No changes. Infrastructure matches the configuration.")
        return 0
    if outcome.status == "cancelled":
        word = "Apply" if isinstance(outcome, ApplyOutcome) else "Destroy"
        done = outcome.done if isinstance(outcome, ApplyOutcome) else outcome.destroyed
        console.print(f"{word} cancelled ({outcome.reason}).", highlight=False)
        for label, names in (
            ("Done", done),
            ("Cancelled mid-call (read back from the cloud)", outcome.cancelled),
            ("Not started", outcome.not_started),
        ):
            console.print(f"  {label}: {', '.join(names) or 'none'}", highlight=False)
        return 1
    if outcome.status in ("rejected", "approval_timeout"):
        console.print(f"Apply cancelled ({outcome.status.replace('_', ' ')}). {outcome.reason}")
        return 1
    if isinstance(outcome, ApplyOutcome):
        if outcome.rolled_back:
            console.print(f"Rolled back: {', '.join(outcome.rolled_back)}")
        counts = outcome.counts
        line = (
            f"{counts.get('create', 0)} added, {counts.get('update', 0)} changed, "
            f"{counts.get('replace', 0)} replaced, {counts.get('delete', 0)} destroyed."
        )
        word = "Apply"
    else:
        line = f"{len(outcome.destroyed)} destroyed."
        word = "Destroy"
    if outcome.status == "applied":
        console.print(f"{word} complete! Resources: {line}")
        return 0
    console.print(f"{word} failed. Resources: {line}")
    return 1


def _apply_like(
    ctx: typer.Context,
    kind: str,
    document: dict[str, Any],
    options: dict[str, Any],
    queue: str,
    wait_for_lock: float | None = None,
) -> None:
    async def body(client: Client, settings: ConnectionSettings) -> int:
        stacks = StackClient(client, queue)
        handle = await stacks.start(
            kind,
            document,
            wait_for_lock=wait_for_lock,
            on_wait=lambda busy: err.print(f"Waiting for the lock: {busy}", highlight=False),
            **options,
        )
        _announce(handle, settings)
        if not options.get("auto_approve"):
            await _approve(stacks, handle, document)
        return _summary(await _follow(stacks, handle))

    code = _run(ctx, body)
    raise typer.Exit(code)


@infra_app.command("apply")
def apply_command(
    ctx: typer.Context,
    file: StackFile = DEFAULT_FILE,
    plan: Annotated[Path | None, typer.Option("--plan", help="apply this saved plan")] = None,
    auto_approve: Annotated[bool, typer.Option(help="skip the approval prompt")] = False,
    parallelism: Annotated[int, typer.Option(help="actions at once (also per provider)")] = 10,
    rollback: Annotated[bool, typer.Option(help="on failure, delete what this run made")] = False,
    target: Targets = None,
    allow_replace: Allow = None,
    wait_for_lock: WaitForLock = False,
    lock_timeout: LockTimeout = "1h",
    on_failure: Annotated[
        str | None,
        typer.Option(
            help="stop, or wait: a failed action's dependents wait for `wfctl infra "
            "retry|skip|abort` (default: the stack's on_failure, else stop)"
        ),
    ] = None,
    failure_timeout: Annotated[
        str, typer.Option(help="with --on-failure wait: end as failed after this long")
    ] = "24h",
    task_queue: TaskQueue = task_queues.IAC,
    env: Env = None,
) -> None:
    """Make the infrastructure match the stack."""
    if on_failure not in (None, "stop", "wait"):
        raise typer.BadParameter(f"--on-failure: {on_failure!r} is not stop or wait")
    document = _document(file, env)
    try:
        decision_wait = parse_duration(failure_timeout).total_seconds()
    except ValueError as error:
        raise typer.BadParameter(f"--failure-timeout: {error}") from None
    options: dict[str, Any] = {
        "on_failure": on_failure,
        "failure_timeout": decision_wait,
        "auto_approve": auto_approve,
        "parallelism": parallelism,
        "rollback": rollback,
        "targets": target,
        "allow_replace": allow_replace,
    }
    if plan is not None:
        options["plan_id"] = json.loads(plan.read_text())["id"]
        options["auto_approve"] = True  # the saved plan is what was reviewed
    _apply_like(
        ctx, "apply", document, options, task_queue, _lock_wait(wait_for_lock, lock_timeout)
    )


@infra_app.command("destroy")
def destroy_command(
    ctx: typer.Context,
    file: StackFile = DEFAULT_FILE,
    auto_approve: Annotated[bool, typer.Option(help="skip the approval prompt")] = False,
    parallelism: Annotated[int, typer.Option(help="actions at once")] = 10,
    target: Targets = None,
    allow_replace: Allow = None,
    wait_for_lock: WaitForLock = False,
    lock_timeout: LockTimeout = "1h",
    task_queue: TaskQueue = task_queues.IAC,
    env: Env = None,
) -> None:
    """Delete every resource of the stack, dependents first."""
    options = {
        "auto_approve": auto_approve,
        "parallelism": parallelism,
        "targets": target,
        "allow_replace": allow_replace,
    }
    wait = _lock_wait(wait_for_lock, lock_timeout)
    _apply_like(ctx, "destroy", _document(file, env), options, task_queue, wait)


@infra_app.command("drift")
def drift_command(
    ctx: typer.Context,
    file: StackFile = DEFAULT_FILE,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    every: Annotated[
        bool, typer.Option("--all", help="list every drifted resource (read from the state)")
    ] = False,
    task_queue: TaskQueue = task_queues.IAC,
) -> None:
    """Compare the cloud with the recorded state; exit 2 when something drifted."""
    document = _document(file)

    async def body(client: Client, settings: ConnectionSettings) -> int:
        handle = await StackClient(client, task_queue).start("drift", document)
        _announce(handle, settings)
        report = await handle.result()
        if every and report.left_out.get("results"):
            with _reported():
                report.results = StackClient.drift_results(document, report)
            report.left_out.pop("results")
        if as_json:
            console.print_json(report.model_dump_json())
        elif not report.drifted:
            console.print(f"No drift: {report.checked} resources match their recorded state.")
        ghosts = set(report.ghosts)
        for result in [] if as_json else report.results:
            # A ghost's result says "(deleted)": the ghost list may be cut where results are not.
            if result.name in ghosts or result.fields == ["(deleted)"]:
                console.print(f'- {result.type} "{result.name}" is gone from the cloud')
                continue
            console.print(f'~ {result.type} "{result.name}" drifted:', highlight=False)
            for field in result.expected:
                # The same JSON spelling and masking as the plan shows.
                expected = format_value(field, result.expected[field])
                actual = format_value(field, result.actual.get(field))
                console.print(f"    {field}: {expected} -> {actual}", highlight=False,
                              markup=False)
        if not as_json and report.left_out:
            console.print(_drift_left_out(report), highlight=False, markup=False)
        return 2 if report.drifted else 0

    raise typer.Exit(_run(ctx, body))


def _drift_left_out(report: DriftReport) -> str:
    """What a capped report does not list, counted, and where the rest is to be seen."""
    return (
        f"... and {report.left_out.get('results', 0):,} more drifted resources not listed "
        f"({report.drifted_count:,} drifted, {report.ghost_count:,} of them gone, of "
        f"{report.checked:,} checked); `wfctl infra drift --all` lists every one."
    )


@infra_app.command("import")
def import_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="resource name in the stack")],
    cloud_id: Annotated[str, typer.Argument(help="the cloud's id of the resource")],
    file: StackFile = DEFAULT_FILE,
    type: Annotated[str | None, typer.Option(help="resource type (default: declared)")] = None,
    provider: Annotated[str | None, typer.Option(help="provider key (default: declared)")] = None,
    task_queue: TaskQueue = task_queues.IAC,
) -> None:
    """Adopt an existing cloud resource into the stack's state."""
    document = _document(file)
    declared = next((r for r in document.get("resources", []) if r.get("name") == name), {})
    resource_type, provider_key = type or declared.get("type"), provider or declared.get("provider")
    if not resource_type or not provider_key:
        err.print(f'Error: "{name}" is not declared in {file}: give --type and --provider')
        raise typer.Exit(1)

    async def body(client: Client, settings: ConnectionSettings) -> None:
        stacks = StackClient(client, task_queue)
        resource = {"name": name, "type": resource_type, "provider": provider_key, "id": cloud_id}
        handle = await stacks.start("import", document, resource=resource)
        _announce(handle, settings)
        state = await handle.result()
        console.print(f'Imported {state.type} "{state.name}" ({state.provider_id}).')

    _run(ctx, body)


@infra_app.command("status")
def status_command(
    ctx: typer.Context,
    file: StackFile = DEFAULT_FILE,
    task_queue: TaskQueue = task_queues.IAC,
) -> None:
    """Live status of every recorded resource."""
    document = _document(file)

    async def body(client: Client, settings: ConnectionSettings) -> None:
        handle = await StackClient(client, task_queue).start("status", document)
        _announce(handle, settings)
        report = await handle.result()
        table = Table("name", "type", "status", "cloud id", "message")
        for entry in report.resources:
            table.add_row(
                entry.name, entry.type, entry.status.value, entry.provider_id, entry.message
            )
        console.print(table)
        unlisted = report.left_out.get("resources", 0)
        if unlisted:
            counts = ", ".join(f"{n:,} {status}" for status, n in sorted(report.counts.items()))
            console.print(
                f"... and {unlisted:,} more (those not ready are listed first). "
                f"{report.total:,} resources: {counts}. `wfctl infra state list` lists every "
                "recorded one.",
                highlight=False,
                markup=False,
            )

    _run(ctx, body)


@infra_app.command("outputs")
def outputs_command(
    file: StackFile = DEFAULT_FILE,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recorded outputs of every resource (sensitive values masked)."""
    with _reported():
        outputs = StackClient.outputs(_document(file))
    if as_json:
        console.print_json(json.dumps(outputs, default=str))
        return
    for name, values in outputs.items():
        console.print(f"{name}:", highlight=False)
        for key, value in values.items():
            console.print(f"  {key} = {value}", highlight=False, markup=False)


@infra_app.command("unlock")
def unlock_command(
    file: StackFile = DEFAULT_FILE,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Remove a stuck state lock (runs that died release theirs on the next run anyway)."""
    document = _document(file)
    with _reported():
        store = open_store(document)
    try:
        holder = store.lock_info()  # type: ignore[attr-defined]
        if holder is None:
            console.print(f"The state of stack {document['stack']!r} is not locked.")
            return
        console.print(
            f"Locked by {holder['owner']} since {holder['acquired_at']} "
            f"(expires {holder['expires_at']}).",
            highlight=False,
        )
        if not yes and not typer.confirm("Remove this lock?", default=False):
            raise typer.Exit(1)
        store.force_unlock()  # type: ignore[attr-defined]
        console.print("Lock removed.")
    finally:
        store.close()


@state_app.command("list")
def state_list(file: StackFile = DEFAULT_FILE) -> None:
    """Every recorded resource; "(pending)" marks one a failed create left (the next apply
    adopts it, destroy deletes it)."""
    table = Table("name", "type", "provider", "cloud id", "updated")
    document = _document(file)
    with _reported():
        states = StackClient.state(document)
    if not states:
        # Say where it looked: a state written elsewhere (another WFCTL_STATE_DIR) is found.
        err.print(
            f"No resources recorded for stack {document['stack']!r} in {state_location(document)}",
            highlight=False,
            markup=False,
        )
        return
    for state in states:
        name = f"{state.name} (pending)" if state.pending else state.name
        cloud_id = state.provider_id or ("(not known yet)" if state.pending else "")
        table.add_row(name, state.type, state.provider, cloud_id, state.updated_at.isoformat())
    console.print(table)


@state_app.command("show")
def state_show(
    name: Annotated[str, typer.Argument(help="resource name")],
    file: StackFile = DEFAULT_FILE,
) -> None:
    """One recorded resource as JSON (sensitive values masked)."""
    with _reported():
        found = {s.name: s for s in StackClient.state(_document(file))}.get(name)
    if found is None:
        err.print(f'Error: "{name}" is not in the state')
        raise typer.Exit(1)
    shown = found.model_copy(
        update={
            "outputs": mask_sensitive(found.outputs, found.sensitive),
            "applied_config": mask_sensitive(found.applied_config, found.sensitive),
        }
    )
    console.print_json(shown.model_dump_json())


# The operator's commands on a running apply (pause, resume, parallelism, progress) are in
# their own module; imported here so that they are part of `wfctl infra` wherever it is used.
from wfctl import infra_operate  # noqa: E402,F401
