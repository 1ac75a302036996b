"""Workflow inputs and Update arguments taken as raw payloads and decoded here, within bounds.

A handler parameter typed `RawValue` is not decoded by the data converter, so a payload it
could not decode no longer fails the workflow task (retried forever); `engine.bounded_json`
decodes it, and what it refuses becomes a non-retryable ApplicationError of type
InvalidInput: the run, or the Update, fails at once saying why.

The SDK honours the hint only when the number of payloads is the number of parameters: a
run started with two `--input`s is decoded by the data converter without hints, and run() is
called with one argument too many. wfctl.input_guard closes that gap on every worker wfctl
builds: its payload converter turns what it cannot decode without a hint into InvalidInput,
and its interceptor refuses a run or an Update given more arguments than the handler takes.

An encrypted payload the worker cannot decrypt (no keys, or not the key it was written with)
reaches these handlers still encrypted, marked by the worker's codec with the reason
(wfctl.codec.EncryptionCodec): it is refused here, as InvalidInput quoting that reason,
instead of failing the workflow task on every retry.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from engine.bounded_json import MAX_BYTES, InvalidJSON, decode_payload
from interfaces.payload_encryption import UNREADABLE_METADATA

T = TypeVar("T")

# The default of a RawValue parameter: started (or updated) with no payload at all.
NO_PAYLOAD = RawValue(Payload())
# An Update argument is a name, a comment, a decision: no reason for it to be large.
UPDATE_MAX_BYTES = 64 * 1024


def invalid_input(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidInput", non_retryable=True)


def workflow_input(raw: RawValue) -> Any:
    """The decoded input of a run; raises InvalidInput naming what cannot be decoded."""
    if _missing(raw):
        raise invalid_input("invalid workflow input: the run was started without an input")
    try:
        return decode_raw_payload(raw.payload)
    except InvalidJSON as error:
        raise invalid_input(f"invalid workflow input: {error}") from None


def update_argument(raw: RawValue, kind: type[T], default: T | None = None) -> T:
    """An Update's argument decoded and checked as `kind` (a pydantic model or a plain type).

    Raised in a validator this rejects the Update; raised in the handler (on replay, where
    validators do not run) it fails the Update. The workflow task goes on either way."""
    if _missing(raw):
        if default is None:
            raise invalid_input("invalid Update argument: none was given")
        return default
    try:
        value = decode_raw_payload(raw.payload, max_bytes=UPDATE_MAX_BYTES)
    except InvalidJSON as error:
        raise invalid_input(f"invalid Update argument: {error}") from None
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        try:
            return kind.model_validate(value)  # type: ignore[return-value]
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'argument'}: {e['msg']}"
                for e in error.errors(include_url=False)
            )
            raise invalid_input(f"invalid Update argument: {problems}") from None
    if not isinstance(value, kind):
        raise invalid_input(
            f"invalid Update argument: expected a {kind.__name__}, got {type(value).__name__}"
        )
    return value


def _missing(raw: RawValue) -> bool:
    return not raw.payload.metadata and not raw.payload.data


def decode_raw_payload(payload: Payload, max_bytes: int = MAX_BYTES) -> Any:
    """The payload's value, or InvalidJSON naming what is wrong with it."""
    unreadable = payload.metadata.get(UNREADABLE_METADATA)
    if unreadable is not None:
        raise InvalidJSON(unreadable.decode("utf-8", "replace"))
    encoding = payload.metadata.get("encoding", b"").decode("utf-8", "replace")
    return decode_payload(encoding, payload.data, max_bytes=max_bytes)
