"""The Python client API for pipelines: start runs, wait for results, find runs, decide
approvals.

    client = await wfctl.connection.connect()
    output = await PipelineExecutor(client).execute_pipeline("hello", {"name": "Ada"})
    await PipelineExecutor(client).approve("pipeline:release:abc", "ada", "ship it")
"""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from workflows import task_queues
from workflows.pipeline import PipelineRunInput, PipelineWorkflow
from workflows.pipeline_approval import ApprovalDecision, ApprovalOutcome, PendingApproval
from workflows.search_attributes import PIPELINE_NAME

WORKFLOW_ID_PREFIX = "pipeline:"


def pipeline_workflow_id(pipeline: str, run: str | None = None) -> str:
    return f"{WORKFLOW_ID_PREFIX}{pipeline}:{run or uuid.uuid4().hex[:12]}"


def normalize_run_id(run_id: str, pipeline: str | None = None) -> str:
    """Accept a full workflow id or, with the pipeline name, just the run suffix."""
    if run_id.startswith(WORKFLOW_ID_PREFIX) or pipeline is None:
        return run_id
    return pipeline_workflow_id(pipeline, run_id)


class PipelineExecutor:
    """The spec's PipelineExecutor over Temporal."""

    def __init__(self, client: Client, task_queue: str = task_queues.PIPELINES) -> None:
        self.client = client
        self.task_queue = task_queue

    async def start_pipeline(
        self, name: str, data: dict[str, Any] | None = None, *, run: str | None = None
    ) -> WorkflowHandle[PipelineWorkflow, dict[str, Any]]:
        return await self.client.start_workflow(
            PipelineWorkflow.run,
            PipelineRunInput(pipeline=name, data=data or {}),
            id=pipeline_workflow_id(name, run),
            task_queue=self.task_queue,
            static_summary=f"pipeline {name}",
            search_attributes=TypedSearchAttributes([SearchAttributePair(PIPELINE_NAME, name)]),
            result_type=dict,
        )

    async def execute_pipeline(
        self, name: str, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        handle = await self.start_pipeline(name, data)
        return await handle.result()

    async def approve(
        self, run_id: str, approver: str, comment: str = "", *, step: str = ""
    ) -> ApprovalOutcome:
        """Release a run waiting in step.wait_for_approval (`step` when several wait).

        Raises WorkflowUpdateFailedError when the run is not waiting or the approver may not
        decide; its cause says why."""
        return await self._decide(PipelineWorkflow.approve, run_id, approver, comment, step)

    async def reject(
        self, run_id: str, approver: str, comment: str, *, step: str = ""
    ) -> ApprovalOutcome:
        return await self._decide(PipelineWorkflow.reject, run_id, approver, comment, step)

    async def pending_approvals(self, run_id: str) -> list[PendingApproval]:
        handle = self.client.get_workflow_handle(run_id)
        return await handle.query(PipelineWorkflow.pending_approval)

    async def _decide(
        self, update: Any, run_id: str, approver: str, comment: str, step: str
    ) -> ApprovalOutcome:
        decision = ApprovalDecision(approver=approver, comment=comment, step=step)
        handle = self.client.get_workflow_handle(run_id)
        outcome: ApprovalOutcome = await handle.execute_update(update, decision)
        return outcome
