"""The run's current details in the web UI (Temporal markdown): progress first, then the plan.

The UI shows them without decoding a payload; they are rebuilt whenever the walk moves.
Static details are set by whoever starts a workflow, before the plan exists, so the plan goes
here too: a table of resource, type, action and changed fields, cut after a bound with a
count of what is left out (the details travel with every workflow task completion).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.iac.models import PlanNode, PlanOutcome, Progress

TABLE_ROWS = 100
DETAILS_CHARS = 16_000


def run_details(progress: Progress, plan: PlanOutcome | None, nodes: list[PlanNode]) -> str:
    lines = [f"**{progress.phase or 'starting'}**"]
    if progress.total:
        lines[0] += (
            f" · {progress.done}/{progress.total} done, {len(progress.running)} running, "
            f"{progress.failed_count()} failed, {progress.skipped} skipped, "
            f"{progress.waiting} waiting"
        )
    if progress.paused is not None:
        held = progress.paused
        lines.append(f"Paused by {held.by} since {held.since}" + (
            f": {held.reason}" if held.reason else ""))
    if progress.cancelled or progress.not_started:
        lines.append(
            f"Stopped: cancelled mid-call (read back from the cloud): "
            f"{', '.join(progress.cancelled) or 'none'}; not started: {progress.not_started}"
        )
    for error in progress.errors[:10]:
        lines.append(f"- failed: {error.action} {error.resource}: {error.error}")
    if nodes:
        lines += ["", *_plan_table(plan, nodes, max(progress.total, len(nodes)))]
    text = "\n".join(lines)
    if len(text) > DETAILS_CHARS:
        text = text[:DETAILS_CHARS].rsplit("\n", 1)[0] + "\n\n(details cut at the UI's limit)"
    return text


def _plan_table(plan: PlanOutcome | None, nodes: list[PlanNode], total: int) -> list[str]:
    """The first TABLE_ROWS of `nodes`, and how many of the run's `total` actions are left
    out (the nodes held may be the first page or the window of a large plan)."""
    changed: dict[str, str] = {}
    if plan is not None and plan.plan is not None:
        for action in plan.plan.actions:
            changed[action.resource.name] = ", ".join(c.path for c in action.changes)
    rows = ["| resource | type | action | changed fields |", "|---|---|---|---|"]
    for node in nodes[:TABLE_ROWS]:
        fields = changed.get(node.name, "") if node.action in ("update", "replace") else ""
        rows.append(f"| {_cell(node.key)} | {_cell(node.type)} | {node.action} | {_cell(fields)} |")
    shown = min(len(nodes), TABLE_ROWS)
    if total > shown:
        rows.append(f"\n… and {total - shown} more actions (`wfctl infra progress`)")
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
