"""The worker's guard for what the SDK decodes before a workflow can: payloads beyond a
handler's parameters.

wfctl's handlers take their input as a `RawValue` (workflows.raw_input), but the SDK passes
the hints only when the number of payloads is the number of parameters. Otherwise it decodes
every payload with no hint and calls the handler with all of them: `temporal workflow start
--input '{}' --input '{}'` was a TypeError in run(), a second payload nested 3000 deep was
"Failed decoding arguments", and either failed the workflow *task*, retried forever (holding
`stack:<name>` for an ApplyWorkflow). Two guards, on every worker `guarded_worker` builds:

- The payload converter: a payload decoded without a type hint that cannot be decoded raises
  a non-retryable InvalidInput. The SDK lets a FailureError out of conversion fail the run,
  reject the Update or fail the query, instead of the task. wfctl gives every activity and
  child workflow its result type, so what reaches a worker without a hint is only extra
  arguments -- and failure details, whose failure to decode would otherwise wedge the task
  too. Everything decoded with a hint (activity and child results) is unchanged.
- An interceptor: a run or an Update given more arguments than its handler takes is
  refused with InvalidInput before the handler (or the Update's validator) is called.

Queries and signals need no guard. wfctl's queries take no argument, and for a handler with
no parameters the SDK drops whatever arguments it is given (one it cannot decode fails the
query, never the task). No workflow has a signal handler, and the SDK only buffers a signal
nothing handles.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.worker import (
    ExecuteWorkflowInput,
    HandleUpdateInput,
    Interceptor,
    Worker,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from engine.bounded_json import InvalidJSON
from workflows.raw_input import decode_raw_payload, invalid_input

# An error message from deep inside a decoder is cut to this many characters.
REASON_CHARS = 300


class InputGuardedPayloadConverter(PydanticPayloadConverter):
    """The pydantic converter; what it cannot decode without a type hint is InvalidInput."""

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[type] | None = None
    ) -> list[Any]:
        if type_hints is not None:
            return super().from_payloads(payloads, type_hints)
        values = []
        for index, payload in enumerate(payloads):
            try:
                values.extend(super().from_payloads([payload]))
            except Exception as error:
                raise invalid_input(
                    f"invalid input: cannot decode input {index + 1} of {len(payloads)}: "
                    f"{_reason(payload, error)}"
                ) from None
        return values


def _reason(payload: Payload, error: Exception) -> str:
    """What is wrong with the payload, as the workflows' own validation says it (with the
    path to the problem); the decoder's own words only for what that validation accepts."""
    try:
        decode_raw_payload(payload)
    except InvalidJSON as refused:
        return str(refused)
    while error.__cause__ is not None and isinstance(error.__cause__, Exception):
        error = error.__cause__
    return str(error)[:REASON_CHARS]


class InputCountInterceptor(Interceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _InputCountInbound


class _InputCountInbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        # run_fn is unbound: its first parameter is the workflow object.
        _check(
            f"invalid workflow input: {workflow.info().workflow_type}",
            _most_arguments(input.run_fn, skip=1), len(input.args), "input",
        )
        return await super().execute_workflow(input)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        # Every wfctl Update has a validator: what it refuses never reaches the handler, and
        # an Update refused here is not in history, so replay never sees it either.
        # workflow.get_update_handler() gives a bound handler, an async one wrapped as taking
        # *args; the workflow's definition has the function the SDK counts the parameters of.
        definition = workflow._Definition.must_from_class(type(workflow.instance()))
        handler = definition.updates.get(input.update)
        if handler is not None:  # None: a dynamic handler, which takes whatever it is given
            most = _most_arguments(handler.fn, skip=1 if handler.is_method else 0)
            _check(f"invalid Update argument: {input.update}", most, len(input.args), "argument")
        super().handle_update_validator(input)


def _check(what: str, most: int | None, given: int, noun: str) -> None:
    # Fewer is the handler's business: wfctl's default a missing argument to NO_PAYLOAD and
    # say themselves what is missing.
    if most is not None and given > most:
        plural = "" if most == 1 else "s"
        raise invalid_input(f"{what} takes {most or 'no'} {noun}{plural}, it was given {given}")


def _most_arguments(function: Callable[..., Any], skip: int = 0) -> int | None:
    """How many positional arguments the function takes (None: any number)."""
    most = 0
    for parameter in list(inspect.signature(function).parameters.values())[skip:]:
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            most += 1
    return most


def guarded_worker(client: Client, **options: Any) -> Worker:
    """A Worker (`options` as for Worker) with both guards: the client's data converter (the
    pydantic one, with its codec and failure converter) guarded, and the interceptor."""
    config = client.config()
    converter = config["data_converter"]
    if converter.payload_converter_class is not PydanticPayloadConverter:
        raise TypeError(
            f"a wfctl worker needs the pydantic payload converter, not "
            f"{converter.payload_converter_class.__name__}"
        )
    config["data_converter"] = dataclasses.replace(
        converter, payload_converter_class=InputGuardedPayloadConverter
    )
    interceptors = [*options.pop("interceptors", ()), InputCountInterceptor()]
    return Worker(Client(**config), interceptors=interceptors, **options)
