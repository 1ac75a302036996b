"""How one node of the walk becomes an activity call: its action, and the reconcile after a
cancel. Each call carries only the provider block the node needs."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from engine.iac.stack import heartbeat_timeout_of
    from workflows.iac.calls import ACTION_RETRY, call
    from workflows.iac.models import (
        ActionRequest,
        ActionResult,
        PlanNode,
        Reconciled,
        StackRunInput,
        StackTarget,
    )
    from workflows.metrics import recorded_action


def _target(target: StackTarget, node: PlanNode) -> StackTarget:
    block = target.providers.get(node.provider)
    return target.model_copy(update={"providers": {node.provider: block} if block else {}})


async def run_action(
    request: StackRunInput, plan_id: str, node: PlanNode, *, clean_cancel: bool
) -> ActionResult:
    block = request.providers.get(node.provider)
    # A provider block may set its own heartbeat_timeout (validated with the input).
    heartbeat = heartbeat_timeout_of(block or {}) or request.heartbeat_timeout
    action = ActionRequest(
        target=_target(request.target(), node),
        plan_id=plan_id,
        name=node.name,
        action=node.action,
        type=node.type,
        provider=node.provider,
        provider_type=node.provider_type,
        depends_on=node.depends_on,
        create_before_destroy=node.create_before_destroy,
        part=node.part,
        pending_only=node.pending_only,
    )
    # Counted by outcome and timed in the workflow, once per action however often it retries.
    with recorded_action(request.stack, node.provider_type or node.provider, node.type,
                         node.action):
        return await workflow.execute_activity(
            "apply_action",
            action,
            result_type=ActionResult,
            start_to_close_timeout=timedelta(seconds=request.action_timeout),
            heartbeat_timeout=timedelta(seconds=heartbeat),
            retry_policy=ACTION_RETRY,
            summary=action.summary(),
            # A cancelled action is reconciled once it has really stopped, not before.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
            if clean_cancel
            else ActivityCancellationType.TRY_CANCEL,
        )


async def reconcile_action(request: StackRunInput, node: PlanNode) -> None:
    """Read a cancelled action's resource back from the cloud into the state."""
    action = ActionRequest(
        target=_target(request.target(), node),
        name=node.name,
        action=node.action,
        type=node.type,
        provider=node.provider,
        provider_type=node.provider_type,
    )
    try:
        await call(
            "reconcile_action",
            action,
            Reconciled,
            f"reconcile {node.type} {node.name} after its {node.action} was cancelled",
        )
    except ActivityError as error:
        # The run still ends; the next plan reads the cloud anyway and shows what is left.
        workflow.logger.warning("could not reconcile %s: %s", node.name, error)
