"""The IaC workflows as the SDK's sandbox runs them (production runs them outside it, see
workflows/iac/runner.py): the same classes under the same names, sandboxed, so a test can
walk them through the sandbox's checks. Each `run` hands over to the real one."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from interfaces.iac import ResourceState
    from workflows.iac import (
        ApplyWorkflow,
        DestroyWorkflow,
        DriftWorkflow,
        ImportWorkflow,
        PlanWorkflow,
        StatusWorkflow,
    )
    from workflows.iac.models import (
        ApplyOutcome,
        DestroyOutcome,
        DriftReport,
        PlanOutcome,
        StatusReport,
    )
    from workflows.raw_input import NO_PAYLOAD


@workflow.defn(name="PlanWorkflow", sandboxed=True)
class SandboxedPlan(PlanWorkflow):
    @workflow.run
    async def run(self, input: RawValue = NO_PAYLOAD) -> PlanOutcome:
        return await super().run(input)


@workflow.defn(name="ApplyWorkflow", sandboxed=True)
class SandboxedApply(ApplyWorkflow):
    @workflow.run
    async def run(self, input: RawValue = NO_PAYLOAD) -> ApplyOutcome:
        return await super().run(input)


@workflow.defn(name="DestroyWorkflow", sandboxed=True)
class SandboxedDestroy(DestroyWorkflow):
    @workflow.run
    async def run(self, input: RawValue = NO_PAYLOAD) -> DestroyOutcome:
        return await super().run(input)


@workflow.defn(name="DriftWorkflow", sandboxed=True)
class SandboxedDrift(DriftWorkflow):
    @workflow.run
    async def run(self, input: RawValue = NO_PAYLOAD) -> DriftReport:
        return await super().run(input)


@workflow.defn(name="StatusWorkflow", sandboxed=True)
class SandboxedStatus(StatusWorkflow):
    @workflow.run
    async def run(self, input: RawValue = NO_PAYLOAD) -> StatusReport:
        return await super().run(input)


@workflow.defn(name="ImportWorkflow", sandboxed=True)
class SandboxedImport(ImportWorkflow):
    @workflow.run
    async def run(self, input: RawValue = NO_PAYLOAD) -> ResourceState:
        return await super().run(input)


SANDBOXED_IAC_WORKFLOWS = [
    SandboxedPlan, SandboxedApply, SandboxedDestroy, SandboxedDrift, SandboxedStatus,
    SandboxedImport,
]
