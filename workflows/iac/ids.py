"""The workflow ids of stack runs: the id of a locking run is the stack's lock.

Apply, destroy, drift and import run as `stack:<name>` (with a FAIL conflict policy, so the id
excludes a second run of the same stack); plan and status take no lock and run as
`stack:<name>:plan:<suffix>` / `stack:<name>:status:<suffix>`, the suffix whatever makes the id
unique (wfctl: a random one; a pipeline step: its pipeline run and step).
"""

from __future__ import annotations

LOCKING_TYPES = frozenset({"ApplyWorkflow", "DestroyWorkflow", "DriftWorkflow", "ImportWorkflow"})
UNLOCKED_KINDS = {"PlanWorkflow": "plan", "StatusWorkflow": "status"}


def lock_id(stack: str) -> str:
    return f"stack:{stack}"


def id_problem(workflow_type: str, workflow_id: str, stack: str) -> str | None:
    """Why `workflow_id` is not an id a `workflow_type` run of `stack` may have, or None."""
    if workflow_type in LOCKING_TYPES:
        expected = lock_id(stack)
        if workflow_id == expected:
            return None
    elif workflow_type in UNLOCKED_KINDS:
        prefix = f"{lock_id(stack)}:{UNLOCKED_KINDS[workflow_type]}:"
        if workflow_id.startswith(prefix) and len(workflow_id) > len(prefix):
            return None
        expected = f"{prefix}<suffix>"
    else:
        return None
    return (
        f'workflow id {workflow_id} does not match stack "{stack}": start it as {expected}'
    )
