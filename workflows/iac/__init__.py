"""The IaC workflows, all on task queue `workflows.task_queues.IAC`."""

from workflows.iac.apply import ApplyWorkflow, DestroyWorkflow
from workflows.iac.inspect import DriftWorkflow, ImportWorkflow, StatusWorkflow
from workflows.iac.plan import PlanWorkflow

IAC_WORKFLOWS = [
    PlanWorkflow,
    ApplyWorkflow,
    DestroyWorkflow,
    DriftWorkflow,
    ImportWorkflow,
    StatusWorkflow,
]

__all__ = [
    "IAC_WORKFLOWS",
    "ApplyWorkflow",
    "DestroyWorkflow",
    "DriftWorkflow",
    "ImportWorkflow",
    "PlanWorkflow",
    "StatusWorkflow",
]
