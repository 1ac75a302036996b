"""A stand-alone wfctl worker as worker.py builds it -- pipelines and IaC in one process --
serving the test provider, for tests that SIGKILL it:
    python -m tests.pipeline_worker_process ADDRESS CONFIG PIPELINE_QUEUE IAC_QUEUE
"""

from __future__ import annotations

import asyncio
import os
import sys

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.pipeline_catalog import PipelineCatalog
from activities.step_catalog import default_registry
from providers.registry import MODULES_ENV
from worker import iac_worker, pipeline_worker


async def serve(address: str, config: str, pipeline_queue: str, iac_queue: str) -> None:
    os.environ.setdefault(MODULES_ENV, "tests.iac_test_provider")
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    registry = default_registry()
    catalog = PipelineCatalog.load(config, registry)
    # A killed worker's cached runs move to the next worker this fast.
    workers = [
        pipeline_worker(client, catalog, registry, pipeline_queue, iac_queue, sticky_timeout=1),
        iac_worker(client, iac_queue, sticky_timeout=1),
    ]
    print("ready", flush=True)
    await asyncio.gather(*(worker.run() for worker in workers))


if __name__ == "__main__":
    asyncio.run(serve(*sys.argv[1:5]))
