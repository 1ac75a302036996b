"""`wfctl dev` as a user runs it: on free random ports in a temp data folder.

One service per module: a second `wfctl dev` on its ports ends with one line and leaves it
running; the banner's commands run as printed; the last test kills its worker and checks the
service names the worker, shows its log and stops everything else.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wfctl.dev_ports import port_problem

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# Bounds on waiting for a process that is doing its work, not assertions on how fast.
START_BOUND = 180.0
STOP_BOUND = 60.0
# Variables a developer's shell may hold that would point the service or its CLIs elsewhere.
FOREIGN = ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_TLS",
           "WFCTL_UI_URL", "WFCTL_METRICS_PORT", "WFCTL_HTTP_ALLOW", "WFCTL_ENCRYPTION_KEYS")


def free_ports(names: tuple[str, ...]) -> dict[str, int]:
    """One free port per name, all different: each probe stays bound until all are picked
    (one at a time, the kernel may hand out the same port twice)."""
    probes = []
    try:
        for _ in names:
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            probes.append(probe)
        picked = zip(names, probes, strict=True)
        return {name: int(probe.getsockname()[1]) for name, probe in picked}
    finally:
        for probe in probes:
            probe.close()


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@dataclass
class Dev:
    """A running `wfctl dev` and what it printed so far."""

    process: subprocess.Popen[str]
    ports: dict[str, int]
    data_dir: Path
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def flags(self) -> list[str]:
        return [flag for name, port in self.ports.items() for flag in (f"--{name}", str(port))]

    def banner(self) -> str:
        text = "".join(self.out)
        return text[text.index("wfctl is running."):]


def _collect(stream: object, into: list[str]) -> None:
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        into.append(line)


def start_dev(data_dir: Path, ports: dict[str, int]) -> Dev:
    process = subprocess.Popen(
        [sys.executable, "-m", "wfctl", "dev", "--data-dir", str(data_dir),
         *[flag for name, port in ports.items() for flag in (f"--{name}", str(port))]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=clean_env(),
    )
    dev = Dev(process, ports, data_dir)
    for stream, into in ((process.stdout, dev.out), (process.stderr, dev.err)):
        threading.Thread(target=_collect, args=(stream, into), daemon=True).start()
    return dev


def wait_for(predicate: object, bound: float) -> None:
    deadline = time.monotonic() + bound
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting")
        time.sleep(0.2)


def children_of(pid: int) -> dict[int, str]:
    found: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(proc.name)] = cmdline
    return found


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    ports = free_ports(("port", "ui-port", "sandbox-port", "metrics-port"))
    running = start_dev(tmp_path_factory.mktemp("dev-data"), ports)
    try:
        wait_for(lambda: "wfctl is running.\n" in running.out
                 or running.process.poll() is not None, START_BOUND)
        assert running.process.poll() is None, "".join(running.err)
        yield running
    finally:
        if running.process.poll() is None:
            running.process.send_signal(signal.SIGTERM)
            running.process.wait(STOP_BOUND)


def test_a_second_dev_on_the_same_ports_ends_with_one_line(dev: Dev, tmp_path: Path) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "wfctl", "dev", "--data-dir", str(tmp_path), *dev.flags()],
        capture_output=True, text=True, timeout=STOP_BOUND, cwd=ROOT, env=clean_env(),
    )
    assert second.returncode != 0
    assert second.stdout == ""
    [line] = second.stderr.splitlines()
    port = dev.ports["port"]
    server_pid = next(pid for pid, cmd in children_of(dev.process.pid).items()
                      if " server start-dev " in cmd)
    assert line.startswith(
        f"wfctl dev: port {port} for the Temporal frontend is in use by pid {server_pid} "
        "(temporal server start-dev); stop it or choose another port with --port"
    )
    assert list(tmp_path.iterdir()) == []
    # The first goes on: alive, quiet, its UI answering.
    assert dev.process.poll() is None
    assert "".join(dev.err) == ""
    with urllib.request.urlopen(f"http://127.0.0.1:{dev.ports['ui-port']}/") as ui:
        assert ui.status == 200


def banner_commands(banner: str) -> list[str]:
    """The commands under "Try, in another terminal", continuation lines joined."""
    block = banner.split("Try, in another terminal (source .venv/bin/activate first):\n")[1]
    block = block.split("Ctrl-C stops everything")[0]
    return [command.strip() for command in block.replace("\\\n", " ").splitlines()]


def test_the_banner_commands_run_as_printed(dev: Dev) -> None:
    banner = dev.banner()
    assert f"Worker metrics    http://127.0.0.1:{dev.ports['metrics-port']}/metrics" in banner
    commands = banner_commands(banner)
    assert [c.split()[:2] for c in commands] == [
        ["export", "TEMPORAL_ADDRESS=127.0.0.1:" + str(dev.ports["port"])],
        ["export", "WFCTL_UI_URL=http://localhost:" + str(dev.ports["ui-port"])],
        ["wfctl", "pipeline"], ["temporal", "workflow"], ["wfctl", "pipeline"],
    ]
    script = "set -e\n" + "\n".join(commands) + "\n"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                          timeout=STOP_BOUND, cwd=ROOT, env=clean_env())
    assert done.returncode == 0, done.stderr
    assert '"greeting": "Hello, Ada!"' in done.stdout
    assert "pipeline:hello:from-cli" in done.stdout  # started by the Temporal CLI, then listed
    address = ["--address", f"127.0.0.1:{dev.ports['port']}"]
    result = subprocess.run(
        [str(BIN / "temporal"), "workflow", "result", *address,
         "--workflow-id", "pipeline:hello:from-cli"],
        capture_output=True, text=True, timeout=STOP_BOUND, env=clean_env())
    assert '{"greeting":"Hello, Ada!"}' in result.stdout, result.stderr


def test_the_worker_it_started_serves_metrics(dev: Dev) -> None:
    """README's Metrics block: `wfctl dev --metrics-port` instead of a second worker."""
    url = f"http://127.0.0.1:{dev.ports['metrics-port']}/metrics"
    env = {**clean_env(), "TEMPORAL_ADDRESS": f"127.0.0.1:{dev.ports['port']}"}
    run = subprocess.run([str(BIN / "wfctl"), "pipeline", "run", "hello", "--data",
                          '{"name": "Ada"}'], capture_output=True, text=True,
                         timeout=STOP_BOUND, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr
    with urllib.request.urlopen(url) as response:
        metrics = response.read().decode()
    assert re.search(r'^workflow_executions_total\{action="hello",.*status="completed"',
                     metrics, re.MULTILINE)


def test_a_worker_that_dies_is_named_with_its_log_and_the_rest_stops(dev: Dev) -> None:
    children = children_of(dev.process.pid)
    [worker] = [pid for pid, cmd in children.items() if " -m worker " in cmd]
    os.kill(worker, signal.SIGKILL)
    code = dev.process.wait(STOP_BOUND)
    assert code != 0
    err = "".join(dev.err)
    first, *rest = err.splitlines()
    assert first == (f"wfctl dev: the worker (pid {worker}) was killed by SIGKILL; "
                     "stopping the rest.")
    assert rest[0] == f"Last lines of {dev.data_dir / 'worker.log'}:"
    assert any(f"worker on 127.0.0.1:{dev.ports['port']}" in line for line in rest[1:])
    assert 1 < len(rest) <= 21
    for pid in children:
        assert not pid_alive(pid), children[pid]
    for name, port in dev.ports.items():
        assert port_problem(port) is None, name


def test_a_worker_that_cannot_start_is_named_and_no_banner_is_printed(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipelines:\n  p:\n    steps:\n      - {name: a, type: step.nope}\n")
    ports = {**free_ports(("port", "ui-port")), "sandbox-port": 0}
    data_dir = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "-m", "wfctl", "dev", "--config", str(bad), "--data-dir", str(data_dir),
         *[flag for name, port in ports.items() for flag in (f"--{name}", str(port))]],
        capture_output=True, text=True, timeout=START_BOUND, cwd=ROOT, env=clean_env(),
    )
    assert done.returncode != 0
    assert "wfctl is running." not in done.stdout
    first, *rest = done.stderr.splitlines()
    assert re.fullmatch(r"wfctl dev: the worker \(pid \d+\) exited with code 2; "
                        r"stopping the rest\.", first)
    assert any("step.nope" in line for line in rest)
    for port in ports.values():
        assert port == 0 or port_problem(port) is None
