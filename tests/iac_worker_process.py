"""A stand-alone IaC worker serving the test provider, for tests and benchmarks that kill it
or measure it from outside:  python -m tests.iac_worker_process ADDRESS TASK_QUEUE
"""

from __future__ import annotations

import asyncio
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.iac import iac_activities
from providers.registry import MODULES_ENV, load_provider_modules
from wfctl.input_guard import guarded_worker
from workflows.iac import IAC_WORKFLOWS


async def serve(address: str, queue: str, slots: int) -> None:
    os.environ.setdefault(MODULES_ENV, "tests.iac_test_provider")
    load_provider_modules()
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    with ThreadPoolExecutor(slots) as executor:
        worker = guarded_worker(
            client,
            task_queue=queue,
            workflows=IAC_WORKFLOWS,
            activities=iac_activities(client),
            activity_executor=executor,
            max_concurrent_activities=slots,
            # A killed worker's cached workflows move to a live worker this fast.
            sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
        )
        print("ready", flush=True)
        await worker.run()


if __name__ == "__main__":
    slots = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    asyncio.run(serve(sys.argv[1], sys.argv[2], slots))
