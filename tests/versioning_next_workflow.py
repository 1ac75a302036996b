"""Version B of PipelineWorkflow for tests/test_worker_versioning.py: the same workflow type,
a different command sequence (a timer, no steps). Its own module, importing only temporalio,
because the workflow sandbox re-imports the module a workflow class is defined in."""

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
