"""The checks `wfctl dev` waits on before it says "wfctl is running.".

Each answers the question a user's first command asks: Temporal accepts a client and knows
the namespace, the web UI serves its page, the sandbox answers HTTP, the worker polls both
task queues (its pollers carry its pid), the metrics endpoint serves.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from workflows import task_queues

POLL_INTERVAL = 0.2
# Loopback only: a proxy from the environment must not stand between us and our own servers.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
Alive = Callable[[], bool]


async def wait_until(check: Callable[[], object], timeout: float, alive: Alive) -> bool:
    """Poll `check` (sync or async, truthy = healthy) until it passes, `alive` turns false
    or `timeout` seconds pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while alive() and loop.time() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return True
        await asyncio.sleep(POLL_INTERVAL)
    return False


class TemporalProbe:
    """A client of the dev server, made once it accepts one."""

    def __init__(self, address: str, namespace: str) -> None:
        self.address = address
        self.namespace = namespace
        self.client: Client | None = None

    async def namespace_ready(self) -> bool:
        try:
            if self.client is None:
                self.client = await Client.connect(
                    self.address, namespace=self.namespace, connect_timeout=timedelta(seconds=2)
                )
            await self.client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=self.namespace), timeout=timedelta(seconds=2)
            )
        except (RuntimeError, RPCError):
            return False
        return True

    async def worker_polling(self, pid: int) -> bool:
        """The worker with this pid polls for workflow tasks on both of wfctl's queues."""
        assert self.client is not None, "namespace_ready first"
        for queue in (task_queues.PIPELINES, task_queues.IAC):
            try:
                described = await self.client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=self.namespace,
                        task_queue=TaskQueue(name=queue),
                        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                    ),
                    timeout=timedelta(seconds=2),
                )
            except RPCError:
                return False
            # The SDK's default worker identity is "<pid>@<host>".
            if not any(p.identity.startswith(f"{pid}@") for p in described.pollers):
                return False
        return True


def http_status(url: str) -> int | None:
    """The status an HTTP GET gets, None when nothing answers."""
    try:
        with _direct.open(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None
