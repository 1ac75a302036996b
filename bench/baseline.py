"""Bare Temporal baselines the benchmarks compare wfctl against: no-op activities and a
workflow that runs N of them, as plain as the SDK allows."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import httpx


@activity.defn
async def bare_noop(payload: dict) -> dict:
    return {"value": payload.get("value")}


@activity.defn
async def bare_http(url: str) -> int:
    async with httpx.AsyncClient() as http:
        return (await http.get(url)).status_code


@workflow.defn
class BareWorkflow:
    @workflow.run
    async def run(self, kind: str, count: int, url: str) -> None:
        for i in range(count):
            if kind == "local":
                await workflow.execute_local_activity(
                    bare_noop, {"value": i}, start_to_close_timeout=timedelta(seconds=10)
                )
            elif kind == "activity":
                await workflow.execute_activity(
                    bare_noop, {"value": i}, start_to_close_timeout=timedelta(seconds=10)
                )
            else:
                await workflow.execute_activity(
                    bare_http, url, start_to_close_timeout=timedelta(seconds=10)
                )
