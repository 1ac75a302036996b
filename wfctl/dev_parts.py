"""The child processes of `wfctl dev`, each with the last lines of its log at hand.

The dev server writes to its log file only (it is noisy); the worker's output goes to the
terminal as before and, line by line, to its log file and a short in-memory tail, so that
when it dies its last words can be shown without asking the user to look anywhere.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

TAIL_LINES = 20
STOP_GRACE = 20.0


class Part:
    def __init__(self, name: str, process: subprocess.Popen[bytes], log_path: Path,
                 tail: Callable[[], list[str]], on_exit: Callable[[], None] = lambda: None
                 ) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path
        self._tail = tail
        self._on_exit = on_exit

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def report(self, what: str) -> None:
        """One line saying what happened to this part, then its last log lines, on stderr."""
        self._on_exit()
        lines = self._tail()
        out = [f"wfctl dev: the {self.name} (pid {self.pid}) {what}; stopping the rest."]
        if lines:
            out.append(f"Last lines of {self.log_path}:")
            out += [f"  {line}" for line in lines]
        print("\n".join(out), file=sys.stderr, flush=True)

    def report_death(self) -> None:
        code = self.process.returncode
        if code is not None and code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        self.report(how)

    def terminate(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self) -> None:
        try:
            self.process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._on_exit()


def log_file_part(name: str, command: list[str], log_path: Path) -> Part:
    """A child writing to `log_path`; its tail is what it wrote there this time."""
    log = log_path.open("ab")
    start = log.tell()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    log.close()  # the child holds its own descriptor

    def tail() -> list[str]:
        try:
            with log_path.open("rb") as f:
                f.seek(start)
                text = f.read().decode(errors="replace")
        except OSError:
            return []
        return text.splitlines()[-TAIL_LINES:]

    return Part(name, process, log_path, tail)


def teed_part(name: str, command: list[str], log_path: Path, env: Mapping[str, str]) -> Part:
    """A child whose output goes to our stdout and to `log_path`, its tail kept in memory."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=dict(env))
    assert process.stdout is not None
    lines: deque[str] = deque(maxlen=TAIL_LINES)
    tee = threading.Thread(target=_tee, args=(process.stdout, log_path, lines),
                           name=f"wfctl-dev-{name}-log", daemon=True)
    tee.start()

    def drained() -> None:
        # Once the child is gone its pipe ends soon; its last lines are the ones that matter.
        if process.poll() is None:
            return
        tee.join(timeout=2)

    return Part(name, process, log_path, lambda: list(lines), drained)


def _tee(source: IO[bytes], log_path: Path, lines: deque[str]) -> None:
    echo: IO[bytes] | None = getattr(sys.stdout, "buffer", None)
    with log_path.open("ab") as log:
        for raw in iter(source.readline, b""):
            log.write(raw)
            log.flush()
            lines.append(raw.decode(errors="replace").rstrip("\r\n"))
            if echo is not None:
                try:
                    echo.write(raw)
                    echo.flush()
                except (OSError, ValueError):  # our stdout went away; keep the log going
                    echo = None
