"""The README's runnable console blocks, run in order against a fresh `wfctl dev`.

The commands run in bash with the venv first on PATH, in a temporary copy of what they need
(examples/, worker.py, a link to .venv), so nothing is written into the repository. They use
the README's own ports; tests/readme_check.py says how blocks are marked and compared.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

from tests.readme_check import (
    Mismatch,
    Session,
    busy_port,
    compare,
    parse_readme,
    run_blocks,
    tracebacks,
)

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# A terminal as wide as the README's widest table, so rich does not wrap it.
COLUMNS = "120"


def _workspace(tmp_path: Path) -> Path:
    cwd = tmp_path / "clone"
    shutil.copytree(ROOT / "examples", cwd / "examples",
                    ignore=shutil.ignore_patterns(".data", "__pycache__"))
    shutil.copy(ROOT / "worker.py", cwd / "worker.py")
    (cwd / ".venv").symlink_to(Path(sys.prefix))  # `source .venv/bin/activate`
    (tmp_path / "home").mkdir()
    return cwd


def _environment(tmp_path: Path) -> dict[str, str]:
    """A reader's shell: nothing of ours (keys, addresses, credentials) leaks in."""
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "LANG": "C.UTF-8",
        "COLUMNS": COLUMNS,
        "TERM": "dumb",
    }


def test_readme_console_blocks_print_what_the_readme_shows(tmp_path: Path) -> None:
    busy = busy_port()
    if busy is not None:
        pytest.fail(busy, pytrace=False)
    blocks = parse_readme(README.read_text())
    failures = []
    cwd = _workspace(tmp_path)
    with Session(cwd, _environment(tmp_path)) as session:
        try:
            run_blocks(blocks, session, first=["make run"])  # the quickstart's terminal 1
        except Mismatch as mismatch:
            failures.append(str(mismatch))
    # Expected failures (bad input, a refused step, a protected resource) are one line each.
    log = cwd / ".data" / "worker.log"
    found = tracebacks(log.read_text(encoding="utf-8", errors="replace"))
    if found:
        failures.append(f"{log.name}: {len(found)} tracebacks, each after the line that "
                        "logged it:\n" + "\n".join(found))
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


def test_the_readme_marks_the_walk_throughs_runnable() -> None:
    commands = [c.text for b in parse_readme(README.read_text()) for c in b.commands]
    for needed in ("wfctl pipeline run hello", "temporal workflow execute",
                   "wfctl pipeline run order-intake", "wfctl pipeline run order-lookup",
                   "wfctl pipeline approve", "wfctl pipeline run release",
                   "wfctl pipeline run drift-watch", "wfctl infra apply -f examples/aws-stack",
                   "wfctl infra pause operate-sandbox", "wfctl infra resume operate-sandbox",
                   "wfctl infra skip operate-broken", "wfctl infra cancel operate-sandbox",
                   "wfctl serve", "wfctl codec-server",
                   "temporal workflow start --task-queue wfctl-iac", "wfctl infra state list",
                   "PipelineExecutor(client)", "executor.pending_approvals"):
        assert any(c.startswith(needed) or f" {needed}" in c for c in commands), needed


def test_compare_dots_json_and_annotations() -> None:
    expected = [(10, "workflow pipeline:hello:48ec10cfc472"), (11, "..."),
                (12, '{"greeting": "Hello, Ada!"}   # 201'), (13, "took ... in all")]
    actual = ["workflow pipeline:hello:0123456789ab", "http://x", "more", "{",
              '  "greeting": "Hello, Ada!"', "}", "took 12 ms in all", ""]
    assert compare(expected, actual) is None
    assert compare(expected, [*actual[:-2], "took 12 ms"]) == 13
    assert compare(expected, ["workflow pipeline:hello:from-cli"]) == 10


def test_a_mismatch_names_the_readme_line_the_command_and_both_sides(tmp_path: Path) -> None:
    blocks = parse_readme("text\n<!-- readme-check -->\n```console\n$ echo one \\\n  two\n"
                          "one two\n$ cat <<'EOF'\nthree\nEOF\nfour\n```\n")
    assert [c.line for c in blocks[0].commands] == [4, 7]
    (tmp_path / "cwd").mkdir()
    (tmp_path / "home").mkdir()
    with Session(tmp_path / "cwd", _environment(tmp_path)) as session, \
            pytest.raises(Mismatch) as raised:
        run_blocks(blocks, session)
    assert str(raised.value).splitlines() == [
        "README.md:10: $ cat <<'EOF'", "expected (README):", "  four", "actual:", "  three"]


def test_a_busy_port_is_named_in_one_line_before_anything_starts() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert busy_port({port: "the echo server"}) == (
            f"README check: port {port} (the echo server) is in use; the README's commands "
            "need the default ports free")
    assert busy_port({port: "the echo server"}) is None


def test_a_traceback_in_the_worker_log_is_named_by_its_line_and_exception() -> None:
    log = ("2026-12-01 12:00:00,001 wfctl.worker worker on 127.0.0.1:7233\n"
           "2026-12-01 12:00:01,002 temporalio.activity step \"x\" failed\n"
           "Traceback (most recent call last):\n"
           '  File "a.py", line 1, in f\n'
           "    raise KeyError('k')\n"
           "\n"
           "KeyError: 'k'\n"
           "2026-12-01 12:00:02,003 wfctl.worker one line, no traceback\n")
    assert tracebacks(log) == ['2026-12-01 12:00:01,002 temporalio.activity step "x" failed\n'
                               "  ... KeyError: 'k'"]
    assert tracebacks(log.split("Traceback")[0]) == []
