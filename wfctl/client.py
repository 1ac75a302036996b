"""The Python client API for pipelines: start runs, wait for results, find runs.

    client = await wfctl.connection.connect()
    output = await PipelineExecutor(client).execute_pipeline("hello", {"name": "Ada"})
"""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from workflows import task_queues
from workflows.pipeline import PipelineRunInput, PipelineWorkflow
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
