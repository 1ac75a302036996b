"""Inputs, results and activity messages of the IaC workflows: JSON-friendly pydantic models.

A workflow input is the stack document's own fields (stack, state, providers, resources) plus
the run's options, so `temporal workflow start --input "$(cat stack.json)"` works as it is.
A large stack's input names its document instead: stack, state and providers inline, the
resources left out and `document_digest` naming the document in the state store
(statestore.documents). A run given the document inline stores it in its first plan activity
and goes on by digest, so no later activity input or continue-as-new carries it again.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.iac.stack import heartbeat_timeout_of
from interfaces.documents import DIGEST_PATTERN
from interfaces.iac import (
    ActionError,
    ApplyResult,
    DestroyResult,
    DriftResult,
    Plan,
    ResourceOutput,
    ResourceStatus,
)
from interfaces.iac_control import ControlState, Paused

ActionKind = Literal["create", "update", "replace", "delete"]
# The part of a replace one node does: all of it, or -- when other resources' actions must
# fall in between (engine/iac/schedule.py) -- only creating the new instance or only
# deleting the old one.
ReplacePart = Literal["whole", "new", "old"]

DEFAULT_PARALLELISM = 10
# Headroom under Temporal's 10,240-event limit per run; the in-flight actions' events come on top.
DEFAULT_MAX_HISTORY_EVENTS = 8000
# Nodes a run of an apply walks at a time: about twice what one run of the chain does.
DEFAULT_WINDOW_NODES = 5000
# Seconds. Below this a lock renewed every third of its life lapses after one slow renewal
# and the stack can be taken by another run while this one is still working.
MIN_LOCK_TTL = 60.0


class StackRunInput(BaseModel):
    """A stack document plus the options of one run."""

    model_config = ConfigDict(extra="forbid")

    # The stack document. The name becomes the StackName search attribute, whose JSON may not
    # pass 2 KB (an escaped astral character takes 12 bytes); validate_stack checks the rest.
    stack: str = Field(min_length=1, max_length=150)
    state: dict[str, Any] = Field(default_factory=dict)
    providers: dict[str, Any] = Field(default_factory=dict)
    resources: list[Any] = Field(default_factory=list)
    # Instead of `resources`: the digest of the whole document, stored beside the state.
    document_digest: str = Field("", pattern=f"^$|{DIGEST_PATTERN}")

    # Options.
    auto_approve: bool = False
    plan_id: str = ""  # apply a saved plan instead of planning anew
    targets: list[str] = Field(default_factory=list)
    parallelism: int = Field(DEFAULT_PARALLELISM, ge=1, le=1000)
    provider_parallelism: dict[str, int] = Field(default_factory=dict)  # per provider key cap
    allow_replace: list[str] = Field(default_factory=list)  # protected resources allowed to go
    rollback: bool = False
    # A failed action: end the run once the rest is done ("stop"), or keep its dependents
    # waiting and, when nothing else can run, wait for an operator's retry / skip / abort.
    on_failure: Literal["stop", "wait"] = "stop"
    failure_timeout: float = Field(86400.0, gt=0)  # seconds to wait for that decision
    approval_timeout: float = Field(3600.0, gt=0)  # seconds to wait for approve/reject
    destroy: bool = False  # PlanWorkflow: plan the destruction of the stack
    lock_ttl: float = 300.0  # the run renews its state lock every third of it
    action_timeout: float = Field(3600.0, gt=0)  # one create/update/delete incl. becoming ready
    heartbeat_timeout: float = Field(30.0, gt=0)
    max_history_events: int = Field(DEFAULT_MAX_HISTORY_EVENTS, ge=200, le=10_000)
    # Nodes an apply or destroy walks at a time (workflows.iac.window); tests set it low.
    window_nodes: int = Field(DEFAULT_WINDOW_NODES, ge=1, le=20_000)
    resume: ApplyCarry | None = None  # set by continue-as-new, never by callers

    @field_validator("providers")
    @classmethod
    def _sane_provider_heartbeats(cls, providers: dict[str, Any]) -> dict[str, Any]:
        # The workflow itself turns a provider's heartbeat_timeout into an activity option:
        # a bad one is refused with the input, never in a workflow task that fails forever.
        for key, block in providers.items():
            if isinstance(block, dict):
                try:
                    heartbeat_timeout_of(block)
                except ValueError as error:
                    raise ValueError(f"providers.{key}.{error}") from None
        return providers

    @field_validator("lock_ttl")
    @classmethod
    def _sane_lock_ttl(cls, ttl: float) -> float:
        if ttl < MIN_LOCK_TTL:
            raise ValueError(
                f"lock_ttl {ttl:g}s is below the minimum of {MIN_LOCK_TTL:g}s: the lock is "
                "renewed every third of it, and a renewal must have time to retry before it "
                "lapses"
            )
        return ttl

    @model_validator(mode="after")
    def _one_document(self) -> StackRunInput:
        if self.document_digest and self.resources:
            raise ValueError(
                "give the stack's resources inline or a document_digest naming a stored "
                "document, not both"
            )
        return self

    def by_reference(self, digest: str) -> StackRunInput:
        """This input naming its stored document instead of carrying it (a no-op without a
        digest: a run of an old history whose plan activity stored nothing)."""
        if not digest:
            return self
        return self.model_copy(update={"resources": [], "document_digest": digest})

    def document(self) -> dict[str, Any]:
        """The inline document (without resources when the run is by reference)."""
        data: dict[str, Any] = {
            "stack": self.stack,
            "providers": self.providers,
            "resources": self.resources,
        }
        if self.state:
            data["state"] = self.state
        return data

    def target(self) -> StackTarget:
        return StackTarget(stack=self.stack, state=self.state, providers=self.providers)


class ImportTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    type: str
    provider: str  # a key of the stack's providers
    id: str  # the cloud's id of the resource


class ImportInput(StackRunInput):
    resource: ImportTarget


# ---- what activities receive ----


class StackTarget(BaseModel):
    """Where a stack's state lives and how to reach its providers (no resources)."""

    stack: str
    state: dict[str, Any] = Field(default_factory=dict)
    providers: dict[str, Any] = Field(default_factory=dict)


