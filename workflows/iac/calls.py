"""How the IaC workflows call their activities: names, timeouts, retries, error messages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from engine.iac.stack import StackDocument, parse_stack
    from interfaces.errors import ConfigError
    from workflows.iac.ids import id_problem
    from workflows.iac.models import StackRunInput
    from workflows.raw_input import workflow_input

M = TypeVar("M", bound=StackRunInput)
R = TypeVar("R")

# Throttling and transient errors are retried; a classified permanent error fails at once.
ACTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=0.5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
)
SHORT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=0.5),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=10,
)
SHORT_TIMEOUT = timedelta(seconds=60)


def parse_input(raw: RawValue, model: type[M]) -> tuple[M, StackDocument]:
    """The run's input and its stack document, or a non-retryable error saying what is wrong.

    Called first thing, before the run takes any lock or sets a search attribute. The run's
    id must be its stack's (workflows.iac.ids): a run of stack A under the id of stack B would
    hold B's lock while changing A."""
    request = _checked_input(raw, model)
    return request, _parsed_document(request)


def parse_run_input(raw: RawValue) -> StackRunInput:
    """parse_input for apply and destroy, which parse their stack document once per chain: a
    run continued as new carries the document the chain's first run parsed, and its saved
    plan's activities parse it again anyway (a document wrong there fails the run as clearly).
    Parsing 10,000 resources in every run's first workflow task took it past the SDK's 2 s
    deadlock detector on a loaded worker: the task failed and was retried, run after run."""
    request = _checked_input(raw, StackRunInput)
    if request.resume is None:
        _parsed_document(request)
    return request


def _checked_input(raw: RawValue, model: type[M]) -> M:
    try:
        request = model.model_validate(workflow_input(raw))
    except ValidationError as error:
        raise ApplicationError(
            f"invalid workflow input: {error}", type="InvalidInput", non_retryable=True
        ) from None
    info = workflow.info()
    problem = id_problem(info.workflow_type, info.workflow_id, request.stack)
    if problem:
        raise ApplicationError(problem, type="InvalidInput", non_retryable=True)
    return request


def _parsed_document(request: StackRunInput) -> StackDocument:
    try:
        return parse_stack(request.document(), f'stack "{request.stack}"')
    except ConfigError as error:
        raise ApplicationError(str(error), type="ConfigError", non_retryable=True) from None


def failure_reason(error: BaseException) -> str:
    """The innermost useful message of an activity failure."""
    cause = error.cause if isinstance(error, ActivityError) and error.cause else error
    if isinstance(cause, TimeoutError):
        return f"timed out ({cause.type.name.lower() if cause.type else 'timeout'})"
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause) or type(cause).__name__


def as_workflow_failure(error: ActivityError) -> ApplicationError:
    """An activity's classified failure re-raised as the workflow's own, same type and text."""
    cause = error.cause
    kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
    return ApplicationError(failure_reason(error), type=kind, non_retryable=True)


async def call(
    name: str,
    arg: Any,
    result_type: type[R],
    summary: str,
    *,
    timeout: timedelta = SHORT_TIMEOUT,
    heartbeat: timedelta | None = None,
    retry: RetryPolicy = SHORT_RETRY,
) -> R:
    return await workflow.execute_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=timeout,
        heartbeat_timeout=heartbeat,
        retry_policy=retry,
        summary=summary,
    )
