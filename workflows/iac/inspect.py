"""DriftWorkflow, StatusWorkflow and ImportWorkflow: reading the cloud, batch by batch.

Resources are read in batches of BATCH per activity, so a 10,000-resource stack costs a few
hundred history events, not tens of thousands. The recorded names come in pages
(list_state_page) and the reports list at most RESULT_NAMES_LIMIT entries per kind with exact
counts: at 100,000 resources one listing or an all-drifted report would pass Temporal's 2 MB
payload limit, and a workflow whose completion is refused retries forever holding its id.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from interfaces.iac import ResourceState, ResourceStatus
    from workflows.iac.apply import RESULT_NAMES_LIMIT, capped
    from workflows.iac.calls import as_workflow_failure, call, parse_input
    from workflows.iac.models import (
        DriftBatch,
        DriftReport,
        ImportInput,
        ImportRequest,
        InspectRequest,
        ResourceLiveStatus,
        StackRunInput,
        StackTarget,
        StateEntry,
        StatePage,
        StatePageRequest,
        StatusReport,
    )
    from workflows.iac.runner import SANDBOXED
    from workflows.iac.stack_run import StackRun
    from workflows.metrics import recorded
    from workflows.raw_input import NO_PAYLOAD

BATCH = 200
# Names per listing page: at most ~150 KB of names however long the stack.
STATE_PAGE = 5000
# Runs that started listing the state in one activity result go on doing so on replay.
PAGED_LISTING = "state-listing-in-pages"


async def _state_names(target: StackTarget) -> list[str]:
    if not workflow.patched(PAGED_LISTING):
        entries = await call(
            "list_state", target, list[StateEntry], f"list state of {target.stack}"
        )
        return [entry.name for entry in entries]
    names: list[str] = []
    while True:
        after = names[-1] if names else ""
        page = await call(
            "list_state_page",
            StatePageRequest(target=target, after=after, limit=STATE_PAGE),
            StatePage,
            f"list state of {target.stack} after {after!r}" if after
            else f"list state of {target.stack}",
        )
        names.extend(page.names)
        if not page.more or not page.names:
            return names


def drift_report(stack: str, batches: list[DriftBatch]) -> DriftReport:
    """The batches' findings, counted exactly and listed up to RESULT_NAMES_LIMIT each."""
    report = DriftReport(stack=stack)
    for batch in batches:
        report.checked += batch.checked
        report.results.extend(batch.results)
        report.ghosts.extend(batch.ghosts)
        if batch.stored:
            report.stored.append(batch.stored)
    report.drifted = bool(report.results)
    report.drifted_count, report.ghost_count = len(report.results), len(report.ghosts)
    if len(report.results) > RESULT_NAMES_LIMIT:
        report.left_out["results"] = len(report.results) - RESULT_NAMES_LIMIT
        del report.results[RESULT_NAMES_LIMIT:]
    report.left_out.update(capped({"ghosts": report.ghosts}))
    return report


def status_report(stack: str, entries: list[ResourceLiveStatus]) -> StatusReport:
    """Every status counted; listed up to RESULT_NAMES_LIMIT, those not ready first (the
    ones an operator looks for), each part in name order."""
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.status.value] = counts.get(entry.status.value, 0) + 1
    report = StatusReport(stack=stack, total=len(entries), counts=counts)
    if len(entries) <= RESULT_NAMES_LIMIT:
        report.resources = entries
        return report
    ready = ResourceStatus.READY
    listed = [e for e in entries if e.status != ready] + [e for e in entries if e.status == ready]
    report.resources = listed[:RESULT_NAMES_LIMIT]
    report.left_out["resources"] = len(entries) - RESULT_NAMES_LIMIT
    return report


async def _batched(names: list[str], parallelism: int, run: Any) -> list[Any]:
    """Run `run(batch)` over batches of names, at most `parallelism` at a time, in order."""
    gate = asyncio.Semaphore(max(1, parallelism))

    async def one(batch: list[str]) -> Any:
        async with gate:
            return await run(batch)

    batches = [names[i : i + BATCH] for i in range(0, len(names), BATCH)]
    return list(await asyncio.gather(*(one(batch) for batch in batches)))


