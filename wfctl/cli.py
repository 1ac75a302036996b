"""The `wfctl` command line: the embedded service, pipelines, config checks (and `infra`)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Column, Table
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from interfaces.errors import ConfigError
from wfctl.cli_support import (
    err_console,
    load_pipelines_or_exit,
    run_with_client,
    settings_of,
)
from wfctl.codec import EncryptionKeyError
from wfctl.connection import ConnectionSettings
from wfctl.infra_cli import infra_app
from wfctl.log_redaction import install_log_redaction

if TYPE_CHECKING:
    from workflows.pipeline_approval import PendingApproval

app = typer.Typer(help="Durable pipelines and infrastructure as code on Temporal.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
pipeline_app = typer.Typer(help="Run and inspect pipelines.", no_args_is_help=True)
schema_app = typer.Typer(help="JSON Schemas of wfctl's file formats.", no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(schema_app, name="schema")

console = Console(soft_wrap=True)
T = TypeVar("T")


OptStr = str | None


@app.callback()
def main(
    ctx: typer.Context,
    address: Annotated[OptStr, typer.Option(help="Temporal address [TEMPORAL_ADDRESS]")] = None,
    namespace: Annotated[OptStr, typer.Option(help="namespace [TEMPORAL_NAMESPACE]")] = None,
    api_key: Annotated[OptStr, typer.Option(help="API key [TEMPORAL_API_KEY]")] = None,
    tls_cert: Annotated[OptStr, typer.Option(help="mTLS client cert [TEMPORAL_TLS_CERT]")] = None,
    tls_key: Annotated[OptStr, typer.Option(help="mTLS client key [TEMPORAL_TLS_KEY]")] = None,
    tls_ca: Annotated[OptStr, typer.Option(help="server CA cert [TEMPORAL_TLS_CA]")] = None,
) -> None:
    install_log_redaction()  # `serve` logs request paths, and SDKs log the URLs they call
    ctx.obj = ConnectionSettings.from_env(
        address=address, namespace=namespace, api_key=api_key, tls_cert=tls_cert, tls_key=tls_key,
        tls_ca=tls_ca,
    )


def parse_data(data: str | None) -> dict[str, Any]:
    """`--data '{"a": 1}'` or `--data @file.json` (YAML files too)."""
    if not data:
        return {}
    text = data
    if data.startswith("@"):
        path = Path(data[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {path}: {exc}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        from engine.bounded_yaml import load_yaml

        try:
            value = load_yaml(text, data[1:] if data.startswith("@") else "--data")
        except ConfigError as exc:
            raise typer.BadParameter(f"--data is neither JSON nor YAML: {exc}") from None
    if not isinstance(value, dict):
        raise typer.BadParameter("--data must be a JSON object")
    return value


def print_json(value: Any) -> None:
    """Machine output goes to stdout untouched by rich (no wrapping, no colour)."""
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def failure_message(exc: BaseException) -> str:
    cause = exc.cause if isinstance(exc, WorkflowFailureError) and exc.cause else exc
    return cause.message if isinstance(cause, ApplicationError) else str(cause)


@pipeline_app.command("run")
def pipeline_run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="pipeline name")],
    data: Annotated[
        str | None,
        typer.Option("--data", "-d", help="the run's input: a JSON or YAML object, or @file"),
    ] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="start and print the id")] = False,
) -> None:
    """Start a pipeline run; wait for its output unless --no-wait."""
    from wfctl.client import PipelineExecutor

    payload = parse_data(data)

    async def body(client: Client, settings: ConnectionSettings) -> None:
        handle = await PipelineExecutor(client).start_pipeline(name, payload)
        err_console.print(f"workflow {handle.id}\n{settings.workflow_url(handle.id)}")
        if no_wait:
            console.print(handle.id)
            return
        try:
            result = await handle.result()
        except WorkflowFailureError as exc:
            err_console.print(f"[red]pipeline {name} failed:[/] {failure_message(exc)}")
            raise typer.Exit(1) from None
        print_json(result)

    run_with_client(ctx, body)


STATUSES = ["Running", "Completed", "Failed", "Canceled", "Terminated", "TimedOut",
            "ContinuedAsNew"]


@pipeline_app.command("list")
def pipeline_list(
    ctx: typer.Context,
    pipeline: Annotated[str | None, typer.Option(help="only runs of this pipeline")] = None,
    status: Annotated[str | None, typer.Option(help="Running, Completed, Failed, ...")] = None,
    limit: Annotated[int, typer.Option(help="at most this many runs")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
) -> None:
    """Recent pipeline runs, from Temporal visibility."""
    clauses = ["WorkflowType = 'PipelineWorkflow'"]
    if pipeline:
        clauses.append(f"PipelineName = '{_quote(pipeline)}'")
    if status:
        match = next((s for s in STATUSES if s.lower() == status.lower()), None)
        if match is None:
            raise typer.BadParameter(f"unknown status {status!r} ({', '.join(STATUSES)})")
        clauses.append(f"ExecutionStatus = '{match}'")
    query = " AND ".join(clauses)

    async def body(client: Client, settings: ConnectionSettings) -> list[dict[str, Any]]:
        rows = []
        async for wf in client.list_workflows(query, limit=limit):
            names = wf.typed_search_attributes
            from workflows.search_attributes import PIPELINE_NAME

            rows.append({
                "workflow_id": wf.id,
                "pipeline": names.get(PIPELINE_NAME) or "",
                "status": wf.status.name.title().replace("_", "") if wf.status else "",
                "started": wf.start_time.isoformat() if wf.start_time else "",
                "closed": wf.close_time.isoformat() if wf.close_time else "",
            })
        return rows

    rows = run_with_client(ctx, body)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    console.print(runs_table(rows))


def runs_table(rows: list[dict[str, Any]]) -> Table:
    """One run a line within 80 columns: the id names the pipeline, so it has no column of
    its own, and how long a run took says more than when it closed. Nothing is cut: the id
    is what a reader copies into `pipeline show`."""
    table = Table(Column("workflow id", no_wrap=True), Column("status", no_wrap=True),
                  Column("started (UTC)", no_wrap=True), Column("took", no_wrap=True),
                  box=None, header_style="bold")
    for row in rows:
        table.add_row(row["workflow_id"], row["status"],
                      row["started"][:19].replace("T", " "), _took(row["started"], row["closed"]))
    return table


def _took(started: str, closed: str) -> str:
    if not (started and closed):
        return ""
    seconds = (datetime.fromisoformat(closed) - datetime.fromisoformat(started)).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


@pipeline_app.command("show")
def pipeline_show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="workflow id (pipeline:NAME:RUN)")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """The step timeline of a run, read from its Temporal history: one row per step run
    (by its path: `checks.lint`, `regions[2].deploy`), per parallel branch and foreach item."""
    from wfctl.history import TemporalEventRecorder

    async def body(client: Client, settings: ConnectionSettings) -> tuple[Any, list[Any]]:
        handle = client.get_workflow_handle(run_id)
        try:
            description = await handle.describe()
        except Exception as exc:  # the service's NotFound carries the clearest message
            err_console.print(f"[red]no run {run_id}:[/] {exc}")
            raise typer.Exit(1) from None
        return description, await TemporalEventRecorder(client).rows(run_id)

    description, timeline = run_with_client(ctx, body)
    status = description.status.name.title() if description.status else "Unknown"
    if as_json:
        print_json({
            "workflow_id": run_id,
            "status": status,
            "steps": [e.model_dump(mode="json") for e in timeline],
        })
        return
    console.print(f"{run_id}  [bold]{status}[/]  {settings_of(ctx).workflow_url(run_id)}")
    table = Table("type", "status", "attempts", "duration")
    # A path is what `--step` and the web UI name a step by: shown whole, never cut short.
    table.columns.insert(0, Column("step", no_wrap=True))
    for event in timeline:
        attempts = "" if event.kind == "group" else str(event.attempts)
        table.add_row(event.path, event.type, event.status, attempts,
                      _duration(event.duration_seconds))
    console.print(table)
    # Errors and child workflow ids below, whole: a table column would cut or fold them.
    for event in timeline:
        if event.error:
            console.print(f"{event.path}: {event.error}", markup=False, highlight=False)
        elif event.workflow_id:
            console.print(f"{event.path} -> {event.workflow_id}", markup=False, highlight=False)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _default_approver() -> str:
    import getpass

    return getpass.getuser()


def _decide(ctx: typer.Context, verdict: str, run_id: str, approver: str | None, comment: str,
            step: str) -> None:
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError

    from wfctl.client import PipelineExecutor

    async def body(client: Client, settings: ConnectionSettings) -> Any:
        executor = PipelineExecutor(client)
        decide = executor.approve if verdict == "approve" else executor.reject
        try:
            return await decide(run_id, approver or _default_approver(), comment, step=step)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            why = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
            err_console.print(f"[red]{verdict} refused:[/] {why}", highlight=False)
            raise typer.Exit(1) from None
        except RPCError as exc:  # no such run, or it has finished
            err_console.print(f"[red]{verdict} refused:[/] {exc.message}")
            raise typer.Exit(1) from None

    outcome = run_with_client(ctx, body)
    console.print(f"{outcome.step}: {outcome.decision} by {outcome.approver}", highlight=False)


ApproverOpt = Annotated[str | None, typer.Option(help="who decides (default: your user name)")]
StepOpt = Annotated[str, typer.Option(help="the waiting step, when several wait")]


@pipeline_app.command("approve")
def pipeline_approve(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="workflow id (pipeline:NAME:RUN)")],
    approver: ApproverOpt = None,
    comment: Annotated[str, typer.Option(help="why")] = "",
    step: StepOpt = "",
) -> None:
    """Approve a run waiting in step.wait_for_approval."""
    _decide(ctx, "approve", run_id, approver, comment, step)


@pipeline_app.command("reject")
def pipeline_reject(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="workflow id (pipeline:NAME:RUN)")],
    comment: Annotated[str, typer.Option(help="why (required)")],
    approver: ApproverOpt = None,
    step: StepOpt = "",
) -> None:
    """Reject a run waiting in step.wait_for_approval: the step fails with your comment."""
    _decide(ctx, "reject", run_id, approver, comment, step)


@pipeline_app.command("pending")
def pipeline_pending(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="workflow id (pipeline:NAME:RUN)")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
    wait: Annotated[bool, typer.Option(
        "--wait", help="until a step waits for approval (or the run ends)")] = False,
) -> None:
    """What a run waits for: each step waiting for approval, since when and until when, then
    each one's details (what is being approved)."""
    import asyncio

    from temporalio.client import WorkflowExecutionStatus

    from wfctl.client import PipelineExecutor

    async def body(client: Client, settings: ConnectionSettings) -> list[Any]:
        # Right after `run --no-wait` the run may still be planning: --wait asks again.
        while True:
            waiting = await PipelineExecutor(client).pending_approvals(run_id)
            if waiting or not wait:
                return waiting
            described = await client.get_workflow_handle(run_id).describe()
            if described.status != WorkflowExecutionStatus.RUNNING:
                return waiting
            await asyncio.sleep(0.2)

    waiting = run_with_client(ctx, body)
    if as_json:
        print_json([w.model_dump(mode="json") for w in waiting])
        return
    console.print(pending_table(waiting))
    for w in waiting:
        # The message and details are free text, so they go under the table (which then fits
        # 80 columns), verbatim: a plan summary's "[...]" and "~" are not rich markup.
        console.print(f"\n{w.step}: {w.message}", markup=False, highlight=False)
        if w.details:
            console.print(w.details, markup=False, highlight=False)


