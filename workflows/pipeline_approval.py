"""Approvals of a pipeline run: what waits, and the decisions the `approve`/`reject` Updates give.

Several steps can wait at once (an approval inside parallel branches or a foreach); each is
keyed by its step path ("deploy" or "regions[2].confirm"). A decision names that path, or
leaves it empty when exactly one step waits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ApprovalDecision(BaseModel):
    """The input of the `approve` and `reject` Updates."""

    approver: str = ""
    comment: str = ""
    step: str = ""


class PendingApproval(BaseModel):
    step: str
    message: str = ""
    details: str = ""
    approvers: list[str] = Field(default_factory=list)
    since: datetime
    deadline: datetime | None = None


# What an approver reads (a plan summary, say) travels in query results and the run's current
# details, so it is cut here rather than growing with the thing shown.
DETAILS_LIMIT = 16_000


def bounded_details(text: str, limit: int = DETAILS_LIMIT) -> str:
    """`text` cut to `limit` characters, saying how much was left out so no one approves a
    tail they believe they saw."""
    if len(text) <= limit:
        return text
    marker = "\n... ({} more characters not shown; see the step that produced them)"
    kept = text[: max(0, limit - len(marker.format(len(text))))]
    return kept + marker.format(len(text) - len(kept))


class ApprovalOutcome(BaseModel):
    """What an Update returns and what the waiting step records."""

    step: str
    decision: Literal["approved", "rejected", "timed_out"]
    approver: str = ""
    comment: str = ""
    decided_at: datetime


class Approvals:
    """The bookkeeping; the workflow owns the clock and the waiting."""

    def __init__(self) -> None:
        self.pending: dict[str, PendingApproval] = {}
        self.decided: dict[str, ApprovalOutcome] = {}

    def open(self, waiting: PendingApproval) -> None:
        self.decided.pop(waiting.step, None)
        self.pending[waiting.step] = waiting

    def close(self, step: str) -> ApprovalOutcome | None:
        self.pending.pop(step, None)
        return self.decided.pop(step, None)

    def target(self, decision: ApprovalDecision, rejecting: bool) -> PendingApproval:
        """The waiting step a decision is for; ValueError says why it cannot be taken."""
        if not decision.approver.strip():
            raise ValueError("an approver name is required")
        if rejecting and not decision.comment.strip():
            raise ValueError("a rejection needs a comment saying why")
        open_steps = [s for s in self.pending if s not in self.decided]
        if not open_steps:
            raise ValueError("this run is not waiting for an approval")
        if decision.step:
            if decision.step not in open_steps:
                raise ValueError(
                    f"step {decision.step!r} is not waiting; waiting: {', '.join(open_steps)}"
                )
            waiting = self.pending[decision.step]
        elif len(open_steps) > 1:
            raise ValueError(f"several steps wait ({', '.join(open_steps)}); name one with `step`")
        else:
            waiting = self.pending[open_steps[0]]
        if waiting.approvers and decision.approver not in waiting.approvers:
            raise ValueError(
                f"{decision.approver!r} may not decide {waiting.step!r}; "
                f"approvers: {', '.join(waiting.approvers)}"
            )
        return waiting

    def decide(self, outcome: ApprovalOutcome) -> None:
        self.decided[outcome.step] = outcome