@workflow.defn(name="DriftWorkflow", sandboxed=SANDBOXED)
class DriftWorkflow(StackRun):
    """Compare every recorded resource with the cloud; ghosts are the ones gone from it."""

    @workflow.run
    @recorded("drift")
    async def run(self, input: RawValue = NO_PAYLOAD) -> DriftReport:
        request, document = parse_input(input, StackRunInput)
        self.set_phase(request.stack, "drift")
        target = request.target()
        ignore = {
            resource.name: resource.lifecycle.ignore_changes
            for resource in document.resources
            if resource.lifecycle.ignore_changes
        }

        async def check_all() -> list[DriftBatch]:
            names = await _state_names(target)
            self._progress.total = len(names)

            async def check(batch: list[str]) -> DriftBatch:
                result = await call(
                    "check_drift",
                    InspectRequest(
                        target=target,
                        names=batch,
                        ignore_changes={n: ignore[n] for n in batch if n in ignore},
                        document_digest=request.document_digest,
                    ),
                    DriftBatch,
                    f"check drift of {batch[0]}..{batch[-1]} ({len(batch)})",
                    timeout=timedelta(minutes=30),
                    heartbeat=timedelta(seconds=request.heartbeat_timeout),
                )
                self._progress.done += len(batch)
                return result

            try:
                return await _batched(names, request.parallelism, check)
            except ActivityError as error:
                raise as_workflow_failure(error) from None

        batches = await self.locked(request, check_all)
        return drift_report(request.stack, batches)


@workflow.defn(name="StatusWorkflow", sandboxed=SANDBOXED)
class StatusWorkflow(StackRun):
    """Live status of every recorded resource; takes no lock (it changes nothing)."""

    @workflow.run
    @recorded("status")
    async def run(self, input: RawValue = NO_PAYLOAD) -> StatusReport:
        request, _ = parse_input(input, StackRunInput)
        self.set_phase(request.stack, "status")
        target = request.target()
        names = await _state_names(target)
        self._progress.total = len(names)

        async def read(batch: list[str]) -> list[ResourceLiveStatus]:
            return await call(
                "read_live_status",
                InspectRequest(target=target, names=batch),
                list[ResourceLiveStatus],
                f"read status of {batch[0]}..{batch[-1]} ({len(batch)})",
                timeout=timedelta(minutes=30),
                heartbeat=timedelta(seconds=request.heartbeat_timeout),
            )

        batches = await _batched(names, request.parallelism, read)
        self.set_phase(request.stack, "done")
        return status_report(request.stack, [entry for batch in batches for entry in batch])


@workflow.defn(name="ImportWorkflow", sandboxed=SANDBOXED)
class ImportWorkflow(StackRun):
    """Adopt an existing cloud resource: its ResourceState is read and saved in the state."""

    @workflow.run
    @recorded("import")
    async def run(self, input: RawValue = NO_PAYLOAD) -> ResourceState:
        request, document = parse_input(input, ImportInput)
        self.set_phase(request.stack, "import")
        wanted = request.resource
        if wanted.provider not in document.providers:
            raise ApplicationError(
                f'import: stack "{request.stack}" has no provider "{wanted.provider}"',
                type="ConfigError",
                non_retryable=True,
            )
        declared = document.by_name.get(wanted.name)

        async def adopt() -> ResourceState:
            try:
                return await call(
                    "import_resource",
                    ImportRequest(
                        target=request.target(),
                        resource=wanted,
                        depends_on=sorted(declared.depends_on) if declared else [],
                    ),
                    ResourceState,
                    f"import {wanted.type} {wanted.name} ({wanted.id})",
                )
            except ActivityError as error:
                raise as_workflow_failure(error) from None

        return await self.locked(request, adopt)
