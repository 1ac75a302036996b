"""`python worker.py --sticky-timeout`: how long a killed worker's runs wait for it before
another worker takes them over (the SIGKILL tests start their workers with 1 s)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client

from activities.pipeline_catalog import PipelineCatalog
from activities.step_catalog import default_registry
from tests.pipeline_harness import EXAMPLES
from worker import DEFAULT_STICKY_TIMEOUT, iac_worker, pipeline_worker

ROOT = Path(__file__).resolve().parent.parent


def sticky(worker: object) -> timedelta:
    return worker.config()["sticky_queue_schedule_to_start_timeout"]  # type: ignore[attr-defined]


async def test_both_workers_take_the_sticky_timeout(client: Client) -> None:
    registry = default_registry()
    catalog = PipelineCatalog.load(EXAMPLES, registry)
    queue = f"sticky-{uuid.uuid4().hex[:8]}"
    pipelines = pipeline_worker(client, catalog, registry, f"{queue}-p", sticky_timeout=1.5)
    assert sticky(pipelines) == timedelta(seconds=1.5)
    assert sticky(iac_worker(client, f"{queue}-i", sticky_timeout=2)) == timedelta(seconds=2)
    assert sticky(iac_worker(client, f"{queue}-d")) == timedelta(seconds=DEFAULT_STICKY_TIMEOUT)


@pytest.mark.parametrize("value", ["0", "7200"])
def test_a_bad_sticky_timeout_is_refused_with_one_line(value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "worker", "--config", "examples", f"--sticky-timeout={value}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"worker: --sticky-timeout must be between 0 and 3600 seconds, not {float(value):g}"
    ]
