"""Activities of the pipeline's IaC steps: read the stack, describe a plan, read outputs.

They run on the pipeline worker. The stack file is read here, on the worker, resolved against
the folder of the pipeline file declaring the step; what the step's child workflow receives is
the document as `wfctl infra` sends it (a relative SQLite state path made absolute against the
state directory, the one rule of statestore.factory, whether the stack is a file or inline).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from engine.iac.plan_render import is_sensitive, render_plan
from engine.iac.stack import StackDocument, load_stack_file, parse_stack
from interfaces.errors import ConfigError
from statestore import documents, open_state_store
from statestore.factory import with_absolute_path

# A plan's text and action list travel through the pipeline's history and state: a plan of
# thousands of actions is cut here, well under Temporal's 2 MB payload limit.
SUMMARY_LIMIT = 64_000
ACTIONS_LIMIT = 1000


class IacStepRequest(BaseModel):
    pipeline: str
    step: str
    source: str  # the pipeline file, for messages
    folder: str  # the pipeline file's folder ("" for pipelines loaded from text)
    stack: str = ""
    document: dict[str, Any] | None = None
    targets: list[str] = Field(default_factory=list)
    plan: str = ""  # a plan id the step applies: checked to be one of this stack's


class PreparedStack(BaseModel):
    # The child workflow's input, less the run's options: a large stack's names its document
    # stored in the state store (statestore.documents), so neither this result nor the
    # child's input carries it.
    document: dict[str, Any]
    task_queue: str


class PlanQuery(BaseModel):
    document: dict[str, Any]
    plan_id: str


class PlanDescription(BaseModel):
    summary: str
    actions: list[dict[str, Any]] = Field(default_factory=list)


class OutputsQuery(BaseModel):
    document: dict[str, Any]
    names: list[str] | None = None  # None: every recorded resource


# Resources whose outputs one step lists: a 100,000-resource stack's would pass the payload limit.
OUTPUTS_LIMIT = 1000


class RecordedOutputs(BaseModel):
    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)  # the first, in name order
    total: int = 0  # resources matched, listed or not
    left_out: int = 0


def _refused(request: IacStepRequest, problem: str) -> ApplicationError:
    where = f'{request.source}: pipeline "{request.pipeline}": step "{request.step}"'
    return ApplicationError(f"{where}: {problem}", type="ConfigError", non_retryable=True)


def _as_input(doc: StackDocument) -> dict[str, Any]:
    data = doc.model_dump(mode="json", exclude_defaults=True)
    data["state"] = with_absolute_path(doc.state.model_dump(mode="json", exclude_none=True))
    data["stack"] = doc.stack
    return data


def prepare(request: IacStepRequest) -> dict[str, Any]:
    """The stack document of a step, checked; raises ConfigError naming what is wrong."""
    if request.stack:
        path = Path(request.stack).expanduser()
        if not path.is_absolute():
            if not request.folder:
                raise ConfigError(
                    f"stack {request.stack!r} is a relative path, but this pipeline was not "
                    "loaded from a file; give an absolute path or an inline `document`"
                )
            path = Path(request.folder) / path
        doc = load_stack_file(path)  # ConfigError with the parser's messages, file and line
    else:
        doc = parse_stack(request.document, "document")
    unknown = [name for name in request.targets if name not in doc.by_name]
    if unknown:
        raise ConfigError(
            f'stack "{doc.stack}" has no resource {", ".join(repr(n) for n in unknown)} '
            f"(targets); it has: {', '.join(sorted(doc.by_name)) or 'none'}"
        )
    document = _as_input(doc)
    if request.plan:
        _check_plan(document, request.plan)
    return documents.by_reference_if_large(
        document, lambda: open_state_store(document.get("state") or {}, doc.stack)
    )


def _check_plan(document: dict[str, Any], plan_id: str) -> None:
    stack = document["stack"]
    store = open_state_store(document.get("state") or {}, stack)
    try:
        plan = store.get_plan(plan_id)
    finally:
        store.close()
    # A store keeps each stack's plans apart, so another stack's plan is not found either.
    if plan is None:
        raise ConfigError(
            f'plan {plan_id[:100]!r} is not a saved plan of stack "{stack}" (a plan of another '
            "stack, or no plan id at all?)"
        )


def describe(query: PlanQuery) -> PlanDescription:
    store = open_state_store(query.document.get("state") or {}, query.document["stack"])
    try:
        plan = store.get_plan(query.plan_id)
    finally:
        store.close()
    if plan is None:
        raise ConfigError(f"plan {query.plan_id} is not in the state store")
    actions = [
        {
            "name": action.resource.name,
            "type": action.resource.type,
            "action": action.action,
            "changed": [change.path for change in action.changes],
        }
        for action in plan.actions[:ACTIONS_LIMIT]
    ]
    return PlanDescription(summary=bounded_summary(render_plan(plan)), actions=actions)


def bounded_summary(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """The plan text, or its head and its `Plan: ...` line with how much was left out."""
    if len(text) <= limit:
        return text
    head, _, last = text.rpartition("\n")
    kept = head[:limit].rpartition("\n")[0]
    left = head.count("\n") - kept.count("\n")
    return f"{kept}\n... ({left} more lines: `wfctl infra plan` shows them all)\n{last}"


def recorded_outputs(query: OutputsQuery) -> dict[str, dict[str, Any]]:
    """name -> recorded outputs, each sensitive (marked or sensitive-looking) key left out."""
    store = open_state_store(query.document.get("state") or {}, query.document["stack"])
    try:
        states = store.list_resources()
    finally:
        store.close()
    wanted = None if query.names is None else set(query.names)
    return {
        state.name: {
            key: value
            for key, value in state.outputs.items()
            if not is_sensitive(key, state.sensitive)
        }
        for state in states
        if wanted is None or state.name in wanted
    }


def capped_outputs(query: OutputsQuery) -> RecordedOutputs:
    """recorded_outputs, at most OUTPUTS_LIMIT resources of them, with how many it left out."""
    every = recorded_outputs(query)
    names = sorted(every)
    kept = names[:OUTPUTS_LIMIT]
    return RecordedOutputs(
        outputs={name: every[name] for name in kept},
        total=len(names),
        left_out=len(names) - len(kept),
    )


class IacStepActivities:
    def __init__(self, iac_task_queue: str) -> None:
        # Where the steps' stack workflows run: the IaC worker's queue.
        self.iac_task_queue = iac_task_queue

    @activity.defn(name="prepare_iac_step")
    async def prepare_iac_step(self, request: IacStepRequest) -> PreparedStack:
        try:
            document = await asyncio.to_thread(prepare, request)
        except ConfigError as error:
            raise _refused(request, "; ".join(error.problems)) from None
        return PreparedStack(document=document, task_queue=self.iac_task_queue)

    @activity.defn(name="describe_iac_plan")
    async def describe_iac_plan(self, query: PlanQuery) -> PlanDescription:
        try:
            return await asyncio.to_thread(describe, query)
        except ConfigError as error:
            raise ApplicationError(str(error), type="ConfigError", non_retryable=True) from None

    @activity.defn(name="iac_recorded_outputs")
    async def iac_recorded_outputs(self, query: OutputsQuery) -> dict[str, dict[str, Any]]:
        return await asyncio.to_thread(recorded_outputs, query)

    @activity.defn(name="iac_recorded_outputs_capped")
    async def iac_recorded_outputs_capped(self, query: OutputsQuery) -> RecordedOutputs:
        return await asyncio.to_thread(capped_outputs, query)

    def all(self) -> list[Any]:
        return [
            self.prepare_iac_step,
            self.describe_iac_plan,
            self.iac_recorded_outputs,
            self.iac_recorded_outputs_capped,
        ]
