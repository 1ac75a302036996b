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
        # Patched: a large plan's nodes are read for the web UI's table only, its first rows.
        # Read whole, a 100,000-resource plan took 160 pages, a 21 MB history (Temporal
        # warns at 10 MB and ends a run at 50 MB), to show the first 100.
        table_only = workflow.patched("plan-table-page")
        digest = await self.make_plan(
            request,
            destroy=request.destroy,
            allow_replace=request.allow_replace,
            all_nodes=not table_only,
        )
        if table_only:
            await self.table_nodes(request, digest)
        self.set_phase(request.stack, "done")
        assert self._plan is not None
        return self._plan