def pending_table(waiting: list[PendingApproval]) -> Table:
    """One waiting step a line, within 80 columns, as `runs_table`: nothing cut."""
    table = Table(Column("step", no_wrap=True), Column("approvers"),
                  Column("since (UTC)", no_wrap=True), Column("deadline (UTC)", no_wrap=True),
                  box=None, header_style="bold")
    for w in waiting:
        table.add_row(w.step, ", ".join(w.approvers) or "anyone", _utc(w.since),
                      _utc(w.deadline) if w.deadline else "")
    return table


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


schedules_app = typer.Typer(help="Temporal Schedules made from pipelines' schedule triggers.",
                            no_args_is_help=True)
app.add_typer(schedules_app, name="schedules")
QueueOpt = Annotated[str | None, typer.Option(help="the pipelines task queue")]


@schedules_app.command("sync")
def schedules_sync(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option(help="pipeline file or folder")] = Path("examples"),
    task_queue: QueueOpt = None,
) -> None:
    """Create, update and delete schedules to match the config's triggers."""
    from wfctl.schedules import sync_schedules
    from workflows import task_queues

    pipelines = load_pipelines_or_exit(config)

    async def body(client: Client, settings: ConnectionSettings) -> list[Any]:
        return await sync_schedules(client, pipelines, task_queue or task_queues.PIPELINES)

    for change in run_with_client(ctx, body):
        console.print(f"{change.action:9} {change.schedule_id}", highlight=False)


