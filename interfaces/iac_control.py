"""What an operator sends a running apply or destroy, and what it keeps of those decisions.

The arguments of the `pause`, `resume`, `parallelism`, `retry`, `skip`, `abort` and `cancel`
Updates of the stack workflows (`stack:<name>`), as JSON objects, so the Temporal CLI sends
them as they are:

    temporal workflow update execute --workflow-id stack:web --name pause --input '{"by": "ada"}'

`by` names who did it. wfctl fills it with `--by` or the client's identity; a caller that
leaves it out is recorded as "unknown" (Temporal's history still has the caller's identity
on the Update's accepted event).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

UNKNOWN_OPERATOR = "unknown"
Cap = Annotated[int, Field(ge=1, le=1000)]


class OperatorRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str = Field(UNKNOWN_OPERATOR, min_length=1, max_length=200)
    reason: str = Field("", max_length=1000)


class PauseRequest(OperatorRequest):
    pass


class ResumeRequest(OperatorRequest):
    pass


class ParallelismRequest(OperatorRequest):
    # None keeps the current overall cap; `providers` sets per provider key caps (merged).
    parallelism: Cap | None = None
    providers: dict[str, Cap] = Field(default_factory=dict)


class Paused(BaseModel):
    by: str
    since: str  # ISO time of the workflow's clock when the pause was accepted
    reason: str = ""


class Aborted(BaseModel):
    by: str
    rollback: bool = False
    cancel: bool = False  # also cancel the running actions (then reconciled)
    reason: str = ""  # why the walk ended early: "aborted by ada", "no decision within 24h"


class ControlState(BaseModel):
    """The operator's settings of a run, handed on across continue-as-new."""

    paused: Paused | None = None
    parallelism: int | None = None  # overrides the run's input when set
    provider_parallelism: dict[str, int] = Field(default_factory=dict)
    # --on-failure wait: since when the run has waited for retry / skip / abort (ISO time).
    waiting_since: str = ""
    aborted: Aborted | None = None


class RetryRequest(OperatorRequest):
    resources: list[str] = Field(default_factory=list, max_length=10_000)  # none: all failed


class SkipRequest(OperatorRequest):
    resource: str = Field(min_length=1)


class CancelRequest(OperatorRequest):
    pass


class AbortRequest(OperatorRequest):
    rollback: bool = False  # delete what the run created, as `--rollback` does

