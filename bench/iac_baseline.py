"""The bare-Temporal floor of bench/iac.py (d): the same number of activities, each sleeping
the same latency, the same parallelism and continue-as-new every CHUNK activities, served by a
worker in its own process with the same slots as wfctl's. No state, no plan, no fake cloud:
what is left is Temporal's own cost per activity on this machine.

    python -m bench.iac_baseline ADDRESS TASK_QUEUE SLOTS [--unsandboxed]   # the worker process
"""

from __future__ import annotations

import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

CHUNK = 2000  # activities per run before continuing as new


@dataclass
class BareApply:
    count: int
    latency: float
    parallelism: int
    offset: int = 0


@activity.defn
def bare_action(latency: float) -> str:
    time.sleep(latency)
    return "done"


@workflow.defn
class BareApplyWorkflow:
    def __init__(self) -> None:
        self._running = 0

    @workflow.run
    async def run(self, job: BareApply) -> int:
        end = min(job.count, job.offset + CHUNK)

        async def one() -> None:
            try:
                await workflow.execute_activity(
                    bare_action, job.latency, start_to_close_timeout=timedelta(seconds=60)
                )
            finally:
                self._running -= 1

        tasks = []
        for _ in range(job.offset, end):
            await workflow.wait_condition(lambda: self._running < job.parallelism)
            self._running += 1
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        if end < job.count:
            workflow.continue_as_new(
                BareApply(job.count, job.latency, job.parallelism, offset=end)
            )
        return end


async def serve(address: str, queue: str, slots: int, sandboxed: bool = True) -> None:
    """`sandboxed=False`: the floor's workflow outside the SDK's sandbox, as wfctl runs its
    IaC workflows (workflows/iac/runner.py); the default is the SDK's own."""
    client = await Client.connect(address)
    with ThreadPoolExecutor(slots) as executor:
        worker = Worker(
            client,
            task_queue=queue,
            workflows=[BareApplyWorkflow],
            activities=[bare_action],
            activity_executor=executor,
            max_concurrent_activities=slots,
            **({} if sandboxed else {"workflow_runner": UnsandboxedWorkflowRunner()}),
        )
        print("ready", flush=True)
        await worker.run()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2], int(sys.argv[3]), "--unsandboxed" not in sys.argv))