@schedules_app.command("list")
def schedules_list(
    ctx: typer.Context,
    task_queue: QueueOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
) -> None:
    """The schedules wfctl made, with their next and last run."""
    from wfctl.schedules import list_schedules

    async def body(client: Client, settings: ConnectionSettings) -> list[Any]:
        return await list_schedules(client, task_queue)

    rows = run_with_client(ctx, body)
    if as_json:
        for row in rows:
            sys.stdout.write(row.model_dump_json() + "\n")
        return
    table = Table("schedule", "pipeline", "spec", "paused", "next run", "last run")
    for row in rows:
        table.add_row(row.schedule_id, row.pipeline, row.spec, "yes" if row.paused else "",
                      row.next_run.isoformat()[:19] if row.next_run else "",
                      row.last_run.isoformat()[:19] if row.last_run else "")
    console.print(table)


@app.command("validate")
def validate(
    path: Annotated[Path, typer.Argument(help="pipeline file or folder, or application file")],
    env: Annotated[OptStr, typer.Option(
        help="environment whose `environments:` overrides apply (application files)")] = None,
    skip_unknown_types: Annotated[bool, typer.Option(
        "--skip-unknown-types",
        help="unsupported module and step types are warnings, not errors")] = False,
) -> None:
    """Check a pipeline file (or folder) or an application file without running anything."""
    from wfctl.appfile_cli import is_application_path, validate_application

    if is_application_path(path):
        validate_application(path, env, skip_unknown_types)
        return
    pipelines = load_pipelines_or_exit(path)
    console.print(f"{path}: {len(pipelines)} pipelines OK: {', '.join(sorted(pipelines))}")


