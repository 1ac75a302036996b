"""PlanWorkflow: compute and save a plan; nothing changes in the cloud or the state."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from workflows.iac.calls import parse_input
    from workflows.iac.models import PlanOutcome, StackRunInput
    from workflows.iac.runner import SANDBOXED
    from workflows.iac.stack_run import StackRun
    from workflows.metrics import recorded
    from workflows.raw_input import NO_PAYLOAD


@workflow.defn(name="PlanWorkflow", sandboxed=SANDBOXED)
class PlanWorkflow(StackRun):
    @workflow.run
    @recorded("plan")
    async def run(self, input: RawValue = NO_PAYLOAD) -> PlanOutcome:
        request, _ = parse_input(input, StackRunInput)
        self.set_phase(request.stack, "plan")
        await self.make_plan(request, destroy=request.destroy, allow_replace=request.allow_replace)
        self.set_phase(request.stack, "done")
        assert self._plan is not None
        return self._plan
