"""Expected failures as one line in the worker's log; a traceback only for a bug.

The Temporal SDK logs every failed activity attempt with its traceback ("Completing activity
as failed", temporalio/worker/_activity.py) and logs nothing when a workflow fails. A step
refusing its input, a cloud refusing a create, a stack started with a bad document: each is an
ApplicationError the code raised on purpose, and its stack says nothing a user needs. So:

- `OneLineFailures`, a filter on the `temporalio.activity` logger, rewrites the SDK's record
  of an activity that failed with an ApplicationError into one line naming the run, what the
  activity worked on (a step, a resource) and the error. Any other exception type is a bug and
  keeps its traceback.
- `FailureLogInterceptor` tells the filter what the activity worked on, and logs one line when
  a workflow fails with an ApplicationError of its own (bad input, a failed step it did not
  already log as an activity).
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from activities.pipeline_steps import step_of_activity_type
from engine.redaction import redact_text

log = logging.getLogger("wfctl.failures")

# What the running activity works on ('step "check" (step.validate)'), for the filter: the
# SDK logs the failure in the same task, after the interceptor has returned.
_subject: contextvars.ContextVar[str] = contextvars.ContextVar("wfctl_activity_subject", default="")

SDK_ACTIVITY_FAILURE = "Completing activity as failed"


def subject_of(arg: Any) -> str:
    """What an activity input works on: a pipeline step, or a stack resource."""
    step = getattr(arg, "step", None)
    if step is not None and hasattr(step, "name") and hasattr(step, "type"):
        return f'step "{step.name}" ({step.type})'
    target = getattr(arg, "target", None)
    stack = getattr(target, "stack", "") or getattr(arg, "stack", "")
    name = getattr(arg, "name", "")
    if stack and isinstance(name, str) and name:
        return f'stack "{stack}" resource "{name}"'
    return f'stack "{stack}"' if isinstance(stack, str) and stack else ""


def subject_of_type(activity_type: str) -> str:
    """A step's activity type, `<name> (<type>)`, said as subject_of says a step.

    The dynamic activity that serves named steps receives raw payloads, so its input cannot
    say which step it is; its type does."""
    step = step_of_activity_type(activity_type)
    return f'step "{step[0]}" ({step[1]})' if step else activity_type


def failure_line(where: str, error: ApplicationError) -> str:
    kind = error.type or "ApplicationError"
    retry = "" if error.non_retryable else " (retryable)"
    return f"{where} failed: {kind}: {error.message}{retry}"


class OneLineFailures(logging.Filter):
    """The SDK's activity failure record, one line when the error was raised on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        # The SDK's adapter appends the activity's details to the message: match its start.
        if not str(record.msg).startswith(SDK_ACTIVITY_FAILURE) or not record.exc_info:
            return True
        error = record.exc_info[1]
        if not isinstance(error, ApplicationError):
            return True  # a bug: the traceback is what its author needs
        details: dict[str, Any] = getattr(record, "temporal_activity", None) or {}
        parts = [str(details.get("workflow_id") or "activity")]
        subject = _subject.get()
        parts.append(subject or subject_of_type(str(details.get("activity_type", ""))))
        attempt = details.get("attempt", 1)
        where = ": ".join(p for p in parts if p)
        if attempt and attempt != 1:
            where += f" (attempt {attempt})"
        # Redacted here: the record factory (wfctl.log_redaction) redacted the SDK's text, not
        # this one, and an error message may quote a URL with its credentials.
        record.msg, record.args = redact_text(failure_line(where, error)), None
        # exc_text too: the redacting record factory has set it from the traceback already.
        record.exc_info, record.exc_text = None, None
        return True


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        _subject.set(subject_of(input.args[0]) if input.args else "")
        return await super().execute_activity(input)


class _WorkflowOutbound(WorkflowOutboundInterceptor):
    """Remembers the messages of the activity failures this run saw (each already logged)."""

    def __init__(self, next: WorkflowOutboundInterceptor, seen: set[str]) -> None:
        super().__init__(next)
        self.seen = seen

    def _watch(self, handle: Any) -> Any:
        def done(task: Any) -> None:
            if task.cancelled():
                return
            error = task.exception()
            # A local activity's failure arrives as the ApplicationError itself.
            if isinstance(error, ActivityError):
                error = error.cause
            if isinstance(error, ApplicationError):
                self.seen.add(error.message)

        handle.add_done_callback(done)
        return handle

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        return self._watch(super().start_activity(input))

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
        return self._watch(super().start_local_activity(input))


class _WorkflowInbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        self.seen: set[str] = set()
        super().init(_WorkflowOutbound(outbound, self.seen))

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        try:
            return await super().execute_workflow(input)
        except ApplicationError as error:
            if not workflow.unsafe.is_replaying() and not self._logged(error):
                info = workflow.info()
                log.warning(failure_line(f"{info.workflow_id}: {info.workflow_type}", error))
            raise

    def _logged(self, error: ApplicationError) -> bool:
        """Whether the failure is an activity failure (or a child's) already logged."""
        if isinstance(error.cause, ChildWorkflowError):
            return True
        return any(message and message in error.message for message in self.seen)


class FailureLogInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _WorkflowInbound


def install_worker_logging() -> None:
    """One line per expected failure in this process's log (see the module's doc)."""
    activity_logger = logging.getLogger("temporalio.activity")
    if not any(isinstance(f, OneLineFailures) for f in activity_logger.filters):
        activity_logger.addFilter(OneLineFailures())