@app.command("convert")
def convert(
    path: Annotated[Path, typer.Argument(help="application file (the spec engine's dialect)")],
    out: Annotated[Path, typer.Option(help="folder to write the native files into")],
    env: Annotated[OptStr, typer.Option(help="environment whose overrides apply")] = None,
    skip_unknown_types: Annotated[bool, typer.Option(
        "--skip-unknown-types", help="leave unsupported module types out with a comment")] = False,
) -> None:
    """Write an application file's stacks (and pipelines) as native wfctl files."""
    from wfctl.appfile_cli import convert_application, is_application_path

    if not is_application_path(path):
        err_console.print(f"[red]error:[/] {path} is not an application file (no top-level "
                          "modules, workflows, requires, triggers or imports)", highlight=False)
        raise typer.Exit(2)
    convert_application(path, out, env, skip_unknown_types)


@schema_app.command("pipeline")
def schema_pipeline() -> None:
    """Print the JSON Schema of the pipelines format."""
    from activities.step_catalog import default_registry
    from engine.pipeline_config import pipeline_json_schema

    sys.stdout.write(json.dumps(pipeline_json_schema(default_registry()), indent=2) + "\n")


@app.command("serve")
def serve(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(
        help="pipeline file, folder or application file (instead of --config)")] = None,
    config: Annotated[Path, typer.Option(help="pipeline file or folder")] = Path("examples"),
    host: Annotated[str | None, typer.Option(
        help="interface to bind (default 127.0.0.1, or an application file's address)")] = None,
    port: Annotated[int | None, typer.Option(
        help="port to listen on (default 8080, or an application file's address)")] = None,
    task_queue: QueueOpt = None,
    cors_origin: Annotated[list[str] | None, typer.Option(
        help="browser origin allowed to call every route (repeatable; default: none)")] = None,
    max_body: Annotated[str, typer.Option(
        help="largest request body, e.g. 1MiB or 65536 (larger: 413)")] = "1MiB",
) -> None:
    """Serve the pipelines that declare an http trigger as HTTP routes (OpenAPI at /docs).

    An application file (the spec engine's dialect) is served on its http.server module's
    address; --host/--port override it."""
    from interfaces.errors import ConfigError
    from wfctl.client import PipelineExecutor
    from wfctl.request_guard import ServeOptions, guard_for, parse_size
    from wfctl.serve import application_address, http_pipelines, serve_http
    from workflows import task_queues

    config = file or config
    try:
        file_host, file_port = application_address(config)
    except (ConfigError, ValueError) as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    host = host or file_host or "127.0.0.1"
    port = port or file_port or 8080

    try:
        size = parse_size(max_body)
    except ValueError as exc:
        err_console.print(f"[red]error:[/] --max-body: {exc}", highlight=False)
        raise typer.Exit(2) from None
    try:
        options = ServeOptions(cors_origins=tuple(cors_origin or ()), max_body=size)
    except ValueError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    # An application file's pipelines come converted (engine.pipeline_config's loader).
    pipelines = load_pipelines_or_exit(config)
    routes = http_pipelines(pipelines)
    if not routes:
        err_console.print(f"[red]no pipeline in {config} has an http trigger[/]")
        raise typer.Exit(1)
    problems: list[str] = []
    for name, trigger in routes.items():
        try:
            guard_for(name, trigger, options)  # a secret missing from the environment
        except ConfigError as exc:
            problems += exc.problems
    for problem in problems:
        err_console.print(f"[red]error:[/] {problem}", highlight=False)
    if problems:
        raise typer.Exit(1)
    for name, trigger in routes.items():
        err_console.print(f"{trigger.method:6} {trigger.path}  -> {name}", highlight=False)

    async def body(client: Client, settings: ConnectionSettings) -> None:
        executor = PipelineExecutor(client, task_queue or task_queues.PIPELINES)
        await serve_http(pipelines, executor, host, port, options)

    run_with_client(ctx, body)


