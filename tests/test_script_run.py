"""wfctl.script.run: a client-API script prints all it printed and exits with the code Python
would give it, without the interpreter teardown that can abort it (temporalio/sdk-python#300)."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import asyncio, sys
from wfctl.script import run

async def main() -> None:
    await asyncio.sleep(0)
    print("done", end="")
    {ending}

run(main())
print("never here")
"""


@pytest.mark.parametrize(("ending", "code", "last_error_line"), [
    ("", 0, None),
    ("sys.exit(3)", 3, None),
    ("raise ValueError('bad input')", 1, "ValueError: bad input"),
])
def test_run_exits_with_the_code_python_would_give(
    ending: str, code: int, last_error_line: str | None
) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(ending=ending)],
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (code, "done")
    if last_error_line is None:
        assert done.stderr == ""
    else:
        assert done.stderr.splitlines()[-1] == last_error_line
