"""Temporal's TracingInterceptor with wfctl's run attributes on the workflow-side spans.

Temporal records a workflow's spans (RunWorkflow, StartActivity, StartChildWorkflow,
CompleteWorkflow) as instants, ended as soon as they are made, so no later interceptor can
add to them; the attributes go in as the span is made. A stack workflow a pipeline starts as
its child then says which stack and phase it is, as a client-started run's StartWorkflow span
does (wfctl.tracing.run_attributes). Imported only when tracing is on.
"""

from __future__ import annotations

from typing import Any

import temporalio.worker
import temporalio.workflow
from temporalio.common import TypedSearchAttributes
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor

from wfctl.tracing import run_attributes
from workflows.search_attributes import PHASE, STACK_NAME


class WfctlTracingInterceptor(TracingInterceptor):
    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)  # registers the span-recording extern
        return _WorkflowSpans


def workflow_span_attributes(outbound: object) -> dict[str, str]:
    """The run a workflow span belongs to: the child's for StartChildWorkflow, else the
    workflow's own; the stack and phase from the search attributes a pipeline gives its
    stack children (their ids do not always spell the phase: `stack:<name>`)."""
    if isinstance(outbound, temporalio.worker.StartChildWorkflowInput):
        found = run_attributes(outbound.workflow, outbound.id)
        searched = outbound.search_attributes
    else:
        info = temporalio.workflow.info()
        found = run_attributes(info.workflow_type, info.workflow_id)
        searched = info.typed_search_attributes
    if isinstance(searched, TypedSearchAttributes):
        for key, name in ((STACK_NAME, "wfctl.stack"), (PHASE, "wfctl.phase")):
            value = searched.get(key)
            if value:
                found[name] = value
    return found


class _WorkflowSpans(TracingWorkflowInboundInterceptor):
    # Temporal's one place where a workflow span is made; spans are not made on replay, so
    # what this adds never touches the workflow's commands.
    def _completed_span(self, span_name: str, **kwargs: Any) -> None:
        attributes = workflow_span_attributes(kwargs.get("add_to_outbound"))
        attributes.update(kwargs.pop("additional_attributes", None) or {})
        super()._completed_span(span_name, additional_attributes=attributes, **kwargs)
