"""`wfctl dev`'s port check: one line naming the port, what it was for and who holds it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wfctl.dev import port_needs
from wfctl.dev_ports import clash_line, command_of, listening_pid

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port this test process listens on, as another program would."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_free_ports_pass() -> None:
    assert clash_line(port_needs(free_port(), free_port(), free_port(), free_port())) is None


def test_a_taken_port_is_one_line_naming_it_its_use_and_its_holder(held_port: int) -> None:
    line = clash_line(port_needs(free_port(), held_port, free_port(), 0))
    assert line is not None and "\n" not in line
    assert line.startswith(f"wfctl dev: port {held_port} for the Temporal web UI is in use by "
                           f"pid {os.getpid()} (")
    assert line.endswith("choose another port with --ui-port.")


def test_the_holder_is_found_in_another_process_too(tmp_path: Path) -> None:
    script = tmp_path / "hold.py"
    script.write_text(
        "import socket, sys\n"
        "s = socket.socket(); s.bind(('0.0.0.0', 0)); s.listen()\n"
        "print(s.getsockname()[1], flush=True); sys.stdin.read()\n"
    )
    holder = subprocess.Popen([sys.executable, str(script), "--secret-option", "hunter2"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        port = int(holder.stdout.readline())
        assert listening_pid(port) == holder.pid
        line = clash_line(port_needs(port, free_port(), 0, 0))
        assert line is not None
        name = os.path.basename(sys.executable)
        # The program and its leading words, never option values (they may be secrets).
        assert f"in use by pid {holder.pid} ({name} hold.py);" in line
        assert "hunter2" not in line
        assert command_of(holder.pid) == f"{name} hold.py"
    finally:
        holder.kill()
        holder.wait()


def test_every_unavailable_port_is_named_on_the_same_line(held_port: int) -> None:
    port = free_port()
    line = clash_line(port_needs(held_port, port, held_port, port))
    assert line is not None and "\n" not in line
    assert line.startswith(f"wfctl dev: port {held_port} for the Temporal frontend is in use")
    assert line.endswith(f"(also unavailable: {held_port} for the AWS sandbox, "
                         f"{port} for the worker's metrics).")


def test_the_same_port_for_two_parts_is_refused() -> None:
    port = free_port()
    line = clash_line(port_needs(port, port, 0, 0))
    assert line == (f"wfctl dev: port {port} for the Temporal web UI is also asked for by "
                    "--port; choose another port with --ui-port.")


def test_wfctl_dev_exits_at_once_on_a_taken_port(held_port: int, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wfctl", "dev", "--port", str(held_port),
         "--ui-port", str(free_port()), "--sandbox-port", "0", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"wfctl dev: port {held_port} for the Temporal frontend")
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written