class DocumentSource(BaseModel):
    """The stack document of a plan activity: inline (`document`, stored by the activity) or
    by reference (`target` says which state store, `document_digest` which document)."""

    document: dict[str, Any] = Field(default_factory=dict)
    target: StackTarget | None = None
    document_digest: str = ""

    @property
    def stack(self) -> str:
        return self.target.stack if self.target else str(self.document.get("stack", "?"))

    @property
    def providers(self) -> Any:
        return self.target.providers if self.target else self.document.get("providers")


def document_source(request: StackRunInput) -> dict[str, Any]:
    """The DocumentSource fields of a run's input, for a request's constructor."""
    if request.document_digest:
        return {"target": request.target(), "document_digest": request.document_digest}
    return {"document": request.document()}


class PlanRequest(DocumentSource):
    plan_id: str
    created_at: str  # ISO time from workflow.now()
    targets: list[str] = Field(default_factory=list)
    destroy: bool = False
    allow_replace: list[str] = Field(default_factory=list)
    inline_limit: int = 1000  # actions above which the plan and its nodes are not inline


class SavedPlanRequest(DocumentSource):
    plan_id: str
    check_serial: bool = True  # refuse a plan whose state serial has moved
    allow_replace: list[str] = Field(default_factory=list)
    inline_limit: int = 1000


class PlanNode(BaseModel):
    """One action of a plan as the workflow schedules it."""

    name: str
    action: ActionKind
    type: str
    provider: str  # provider key
    provider_type: str = ""
    deps: list[str] = Field(default_factory=list)  # actions that must succeed first (sorted)
    depends_on: list[str] = Field(default_factory=list)  # every resource it depends on
    create_before_destroy: bool = False
    part: ReplacePart = "whole"
    # A rollback's delete of a failed create: only a pending entry is deleted.
    pending_only: bool = False

    @property
    def key(self) -> str:
        """Unique among a plan's nodes: the name, or `<name> (old)` for an old instance."""
        return f"{self.name} (old)" if self.part == "old" else self.name


class PlanDigest(BaseModel):
    """A saved plan as a workflow needs it: ids, counts and the action graph."""

    plan_id: str
    stack: str
    state_serial: int
    counts: dict[str, int] = Field(default_factory=dict)
    node_count: int = 0
    # All nodes when few; else none, and the workflow reads them in pages (plan_nodes), as
    # one payload of 10,000 nodes would pass Temporal's 2 MB limit.
    nodes: list[PlanNode] = Field(default_factory=list)
    plan: Plan | None = None  # the full plan when small enough to travel through history
    # The digest of the stored document: the run goes on by reference with it.
    document_digest: str = ""


class NodesRequest(DocumentSource):
    plan_id: str
    offset: int
    limit: int


