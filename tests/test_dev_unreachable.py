"""Temporal unreachable: the client API raises a typed error; wfctl and the worker print one
line that says where, why, and that `make run` (or `wfctl dev`) starts one locally."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from wfctl.connection import ConnectionSettings, TemporalUnreachable, connect

ROOT = Path(__file__).resolve().parent.parent
HINT = "`make run` (or `wfctl dev`) starts one locally"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def env_without_temporal() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}


async def test_the_client_api_raises_temporal_unreachable() -> None:
    address = f"127.0.0.1:{closed_port()}"
    with pytest.raises(TemporalUnreachable) as caught:
        await connect(ConnectionSettings(address=address))
    assert isinstance(caught.value, ConnectionError)
    assert caught.value.address == address
    assert str(caught.value) == f"cannot reach Temporal at {address}: Connection refused; {HINT}"


def test_a_remote_address_gets_no_make_run_hint() -> None:
    # Made directly: resolving or dialling a remote address would leave this machine.
    message = str(TemporalUnreachable("my-ns.a1b2c.tmprl.cloud:7233", "Connection refused"))
    assert message == ("cannot reach Temporal at my-ns.a1b2c.tmprl.cloud:7233: Connection "
                       "refused; check the address (--address or TEMPORAL_ADDRESS)")
    for local in ("localhost:7233", "[::1]:7233", "127.0.0.2:7233"):
        assert str(TemporalUnreachable(local, "x")).endswith(HINT)


def test_wfctl_prints_one_line() -> None:
    address = f"127.0.0.1:{closed_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "wfctl", "--address", address, "pipeline", "list"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env_without_temporal(),
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"cannot reach Temporal at {address}: Connection refused; {HINT}"
    ]


def test_the_worker_prints_one_line() -> None:
    address = f"127.0.0.1:{closed_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "worker", "--config", "examples", "--address", address],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env_without_temporal(),
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"worker: cannot reach Temporal at {address}: Connection refused; {HINT}"
    ]
