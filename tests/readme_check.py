"""Run the README's runnable console blocks and compare what they print with what it shows.

A block is runnable when the line before its ```console fence is `<!-- readme-check -->`
(invisible on GitHub); `<!-- readme-check: skip-output -->` runs its commands without
comparing what they print. In a block, a `$ ` line starts a command (continued by a trailing
`\\` and by a heredoc's body); the lines up to the next command are what the README says it
prints. The commands of all blocks run in order in one bash session, so `cd`, `export` and
`run=$(...)` carry over as they do in a reader's terminal.

Comparison, after normalising both sides (ids, times, durations, see NORMALISERS):
- a line that is only `...` stands for any lines, `...` inside a line for any text;
- two or more spaces then `# ` ends an expected line: the rest is the README's annotation;
- an expected line that is a JSON document matches the same document printed indented
  ("outputs shown compacted");
- trailing spaces, trailing blank lines and the width of gaps and table rules do not
  count (a longer duration widens its column);
- a command the README shows no output for is run, not compared; exit codes are not
  compared (the README prints one with `echo "exit $?"` where it matters);
- a server's output is what it printed by the time its port answered.

Servers the README starts in another terminal (SERVERS) run in the background, each in its
own process group, until the end of the check; the check goes on once their port answers.
`make run` is run as the `wfctl dev` it stands for, and one already running with the same
arguments is the reader's "terminal 1": its start-up output is compared, nothing restarts.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MARKER = re.compile(r"^<!-- readme-check(?::\s*(?P<options>[\w\s,-]*))? -->$")
OPTIONS = frozenset({"skip-output"})
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(?P<word>\w+)\1")
ANNOTATION = re.compile(r"\s{2,}#\s.*$")


@dataclass(frozen=True)
class Command:
    line: int  # README line of its `$ `
    text: str  # what bash runs: continuation lines and heredoc bodies included
    expected: tuple[tuple[int, str], ...]  # (README line, line it shows)

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0]


@dataclass(frozen=True)
class Block:
    line: int  # README line of the ```console fence
    options: frozenset[str]
    commands: tuple[Command, ...]


def parse_readme(text: str) -> list[Block]:
    """The runnable console blocks, in README order."""
    lines = text.splitlines()
    blocks: list[Block] = []
    for index, raw in enumerate(lines):
        found = MARKER.match(raw.strip())
        if found is None:
            continue
        options = frozenset(re.split(r"[\s,]+", (found["options"] or "").strip())) - {""}
        if options - OPTIONS:
            raise ValueError(f"README.md:{index + 1}: unknown readme-check option "
                             f"{sorted(options - OPTIONS)}; known: {sorted(OPTIONS)}")
        if index + 1 >= len(lines) or lines[index + 1].strip() != "```console":
            raise ValueError(f"README.md:{index + 1}: readme-check marker not followed by a "
                             "```console block")
        end = next((k for k in range(index + 2, len(lines)) if lines[k].strip() == "```"), None)
        if end is None:
            raise ValueError(f"README.md:{index + 2}: ```console block never closed")
        body = [(k + 1, lines[k]) for k in range(index + 2, end)]
        blocks.append(Block(index + 2, options, tuple(_commands(body))))
    return blocks


def _commands(body: Sequence[tuple[int, str]]) -> Iterator[Command]:
    k = 0
    while k < len(body):
        number, raw = body[k]
        if not raw.startswith("$ "):
            raise ValueError(f"README.md:{number}: output before the block's first command")
        text = [raw[2:]]
        k += 1
        while text[-1].endswith("\\") and k < len(body):
            text.append(body[k][1])
            k += 1
        heredoc = HEREDOC.search("\n".join(text))
        if heredoc is not None:
            while k < len(body) and body[k][1] != heredoc["word"]:
                text.append(body[k][1])
                k += 1
            if k == len(body):
                raise ValueError(f"README.md:{number}: heredoc {heredoc['word']} never ends")
            text.append(body[k][1])
            k += 1
        expected = []
        while k < len(body) and not body[k][1].startswith("$ "):
            expected.append(body[k])
            k += 1
        yield Command(number, "\n".join(text), tuple(expected))


# Order matters: a uuid before the hex runs it is made of, times before durations.
NORMALISERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"), "<time>"),
    (re.compile(r"(?<![0-9a-f])[0-9a-f]{8,}(?![0-9a-f])"), "<hex>"),  # runs, AWS ids
    (re.compile(r"(?<![0-9A-Z])(?=[A-Z]*[0-9])[0-9A-Z]{13,32}(?![0-9A-Z])"), "<ID>"),  # Route53
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|s)\b"), "<duration>"),
    (re.compile(r"(?<=\s)\d+\.\d+(?=\s|$)"), "<number>"),  # metric sums, seconds
)


# A wider value widens its table column: the width of spaces and rules does not count.
WIDTHS = ((re.compile(r"([━─])\1+"), r"\1"), (re.compile(r"[ \t]+"), " "))


def normalise(line: str) -> str:
    for pattern, replacement in NORMALISERS + WIDTHS:
        line = pattern.sub(replacement, line)
    return line.rstrip()


def _pattern(expected: str) -> re.Pattern[str]:
    parts = normalise(expected).split("...")
    return re.compile(".*".join(re.escape(p) for p in parts), re.DOTALL)


def _json(text: str) -> object | None:
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _same_json(a: object, b: object) -> bool:
    return normalise(json.dumps(a, sort_keys=True)) == normalise(json.dumps(b, sort_keys=True))


def compare(expected: Sequence[tuple[int, str]], actual: Sequence[str]) -> int | None:
    """None when `actual` fits `expected`, else the README line where it first does not."""
    want = [(n, ANNOTATION.sub("", line).rstrip()) for n, line in expected]
    got = [line.rstrip() for line in actual]
    while want and not want[-1][1]:
        want.pop()
    while got and not got[-1]:
        got.pop()
    furthest = [0]

    def fits(i: int, j: int) -> bool:
        furthest[0] = max(furthest[0], i)
        if i == len(want):
            return j == len(got)
        line = want[i][1]
        if line.strip() == "...":
            return any(fits(i + 1, k) for k in range(j, len(got) + 1))
        if j < len(got) and _pattern(line).fullmatch(normalise(got[j])):
            return fits(i + 1, j + 1)
        document = _json(line)
        if document is not None and j < len(got):
            for k in range(j + 1, min(len(got), j + 2000) + 1):
                if (found := _json("\n".join(got[j:k]))) is not None:
                    return _same_json(document, found) and fits(i + 1, k)
        return False

    if fits(0, 0):
        return None
    return want[min(furthest[0], len(want) - 1)][0] if want else None


# What a reader starts in another terminal: pattern, port flag, default port, the text it
# prints when ready, and what its terminal holds that the README set up earlier (the codec
# server serves the keys the section before exports).
CODEC_KEYS = ('export WFCTL_ENCRYPTION_KEYS="${WFCTL_ENCRYPTION_KEYS:-k1:'
              '$(openssl rand -base64 32)}"\n')
SERVERS: tuple[tuple[re.Pattern[str], str, int, str | None, str], ...] = (
    (re.compile(r"^(make run|wfctl dev)\b"), "--port", 7233, "wfctl is running.", ""),
    (re.compile(r"^python examples/echo_server\.py\b"), "--port", 8765, None, ""),
    (re.compile(r"^wfctl serve\b"), "--port", 8080, None, ""),
    (re.compile(r"^wfctl codec-server\b"), "--port", 8081, None, CODEC_KEYS),
)
# Every port the README's commands use, with what uses it: all must be free before we start.
DEFAULT_PORTS = {7233: "Temporal", 8233: "the web UI", 5000: "the AWS sandbox",
                 8765: "the echo server", 8080: "wfctl serve", 8081: "the codec server",
                 9464: "the metrics endpoint"}


def busy_port(ports: Mapping[int, str] = DEFAULT_PORTS) -> str | None:
    """One line naming the first of `ports` something already listens on."""
    for port, what in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return (f"README check: port {port} ({what}) is in use; the README's commands "
                        "need the default ports free")
    return None


def server_of(command: str) -> tuple[int, str | None, str] | None:
    """The port a README server command listens on, the text it prints when ready and the
    shell lines its terminal runs first."""
    words = shlex.split(command, comments=True)
    for pattern, flag, default, ready, setup in SERVERS:
        if pattern.match(command):
            port = int(words[words.index(flag) + 1]) if flag in words else default
            return port, ready, setup
    return None


class Mismatch(AssertionError):
    pass


@dataclass
class Background:
    command: str
    process: subprocess.Popen[bytes]
    output: Path


@dataclass
class Session:
    """One bash session the commands run in, and the servers it started."""

    cwd: Path
    env: dict[str, str]
    timeout: float = 60  # per command
    servers: list[Background] = field(default_factory=list)
    # server kind ("wfctl dev") -> the one running and what it printed when it came up
    started: dict[str, tuple[Background, list[str]]] = field(default_factory=dict)
    _bash: subprocess.Popen[str] | None = None
    _count: int = 0

    def __enter__(self) -> Session:
        self._bash = subprocess.Popen(
            ["bash", "--noprofile", "--norc"], cwd=self.cwd, env=self.env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        return self

    def __exit__(self, *exc: object) -> None:
        for server in reversed(self.servers):
            self.stop(server)
        if self._bash is not None:  # with whatever command of it still runs
            _signal_group(self._bash.pid, signal.SIGKILL)
            self._bash.wait()

    def _files(self) -> tuple[Path, Path]:
        """A script and its output file, beside the working copy rather than in it."""
        self._count += 1
        scratch = self.cwd.parent / "readme-check"
        scratch.mkdir(exist_ok=True)
        output = scratch / f"{self._count}.out"
        output.touch()
        return scratch / f"{self._count}.sh", output

    def _send(self, line: str, timeout: float) -> str:
        bash = self._bash
        assert bash is not None and bash.stdin is not None and bash.stdout is not None
        bash.stdin.write(line + "\n")
        bash.stdin.flush()
        ready, _, _ = select.select([bash.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError
        return bash.stdout.readline().strip()

    def run(self, command: str) -> list[str]:
        """Run in the session (its `cd`/`export`/variables stay); stdout and stderr, merged."""
        script, output = self._files()
        script.write_text(command + "\n")
        try:
            self._send(f". {script} >{output} 2>&1 </dev/null; echo done", self.timeout)
        except TimeoutError:
            raise Mismatch(f"still running after {self.timeout:.0f} s; printed so far:\n"
                           + output.read_text(encoding="utf-8", errors="replace")) from None
        return output.read_text(encoding="utf-8", errors="replace").splitlines()

    def start(self, command: str, port: int, ready: str | None, setup: str = "") -> list[str]:
        """Start a server in its own process group; its output once its port answers."""
        script, output = self._files()
        script.write_text(setup + command + "\n")
        # Another terminal of the same reader: the session's exported variables and folder.
        environment = script.with_suffix(".env")
        folder = self._send(f"export -p >{environment}; pwd", 10)
        with output.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", "--noprofile", "--norc", "-c", f". {environment}; . {script}"],
                cwd=folder, env={}, stdin=subprocess.DEVNULL, stdout=sink,
                stderr=subprocess.STDOUT, start_new_session=True)
        server = Background(command, process, output)
        self.servers.append(server)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = output.read_text(encoding="utf-8", errors="replace")
            if _answers(port) and (ready is None or ready in text):
                return text.splitlines()
            if process.poll() is not None:
                raise Mismatch(f"exited before port {port} answered:\n{text}")
            time.sleep(0.1)
        raise Mismatch(f"port {port} did not answer in 60 s:\n"
                       + output.read_text(encoding="utf-8", errors="replace"))

    def stop(self, server: Background) -> None:
        self.servers.remove(server)
        self.started = {k: v for k, v in self.started.items() if v[0] is not server}
        group = server.process.pid
        _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline and _group_alive(group):
            server.process.poll()  # reap the leader, or the group never looks empty
            time.sleep(0.1)
        _signal_group(group, signal.SIGKILL)
        server.process.wait()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def tracebacks(log: str) -> list[str]:
    """Each traceback in a log, as the line that logged it and the exception it ends with:
    an expected failure is one line, so any traceback there is a bug to name."""
    lines = log.splitlines()
    found = []
    for k, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last):"):
            continue
        end = k + 1
        while end < len(lines) and (lines[end].startswith(" ") or not lines[end].strip()):
            end += 1  # the frames; the exception is the first line back at the margin
        logged = lines[k - 1] if k > 0 else ""
        raised = lines[end] if end < len(lines) else ""
        found.append(f"{logged}\n  ... {raised}")
    return found


def dev_command(command: str) -> str:
    """`make run` runs `wfctl dev` (see the Makefile)."""
    return re.sub(r"^make run\b", "wfctl dev", command)


def run_blocks(blocks: Sequence[Block], session: Session, first: Sequence[str] = ()) -> None:
    """Run `first` (servers up before the README starts), then every command in order;
    raise Mismatch at the first that prints otherwise."""
    differences: list[str] = []
    for text in first:
        _run_one(Command(0, text, ()), session)
    for block in blocks:
        for command in block.commands:
            try:
                printed = _run_one(command, session)
            except Mismatch as failed:  # what follows would only fail in its wake
                differences.append(f"README.md:{command.line}: $ {command.first_line}\n{failed}")
                raise Mismatch("\n\n".join(differences)) from None
            if "skip-output" in block.options or not command.expected:
                continue
            where = compare(command.expected, printed)
            if where is not None:  # go on: one run then shows every line to fix
                differences.append(
                    f"README.md:{where}: $ {command.first_line}\n"
                    "expected (README):\n" + "\n".join(f"  {t}" for _, t in command.expected)
                    + "\nactual:\n" + "\n".join(f"  {t}" for t in printed))
    if differences:
        raise Mismatch("\n\n".join(differences))


def _run_one(command: Command, session: Session) -> list[str]:
    shell = dev_command(command.text)
    server = server_of(shell)
    if server is None:
        return session.run(shell)
    kind = shell.split()[0] + " " + shell.split()[1]
    plain = shlex.split(shell, comments=True)
    running = session.started.get(kind)
    if running is not None:
        process, output = running
        if shlex.split(process.command, comments=True) == plain:
            return output  # already running in the reader's other terminal
        session.stop(process)  # the reader stops it (Ctrl-C) to start it otherwise
    output = session.start(shell, *server)
    session.started[kind] = (session.servers[-1], output)
    return output
