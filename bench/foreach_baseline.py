"""The baseline of bench/pipelines_foreach.py: a bare workflow running N activities,
`concurrency` at a time, as plainly as the SDK allows. Its own module (without side effects)
so the workflow sandbox can import it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import activity, workflow


async def do_work(ms: int, item: int) -> dict[str, Any]:
    """What each item does, in the pipeline's step and in the bare activity alike."""
    if ms:
        await asyncio.sleep(ms / 1000)
    return {"item": item}


@activity.defn
async def bare_work(ms: int, item: int) -> dict[str, Any]:
    return await do_work(ms, item)


class BareForeachInput(BaseModel):
    items: int
    concurrency: int
    ms: int


@workflow.defn
class BareForeach:
    @workflow.run
    async def run(self, input: BareForeachInput) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = [{} for _ in range(input.items)]
        cursor = iter(range(input.items))

        async def lane() -> None:
            for i in cursor:
                results[i] = await workflow.execute_activity(
                    bare_work, args=[input.ms, i], start_to_close_timeout=timedelta(seconds=30)
                )

        await asyncio.gather(*(lane() for _ in range(input.concurrency)))
        return results
