"""An apply's carry across continue-as-new, kept small however large the stack.

The names of what is done, failed, skipped, cancelled or not started grow with the stack
(about 2 MB of names at 100,000 resources); the carry holds instead one status letter per
plan node, in the plan's node order, zlib-compressed: a few KB, since a run hands over with
long stretches of one status. The node order is the plan's own (plan_nodes pages it out the
same way every time), so the next run of the chain reads the letters back against the same
nodes. Errors and outputs are capped: the full story of each resource is in the state store
and in the runs' histories.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from interfaces.iac import ActionError
    from workflows.iac.models import ApplyCarry, PlanNode

# Errors a carry hands on (each message cut to ERROR_CHARS); the run's result lists as many.
ERRORS_CARRIED = 100
ERROR_CHARS = 500
# Outputs a result lists: at most this many, and no more than OUTPUT_BYTES of them.
OUTPUTS_CARRIED = 500
OUTPUT_BYTES = 96 * 1024

_NOT_STARTED = "n"  # skipped because the run was aborted before it started
_UNRUN = "."
LETTERS = "dfscn."


def pack(carry: ApplyCarry, nodes: Sequence[PlanNode]) -> ApplyCarry:
    """The carry with its name lists folded into `statuses` (errors and outputs capped)."""
    status: dict[str, str] = {}
    for letter, names in (
        ("d", carry.done), ("f", carry.failed), ("s", carry.skipped), ("c", carry.cancelled),
        (_NOT_STARTED, carry.not_started),
    ):
        for name in names:
            status[name] = letter
    letters = "".join(status.get(node.key, _UNRUN) for node in nodes)
    packed = pack_letters(letters)
    return carry.model_copy(
        update={
            "done": [], "failed": [], "skipped": [], "cancelled": [], "not_started": [],
            "created": [],
            "statuses": packed,
            "node_count": len(nodes),
            "errors": capped_errors(carry.errors),
        }
    )


def unpack(carry: ApplyCarry, nodes: Sequence[PlanNode]) -> ApplyCarry:
    """The carry with its name lists back, read against the plan's nodes; a carry of a run
    that did not pack (an older history) as it is."""
    if not carry.statuses:
        return carry
    letters = unpack_letters(carry, len(nodes))
    lists: dict[str, list[str]] = {letter: [] for letter in ("d", "f", "s", "c", "n")}
    created = []
    for node, letter in zip(nodes, letters, strict=True):
        if letter == _UNRUN:
            continue
        lists[letter].append(node.key)
        if letter == _NOT_STARTED:
            lists["s"].append(node.key)
        elif letter == "d" and node.action == "create":
            created.append(node.name)
    return carry.model_copy(
        update={
            "done": lists["d"], "failed": lists["f"], "skipped": lists["s"],
            "cancelled": lists["c"], "not_started": lists["n"], "created": created,
            "statuses": "", "node_count": 0,
        }
    )


def pack_letters(letters: str) -> str:
    return base64.b64encode(zlib.compress(letters.encode())).decode()


def unpack_letters(carry: ApplyCarry, node_count: int) -> str:
    """The carry's status letters, checked against a plan of `node_count` nodes."""
    # A failed workflow task would be retried forever: a carry that does not fit the plan
    # (hand-written, or of another plan) fails the run instead, saying why.
    letters = read_letters(carry.statuses)
    if len(letters) != node_count or carry.node_count != node_count:
        raise _bad_carry(
            f"resume.statuses are for {carry.node_count} actions, plan {carry.plan_id} has "
            f"{node_count}"
        )
    return letters


def read_letters(packed: str) -> str:
    try:
        letters = zlib.decompress(base64.b64decode(packed, validate=True)).decode()
    except (ValueError, zlib.error) as error:
        raise _bad_carry(f"resume.statuses cannot be read ({error})") from None
    if set(letters) - set(LETTERS):
        raise _bad_carry("resume.statuses hold letters other than d, f, s, c, n and .")
    return letters


def _bad_carry(problem: str) -> ApplicationError:
    return ApplicationError(f"invalid workflow input: {problem}", type="InvalidInput",
                            non_retryable=True)


def capped_errors(errors: Sequence[ActionError]) -> list[ActionError]:
    return [
        error if len(error.error) <= ERROR_CHARS
        else error.model_copy(update={"error": error.error[:ERROR_CHARS] + " (cut)"})
        for error in errors[:ERRORS_CARRIED]
    ]
