"""Ending a process that used a Temporal client without the interpreter's teardown.

While Python finalizes, the Temporal core runtime's threads may still call into it, which can
abort the process (`Fatal Python error: PyGILState_Release`, temporalio/sdk-python#300) after
the work already succeeded. `wfctl` and scripts written on the client API end instead with
os._exit once their output is flushed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from collections.abc import Coroutine
from typing import Any, NoReturn


def exit_now(code: object) -> NoReturn:
    """Export buffered spans, flush stdout and stderr, then end the process with `code` (as
    SystemExit reads it): os._exit skips the atexit hook that would export the spans."""
    from wfctl.tracing import flush_tracing

    flush_tracing()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def run(main: Coroutine[Any, Any, object]) -> NoReturn:
    """asyncio.run(main) for a script, then exit: 0, the code of a SystemExit, or 1 with the
    traceback printed as Python prints it."""
    try:
        asyncio.run(main)
    except SystemExit as stop:
        exit_now(stop.code)
    except BaseException:
        traceback.print_exc()
        exit_now(1)
    exit_now(0)
