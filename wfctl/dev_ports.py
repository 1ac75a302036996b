"""The ports `wfctl dev` listens on: whether each is free, and who holds one that is not.

Checked before anything starts, so a second `make run` (or any other program on a port) ends
with one line instead of a half-started service. Who holds a port comes from /proc on Linux
(the listening socket's inode, then the process with that inode among its fds), else from
`lsof` when installed; when neither says (another user's process), the line just omits it.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

# /proc/net/tcp's state column: 0A is LISTEN.
_LISTEN = "0A"
# Words of a holder's command line shown: enough to recognise it, before any option values
# (which may carry a secret such as an API key).
_SHOWN_WORDS = 4


@dataclass(frozen=True)
class PortNeed:
    """A port wfctl dev will listen on, what for, and the flag that moves it."""

    port: int
    purpose: str
    flag: str


def port_problem(port: int) -> str | None:
    """None when wfctl dev's servers can bind the port on loopback, else why not.

    SO_REUSEADDR as the servers set it: a port only in TIME_WAIT is free to them. [::1] too,
    where the host has it: a browser opening http://localhost:PORT may go there first."""
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            probe = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return "in use"
                if family == socket.AF_INET6 and exc.errno in (
                    errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT
                ):
                    continue  # no IPv6 loopback here: nothing can listen there either
                return f"cannot be bound ({exc.strerror})"
    return None


def listening_pid(port: int) -> int | None:
    """The process listening on TCP `port`, as far as this user may see."""
    inodes = _listening_inodes(port)
    if inodes is None:
        return _lsof_pid(port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in targets:
                    return int(proc.name)
        except OSError:  # gone, or another user's
            continue
    return None


def _listening_inodes(port: int) -> set[str] | None:
    """Inodes of the sockets listening on `port`; None where /proc/net does not exist."""
    inodes: set[str] = set()
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not any(table.exists() for table in tables):
        return None
    for table in tables:
        try:
            rows = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()  # sl local_address rem_address st ... inode
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _lsof_pid(port: int) -> int | None:
    lsof = shutil.which("lsof")
    if lsof is None:
        return None
    try:
        out = subprocess.run(
            [lsof, "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-t"],
            capture_output=True, text=True, timeout=5, check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    pids = [int(word) for word in out.split() if word.isdigit()]
    return pids[0] if pids else None


def command_of(pid: int) -> str | None:
    """A short name for the process: program and leading words, e.g. `temporal server start-dev`."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        argv = _ps_argv(pid)
    words = [w.decode(errors="replace") for w in argv if w]
    if not words:
        return None
    shown = [os.path.basename(words[0])]
    for word in words[1:]:
        if len(shown) == _SHOWN_WORDS or (word.startswith("-") and word != "-m"):
            break
        shown.append(os.path.basename(word) if "/" in word else word)
    return " ".join(shown)


def _ps_argv(pid: int) -> list[bytes]:
    ps = shutil.which("ps")
    if ps is None:
        return []
    try:
        out = subprocess.run([ps, "-o", "command=", "-p", str(pid)], capture_output=True,
                             timeout=5, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return out.split()


def holder_of(port: int) -> str | None:
    pid = listening_pid(port)
    if pid is None:
        return None
    command = command_of(pid)
    return f"pid {pid} ({command})" if command else f"pid {pid}"


def clash_line(needs: list[PortNeed]) -> str | None:
    """One line about the first port that cannot be used (and which others cannot), or None."""
    seen: dict[int, PortNeed] = {}
    blocked: list[tuple[PortNeed, str]] = []
    for need in needs:
        if need.port in seen:
            blocked.append((need, f"also asked for by {seen[need.port].flag}"))
            continue
        seen[need.port] = need
        problem = port_problem(need.port)
        if problem is not None:
            blocked.append((need, problem))
    if not blocked:
        return None
    (first, problem), rest = blocked[0], blocked[1:]
    line = f"wfctl dev: port {first.port} for the {first.purpose} is {problem}"
    if problem == "in use":
        holder = holder_of(first.port)
        line += f" by {holder}; stop it" if holder else "; stop that program"
        line += f" or choose another port with {first.flag}"
    else:
        line += f"; choose another port with {first.flag}"
    if rest:
        line += " (also unavailable: " + ", ".join(
            f"{need.port} for the {need.purpose}" for need, _ in rest) + ")"
    return line + "."
