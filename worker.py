"""The wfctl worker: connects to Temporal, loads the pipeline config, serves both task queues.

    python worker.py --config examples/            # the embedded dev server on localhost:7233
    python worker.py --config pipelines/ --address my-ns.tmprl.cloud:7233 \
        --namespace my-ns.abcde --api-key "$TEMPORAL_API_KEY"

Exits non-zero with one clear line when Temporal is unreachable or the config is invalid;
SIGTERM and Ctrl-C finish in-flight tasks and stop.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker, WorkerDeploymentConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.iac import iac_activities
from activities.iac_steps import IacStepActivities
from activities.pipeline_catalog import CatalogReloader, PipelineCatalog
from activities.pipeline_steps import PipelineActivities
from activities.step_catalog import default_registry
from activities.steps.egress import ENV as HTTP_ALLOW_ENV
from activities.steps.egress import EgressPolicy, configure_egress
from engine.pipeline_config import PipelineDefinition
from engine.step_registry import StepRegistry
from interfaces.errors import ConfigError
from providers.registry import load_provider_modules
from wfctl.codec import EncryptionKeyError
from wfctl.connection import ConnectionSettings, TemporalUnreachable, connect
from wfctl.input_guard import guarded_worker
from wfctl.log_redaction import install_log_redaction
from wfctl.telemetry import install_prometheus
from wfctl.tracing import (
    TracingConfigError,
    flush_tracing,
    install_tracing,
    tracing_configured,
    tracing_target,
)
from wfctl.versioning import DEFAULT_DEPLOYMENT, default_build_id, versioned_config
from wfctl.worker_logging import FailureLogInterceptor, install_worker_logging
from workflows import task_queues
from workflows.iac import IAC_WORKFLOWS
from workflows.pipeline import PipelineWorkflow

log = logging.getLogger("wfctl.worker")


# Modules the sandbox loads once instead of once per run. Jinja: workflows evaluate `if` and
# `skip_if` templates, and Jinja imports parts of itself lazily and keeps a lock in a
# module-level cache. workflows.pipeline: re-executing its ~600 lines in a fresh sandbox for
# every run cut 1-step pipeline throughput to about a third (bench/pipelines.py: 35 vs 64
# runs/s). Its determinism is guarded by the golden-history replay tests instead.
PASSTHROUGH_MODULES = ("jinja2", "markupsafe", "workflows.pipeline")
# Seconds a run's next workflow task waits for the worker that has the run cached before any
# worker of the queue takes it: after a crash, how long the run stalls (the SDK's default).
DEFAULT_STICKY_TIMEOUT = 10.0


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


def pipeline_worker(
    client: Client,
    catalog: PipelineCatalog,
    registry: StepRegistry,
    task_queue: str = task_queues.PIPELINES,
    iac_task_queue: str = task_queues.IAC,
    sticky_timeout: float = DEFAULT_STICKY_TIMEOUT,
    deployment: WorkerDeploymentConfig | None = None,
) -> Worker:
    """`iac_task_queue`: where the pipelines' IaC steps run their stack workflows;
    `deployment`: the worker deployment version it polls as (None: unversioned)."""
    activities = PipelineActivities(catalog, registry)
    iac_steps = IacStepActivities(iac_task_queue)
    return guarded_worker(
        client,
        task_queue=task_queue,
        workflows=[PipelineWorkflow],
        workflow_runner=workflow_runner(),
        activities=[*activities.all(), *iac_steps.all()],
        max_concurrent_activities=100,
        interceptors=[FailureLogInterceptor()],
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=sticky_timeout),
        deployment_config=deployment,
    )


def iac_worker(
    client: Client,
    task_queue: str = task_queues.IAC,
    sticky_timeout: float = DEFAULT_STICKY_TIMEOUT,
    deployment: WorkerDeploymentConfig | None = None,
) -> Worker:
    """Plan/apply/destroy/drift/import/status of stacks; providers load from the registry."""
    load_provider_modules()
    # Above any parallelism a stack asks for (100 in the scale benchmark): each resource
    # action holds a thread while it waits for the cloud.
    slots = 128
    return guarded_worker(
        client,
        task_queue=task_queue,
        workflows=IAC_WORKFLOWS,
        # With the client, a lock left by a terminated run is taken over at once.
        activities=iac_activities(client),
        activity_executor=ThreadPoolExecutor(max_workers=slots, thread_name_prefix="wfctl-iac"),
        max_concurrent_activities=slots,
        workflow_runner=workflow_runner(),
        interceptors=[FailureLogInterceptor()],
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=sticky_timeout),
        deployment_config=deployment,
    )


async def serve(
    settings: ConnectionSettings,
    config: str,
    stop: asyncio.Event,
    *,
    with_iac: bool = True,
    task_queue: str = task_queues.PIPELINES,
    sync_schedules: bool = False,
    reload_interval: float = 2.0,
    sticky_timeout: float = DEFAULT_STICKY_TIMEOUT,
    deployment_name: str | None = None,
    build_id: str | None = None,
    env: str | None = None,
) -> None:
    """Run until `stop` is set. Raises ConfigError or TemporalUnreachable before serving anything.

    With `reload_interval` > 0 the config is watched: new runs use a valid new version, an
    invalid one is logged and ignored. With `sync_schedules` the pipelines' schedule triggers
    are made to match the config at start and after every reload. With `deployment_name`
    both workers poll as version `build_id` of that worker deployment, workflows pinned.
    `env` picks an application file's `environments:` overrides for its IaC steps."""
    registry = default_registry()
    catalog = PipelineCatalog.load(config, registry, env=env)
    client = await connect(settings, worker=True)
    deployment = None
    if deployment_name is not None:
        deployment = await versioned_config(client, deployment_name, build_id or default_build_id())

    async def schedules_follow(definitions: dict[str, PipelineDefinition]) -> None:
        from wfctl.schedules import sync_schedules as sync

        try:
            changes = await sync(client, definitions, task_queue)
        except Exception as exc:  # a failed sync must not stop the worker serving runs
            log.error("schedule sync failed: %s", exc)
            return
        for change in changes:
            if change.action != "unchanged":
                log.info("schedule %s %s", change.schedule_id, change.action)

    if sync_schedules:
        await schedules_follow(catalog.definitions())
    reloader = CatalogReloader(
        catalog, registry, config, on_reload=schedules_follow if sync_schedules else None,
        env=env,
    )
    workers = [
        pipeline_worker(
            client, catalog, registry, task_queue, sticky_timeout=sticky_timeout,
            deployment=deployment,
        )
    ]
    if with_iac:
        workers.append(iac_worker(client, sticky_timeout=sticky_timeout, deployment=deployment))
    log.info(
        "worker on %s (namespace %s) serving %d pipelines from %s: %s",
        settings.address,
        settings.namespace,
        len(catalog.names()),
        config,
        ", ".join(catalog.names()),
    )
    runs = [asyncio.create_task(w.run()) for w in workers]
    if reload_interval > 0:
        runs.append(asyncio.create_task(reloader.watch(stop, reload_interval)))
    await stop.wait()
    await asyncio.gather(*(w.shutdown() for w in workers))
    await asyncio.gather(*runs, return_exceptions=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="wfctl worker")
    parser.add_argument("--config", default="examples", help="pipeline file or folder")
    parser.add_argument("--env", default=os.environ.get("WFCTL_ENV") or None,
                        help="an application file's environment, for its modules' "
                             "`environments:` overrides (env WFCTL_ENV)")
    parser.add_argument("--address", help="Temporal frontend (env TEMPORAL_ADDRESS)")
    parser.add_argument("--namespace", help="Temporal namespace (env TEMPORAL_NAMESPACE)")
    parser.add_argument("--api-key", help="Temporal Cloud API key (env TEMPORAL_API_KEY)")
    parser.add_argument("--tls-cert", help="client certificate for mTLS (env TEMPORAL_TLS_CERT)")
    parser.add_argument("--tls-key", help="client key for mTLS (env TEMPORAL_TLS_KEY)")
    parser.add_argument("--tls-ca", help="server CA certificate (env TEMPORAL_TLS_CA)")
    parser.add_argument("--no-iac", action="store_true", help="serve pipelines only")
    parser.add_argument("--task-queue", default=task_queues.PIPELINES,
                        help="the pipelines task queue")
    parser.add_argument("--sync-schedules", action="store_true",
                        help="make Temporal Schedules match the pipelines' schedule triggers")
    parser.add_argument("--reload-interval", type=float, default=2.0,
                        help="seconds between config checks for hot reload; 0 = off")
    parser.add_argument("--metrics-port", type=int,
                        default=int(os.environ.get("WFCTL_METRICS_PORT") or 0),
                        help="serve Prometheus metrics on this port (env WFCTL_METRICS_PORT)")
    parser.add_argument("--metrics-host", default=os.environ.get("WFCTL_METRICS_HOST", "127.0.0.1"),
                        help="metrics bind address, 0.0.0.0 for all (env WFCTL_METRICS_HOST)")
    parser.add_argument("--http-allow", default=os.environ.get(HTTP_ALLOW_ENV, ""),
                        help="where step.http_call may connect: `*` (default: any address but "
                             "loopback, link-local and metadata), `loopback`, CIDRs, host names; "
                             f"comma-separated (env {HTTP_ALLOW_ENV})")
    parser.add_argument("--sticky-timeout", type=float, default=DEFAULT_STICKY_TIMEOUT,
                        help="seconds a run waits for the worker that ran it last before "
                        "another worker takes it (after a crash)")
    # Opt-in: a versioned worker gets no tasks until an operator makes its version current
    # (README "Upgrading workers"), which would leave `make run` and a first deploy idle.
    parser.add_argument("--versioning", action="store_true",
                        help="run as a worker deployment version, workflows pinned (where the "
                        "server has worker deployments)")
    parser.add_argument("--deployment-name",
                        help=f"the worker deployment this worker is a version of (default "
                        f"{DEFAULT_DEPLOYMENT})")
    parser.add_argument("--build-id",
                        help="this worker's version (default: package version + workflow code "
                        "hash)")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.versioning and (args.deployment_name or args.build_id):
        print("worker: --deployment-name and --build-id need --versioning", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    # httpx logs every request URL at INFO, credentials and query strings included.
    install_log_redaction()
    install_worker_logging()  # an expected failure is one line, a bug keeps its traceback
    settings = ConnectionSettings.from_env(
        address=args.address,
        namespace=args.namespace,
        api_key=args.api_key,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_ca=args.tls_ca,
    )

    if not 0 < args.sticky_timeout <= 3600:
        print(f"worker: --sticky-timeout must be between 0 and 3600 seconds, not "
              f"{args.sticky_timeout:g}", file=sys.stderr)  # fmt: skip
        return 2

    try:
        configure_egress(EgressPolicy.parse(args.http_allow))
    except ValueError as exc:
        print(f"worker: --http-allow: {exc}", file=sys.stderr)
        return 2

    if args.metrics_port:
        # Before any client exists: the runtime is process-wide and fixed at connect time.
        try:
            install_prometheus(args.metrics_port, args.metrics_host)
        except (ValueError, RuntimeError) as exc:
            print(f"worker: cannot serve metrics: {exc}", file=sys.stderr)
            return 1
        log.info("metrics on http://%s:%d/metrics", args.metrics_host, args.metrics_port)

    if tracing_configured():
        # Here rather than at the first connect, so that a bad OTEL_* setting is one line.
        try:
            install_tracing()
        except TracingConfigError as exc:
            print(f"worker: cannot trace: {exc}", file=sys.stderr)
            return 2
        log.info("tracing to %s", tracing_target())

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(
            settings, args.config, stop, with_iac=not args.no_iac, task_queue=args.task_queue,
            sync_schedules=args.sync_schedules, reload_interval=args.reload_interval,
            sticky_timeout=args.sticky_timeout,
            deployment_name=(args.deployment_name or DEFAULT_DEPLOYMENT) if args.versioning
            else None,
            build_id=args.build_id, env=args.env,
        )

    try:
        asyncio.run(run())
    except ConfigError as exc:
        print("worker: invalid config:\n  " + "\n  ".join(exc.problems), file=sys.stderr)
        return 2
    except TemporalUnreachable as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 1
    except EncryptionKeyError as exc:
        print(f"worker: encryption keys: {exc}", file=sys.stderr)
        return 2
    finally:
        flush_tracing()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalization: with Temporal core threads still alive it can abort the
    # process after a clean shutdown, turning exit 0 into a crash.
    os._exit(code)