@app.command("dev")
def dev(
    config: Annotated[Path, typer.Option(help="pipeline file or folder")] = Path("examples"),
    port: Annotated[int, typer.Option(help="Temporal frontend port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="web UI port")] = 8233,
    data_dir: Annotated[Path, typer.Option(help="where history and state live")] = Path(".data"),
    sandbox_port: Annotated[int, typer.Option(help="AWS sandbox (moto) port; 0 = off")] = 5000,
    metrics_port: Annotated[int, typer.Option(
        help="the worker's Prometheus metrics port; 0 = off", envvar="WFCTL_METRICS_PORT")] = 0,
) -> None:
    """Run everything locally: Temporal dev server + web UI, AWS sandbox, the worker."""
    from wfctl.dev import run_dev

    raise typer.Exit(run_dev(config=config, port=port, ui_port=ui_port, data_dir=data_dir,
                             sandbox_port=sandbox_port, metrics_port=metrics_port))


@app.command("codec-server")
def codec_server(
    port: Annotated[int, typer.Option(help="port to listen on")] = 8081,
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    origin: Annotated[list[str] | None, typer.Option(
        help="web UI origin allowed by CORS (repeatable)")] = None,
    token: Annotated[OptStr, typer.Option(
        help="bearer token callers must present [WFCTL_CODEC_TOKEN]")] = None,
) -> None:
    """Serve /encode and /decode with the encryption keys, for the web UI and `temporal`."""
    import os

    from wfctl.codec_server import CODEC_TOKEN_ENV, serve_codec

    secret = token or os.environ.get(CODEC_TOKEN_ENV, "")
    if not secret:
        err_console.print(f"[red]codec-server needs a token:[/] --token or {CODEC_TOKEN_ENV}")
        raise typer.Exit(2)
    try:
        serve_codec(host, port, origin or ["http://localhost:8233"], secret)
    except EncryptionKeyError as exc:
        err_console.print(f"[red]codec-server:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None


app.add_typer(infra_app, name="infra", help="Plan, apply and inspect infrastructure stacks.")


def run() -> None:
    """Console-script entry; it ends without the interpreter's teardown (see wfctl.script)."""
    from wfctl.script import exit_now

    try:
        app()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    exit_now(code)