class WindowRequest(DocumentSource):
    """A page of the next window of nodes a run walks (activities.iac.windows)."""

    plan_id: str
    statuses: str  # one status letter per plan node, packed (workflows.iac.carry)
    node_count: int
    limit: int  # nodes in the window
    offset: int = 0  # of the window's nodes: where this page starts
    wait_on_failure: bool = False


class PlanWindow(BaseModel):
    """A page of the window: its nodes (deps cut to those not done), their plan indices and
    letters, and the statuses with the skips the window found (dependents of a failure)."""

    statuses: str
    size: int  # nodes in the whole window
    nodes: list[PlanNode] = Field(default_factory=list)
    indices: list[int] = Field(default_factory=list)
    letters: str = ""
    waiting: bool = False  # only nodes waiting on failures (and the failed): nothing else left


class NamesRequest(DocumentSource):
    """The names behind a run's status letters, for its result and its rollback."""

    plan_id: str
    statuses: str
    node_count: int
    limit: int
    rollback_offset: int = -1  # >= 0: a page of the rollback's nodes from there instead


class PlanNames(BaseModel):
    names: dict[str, list[str]] = Field(default_factory=dict)  # letter -> first `limit` keys
    counts: dict[str, int] = Field(default_factory=dict)  # letter -> how many
    rollback: int = 0  # the created and failed creates a rollback would delete
    rollback_nodes: list[PlanNode] = Field(default_factory=list)  # a page of them


class ActionRequest(BaseModel):
    target: StackTarget
    plan_id: str = ""  # deletes need none: they act on the recorded state
    name: str
    action: ActionKind
    type: str
    provider: str
    provider_type: str = ""
    depends_on: list[str] = Field(default_factory=list)
    create_before_destroy: bool = False
    part: ReplacePart = "whole"
    pending_only: bool = False

    def summary(self) -> str:
        what = {"whole": "", "new": " (new instance)", "old": " (delete old instance)"}
        return (
            f"{self.action} {self.type} {self.name}{what[self.part]}"
            f" ({self.provider_type or self.provider})"
        )


class ActionResult(BaseModel):
    name: str
    action: ActionKind
    output: ResourceOutput | None = None  # sensitive values masked
    part: ReplacePart = "whole"


class Reconciled(BaseModel):
    """What reconcile_action found of a cancelled action's resource."""

    name: str
    exists: bool
    provider_id: str = ""
    pending: bool = False  # a create's entry: the next apply adopts it


class LockRequest(BaseModel):
    target: StackTarget
    owner: str
    ttl: float = 300.0


# What the lock activities did, so their rows in the web UI say it. Runs started before these
# results existed have null in their history: the workflows declare them `| None`.
class LockHeld(BaseModel):
    stack: str
    holder: str  # "<workflow id>@<first run id>"
    expires_at: str  # UTC ISO, by the state store's clock
    taken_over_from: str = ""  # the holder of a lock whose run had ended, freed for this one


class LockReleased(BaseModel):
    stack: str
    holder: str
    released: bool  # False: it was not this run's any more (taken over after expiry, or freed)


class StateEntry(BaseModel):
    name: str
    type: str
    provider: str
    provider_id: str = ""
    pending: bool = False  # recorded by a create that has not finished


class StatePageRequest(BaseModel):
    """One page of a stack's recorded names, in name order, after `after`."""

    target: StackTarget
    after: str = ""
    limit: int = Field(5000, ge=1, le=10_000)


class StatePage(BaseModel):
    names: list[str] = Field(default_factory=list)
    more: bool = False  # names after the last one remain


class InspectRequest(BaseModel):
    target: StackTarget
    names: list[str]
    ignore_changes: dict[str, list[str]] = Field(default_factory=dict)
    # A drift by reference: the activity reads ignore_changes from the stored document.
    document_digest: str = ""


class ImportRequest(BaseModel):
    target: StackTarget
    resource: ImportTarget
    depends_on: list[str] = Field(default_factory=list)


class DriftBatch(BaseModel):
    checked: int = 0
    results: list[DriftResult] = Field(default_factory=list)  # drifted ones only
    ghosts: list[str] = Field(default_factory=list)
    stored: str = ""  # the digest of `results` stored beside the state (none when empty)


# ---- what workflows return and expose ----


class RunningAction(BaseModel):
    name: str  # the node key: `<name> (old)` for the old instance of a replace
    action: ActionKind
    since: str  # ISO time it was scheduled


