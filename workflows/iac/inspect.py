"""DriftWorkflow, StatusWorkflow and ImportWorkflow: reading the cloud, batch by batch.

Resources are read in batches of BATCH per activity, so a 10,000-resource stack costs a few
hundred history events, not tens of thousands.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from interfaces.iac import ResourceState
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
        StatusReport,
    )
    from workflows.iac.stack_run import StackRun
    from workflows.metrics import recorded
    from workflows.raw_input import NO_PAYLOAD

BATCH = 200


async def _state_names(target: StackTarget) -> list[str]:
    entries = await call("list_state", target, list[StateEntry], f"list state of {target.stack}")
    return [entry.name for entry in entries]


async def _batched(names: list[str], parallelism: int, run: Any) -> list[Any]:
    """Run `run(batch)` over batches of names, at most `parallelism` at a time, in order."""
    gate = asyncio.Semaphore(max(1, parallelism))

    async def one(batch: list[str]) -> Any:
        async with gate:
            return await run(batch)

    batches = [names[i : i + BATCH] for i in range(0, len(names), BATCH)]
    return list(await asyncio.gather(*(one(batch) for batch in batches)))


@workflow.defn(name="DriftWorkflow")
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
        report = DriftReport(stack=request.stack)
        for batch in batches:
            report.checked += batch.checked
            report.results.extend(batch.results)
            report.ghosts.extend(batch.ghosts)
        report.drifted = bool(report.results)
        return report


@workflow.defn(name="StatusWorkflow")
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
        return StatusReport(
            stack=request.stack, resources=[entry for batch in batches for entry in batch]
        )


@workflow.defn(name="ImportWorkflow")
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
