"""Version B of PipelineWorkflow and ApplyWorkflow for tests/test_worker_versioning.py: the
same workflow types, a different command sequence (a timer, no steps, no actions). Its own
module, importing only temporalio, because the workflow sandbox re-imports the module a
workflow class is defined in."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import RawValue


@workflow.defn(name="PipelineWorkflow")
class ChangedPipelineWorkflow:
    @workflow.run
    async def run(self, input: RawValue) -> dict[str, Any]:
        await workflow.sleep(0.01)
        return {"served_by": "B"}


@workflow.defn(name="ApplyWorkflow")
class ChangedApplyWorkflow:
    @workflow.run
    async def run(self, input: RawValue) -> dict[str, Any]:
        await workflow.sleep(0.01)
        return {"served_by": "B"}