class Progress(BaseModel):
    phase: str = ""
    total: int = 0
    done: int = 0
    running: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    skipped: int = 0
    waiting: int = 0  # not started yet: waiting for a dependency, a slot or a resume
    # A cancelled or aborted run: stopped mid-call (and reconciled), and never started.
    cancelled: list[str] = Field(default_factory=list)
    not_started: int = 0
    running_actions: list[RunningAction] = Field(default_factory=list)
    errors: list[ActionError] = Field(default_factory=list)
    paused: Paused | None = None
    # --on-failure wait: the run waits for `retry`, `skip` or `abort` since then (ISO time).
    awaiting_decision_since: str = ""
    parallelism: int = 0  # the cap for what starts next (0 before the walk)
    provider_parallelism: dict[str, int] = Field(default_factory=dict)
    # How many names each list above (failed, cancelled, errors) left out: a query answer
    # stays small however many actions failed.
    left_out: dict[str, int] = Field(default_factory=dict)

    def failed_count(self) -> int:
        return len(self.failed) + self.left_out.get("failed", 0)


class PlanOutcome(BaseModel):
    plan_id: str
    stack: str
    state_serial: int
    counts: dict[str, int] = Field(default_factory=dict)
    plan: Plan | None = None  # None for plans too large to inline: read it from the state store


RunStatus = Literal[
    "applied", "no_changes", "failed", "rejected", "approval_timeout", "rolled_back", "cancelled"
]


class ApplyOutcome(ApplyResult):
    stack: str = ""
    status: RunStatus = "applied"
    counts: dict[str, int] = Field(default_factory=dict)  # per action kind that succeeded
    skipped: list[str] = Field(default_factory=list)
    rolled_back: list[str] = Field(default_factory=list)
    reason: str = ""  # why it was rejected, aborted or cancelled
    # A cancelled (or aborted) run: what finished, what was stopped mid-call (and reconciled
    # with the cloud), what never started.
    done: list[str] = Field(default_factory=list)
    cancelled: list[str] = Field(default_factory=list)
    not_started: list[str] = Field(default_factory=list)
    # How many entries each list (errors, skipped, done, ...) left out: a result of a
    # 100,000-resource run stays under the payload limits.
    left_out: dict[str, int] = Field(default_factory=dict)


class DestroyOutcome(DestroyResult):
    stack: str = ""
    status: RunStatus = "applied"
    plan_id: str = ""
    skipped: list[str] = Field(default_factory=list)
    reason: str = ""
    cancelled: list[str] = Field(default_factory=list)
    not_started: list[str] = Field(default_factory=list)
    left_out: dict[str, int] = Field(default_factory=dict)  # as in ApplyOutcome


class DriftReport(BaseModel):
    stack: str
    checked: int = 0
    drifted: bool = False
    results: list[DriftResult] = Field(default_factory=list)  # drifted resources only
    ghosts: list[str] = Field(default_factory=list)  # recorded in state, gone from the cloud
    # Exact counts; the lists above hold at most RESULT_NAMES_LIMIT each and `left_out` says
    # how many each does not list, so an all-drifted 100,000-resource report stays small.
    drifted_count: int = 0
    ghost_count: int = 0
    left_out: dict[str, int] = Field(default_factory=dict)
    # Every result, listed or not: the digests of the batches' results in the state store's
    # documents (statestore.documents.load_drift reads them back).
    stored: list[str] = Field(default_factory=list)


class ResourceLiveStatus(BaseModel):
    name: str
    type: str
    provider: str
    provider_id: str = ""
    status: ResourceStatus = ResourceStatus.UNKNOWN
    message: str = ""


class StatusReport(BaseModel):
    stack: str
    resources: list[ResourceLiveStatus] = Field(default_factory=list)
    # Exact: every recorded resource, and how many are in each status. `resources` lists at
    # most RESULT_NAMES_LIMIT (those not ready first); `left_out["resources"]` the rest.
    total: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    left_out: dict[str, int] = Field(default_factory=dict)


class ApplyCarry(BaseModel):
    """What an apply hands to itself across continue-as-new."""

    plan_id: str
    kind: Literal["apply", "destroy"] = "apply"
    done: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    cancelled: list[str] = Field(default_factory=list)
    not_started: list[str] = Field(default_factory=list)
    created: list[str] = Field(default_factory=list)
    errors: list[ActionError] = Field(default_factory=list)
    outputs: list[ResourceOutput] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    control: ControlState = Field(default_factory=ControlState)  # pause, operator's caps
    # Instead of the name lists above: one status letter per plan node (workflows.iac.carry).
    statuses: str = ""
    node_count: int = 0


StackRunInput.model_rebuild()
ImportInput.model_rebuild()
