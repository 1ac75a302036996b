"""Request ids and waiting for Google's long-running operations.

Compute's `ExtendedOperation.result()` would poll through an operations client the SDK builds
without our client options (so a configured endpoint would be ignored); every mutation here
uses the `*_unary` call and polls with our own Global/Region/ZoneOperationsClient. Waits go
through providers.waiting, so they heartbeat and see cancellation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from google.cloud import compute_v1
from google.longrunning import operations_pb2
from temporalio import activity

from interfaces.errors import ProviderError
from providers.gcp import errors
from providers.gcp.clients import GcpClients
from providers.waiting import wait_until

REQUEST_ID_NAMESPACE = uuid.UUID("5d0f8a52-4a3e-4c1e-9a55-2f1b9b0c6e71")
# A request id whose operation already failed (retryably) cannot be sent again: Google would
# answer with that failed operation. The next generation of the same id is the retry.
MAX_GENERATIONS = 4

Operation = compute_v1.Operation


def request_id(*parts: str) -> str:
    """A requestId the same for every attempt of one activity acting on one thing.

    Inside an activity it derives from the workflow run and activity id, so the retry of an
    insert whose worker died mid-wait is recognised by Google and not performed twice;
    outside one (direct driver use) there is no retry to recognise.
    """
    if activity.in_activity():
        info = activity.info()
        scope = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
    else:
        scope = uuid.uuid4().hex
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, "/".join((scope, *parts))))


class ComputeOperations:
    """Polls compute operations (global, regional or zonal) through our own clients."""

    def __init__(self, clients: GcpClients, interval: float, timeout: float) -> None:
        self.clients = clients
        self.interval = interval
        self.timeout = timeout

    def call(self, send: Callable[[str], Operation], what: str, *parts: str) -> Operation:
        """Send a mutation with a derived requestId and wait until its operation is done."""
        for generation in range(MAX_GENERATIONS):
            with errors.gcp_errors(what):
                operation = send(request_id(*parts, str(generation)))
            failure = self._failure(operation, what)
            if failure is not None and failure.retryable:
                continue  # an earlier attempt's operation, failed: the next id is the retry
            return self.wait(operation, what)
        raise failure or ProviderError(f"{what}: operation kept failing", retryable=True)

    def wait(self, operation: Operation, what: str) -> Operation:
        project = self.clients.settings.project
        name = operation.name

        def poll() -> Operation | None:
            nonlocal operation
            if operation.status != Operation.Status.DONE:
                with errors.gcp_errors(what):
                    operation = self._get(project, operation)
            if operation.status != Operation.Status.DONE:
                return None
            return operation

        done = wait_until(
            poll, timeout=self.timeout, interval=self.interval, describe=f"{what} ({name})"
        )
        failure = self._failure(done, what)
        if failure is not None:
            raise failure
        return done

    def _get(self, project: str, operation: Operation) -> Operation:
        if operation.zone:
            client = self.clients.compute(compute_v1.ZoneOperationsClient)
            return client.get(project=project, zone=_last(operation.zone), operation=operation.name)
        if operation.region:
            client = self.clients.compute(compute_v1.RegionOperationsClient)
            return client.get(
                project=project, region=_last(operation.region), operation=operation.name
            )
        client = self.clients.compute(compute_v1.GlobalOperationsClient)
        return client.get(project=project, operation=operation.name)

    @staticmethod
    def _failure(operation: Operation, what: str) -> ProviderError | None:
        if operation.status != Operation.Status.DONE or not operation.error.errors:
            return None
        found = [(e.code, e.message) for e in operation.error.errors]
        return errors.operation_error(found, operation.http_error_status_code, what)


class SqlOperations:
    """Polls Cloud SQL Admin operations (`sql#operation`, status PENDING/RUNNING/DONE)."""

    def __init__(self, clients: GcpClients, interval: float, timeout: float) -> None:
        self.clients = clients
        self.interval = interval
        self.timeout = timeout

    def wait(self, operation: dict[str, Any], what: str) -> dict[str, Any]:
        project = self.clients.settings.project

        def poll() -> dict[str, Any] | None:
            nonlocal operation
            if operation.get("status") != "DONE":
                with errors.gcp_errors(what):
                    operation = (
                        self.clients.sqladmin()
                        .operations()
                        .get(project=project, operation=operation["name"])
                        .execute()
                    )
            return operation if operation.get("status") == "DONE" else None

        done = wait_until(
            poll,
            timeout=self.timeout,
            interval=self.interval,
            describe=f"{what} ({operation.get('name')})",
        )
        found = [
            (str(e.get("code", "")), str(e.get("message", "")))
            for e in (done.get("error") or {}).get("errors", [])
        ]
        if found:
            raise errors.operation_error(found, 0, what)
        return done


class RedisOperations:
    """Polls Memorystore's google.longrunning operations through our own redis client."""

    def __init__(self, clients: GcpClients, interval: float, timeout: float) -> None:
        self.clients = clients
        self.interval = interval
        self.timeout = timeout

    def wait(self, name: str, what: str) -> operations_pb2.Operation:
        def poll() -> operations_pb2.Operation | None:
            with errors.gcp_errors(what):
                found = self.clients.redis().get_operation(
                    operations_pb2.GetOperationRequest(name=name)
                )
            return found if found.done else None

        done = wait_until(
            poll, timeout=self.timeout, interval=self.interval, describe=f"{what} ({name})"
        )
        if done.HasField("error") and done.error.code:
            raise errors.rpc_error(done.error.code, done.error.message, what)
        return done


def _last(url: str) -> str:
    """`zones/us-central1-a` from a self link -> `us-central1-a`."""
    return url.rstrip("/").rsplit("/", 1)[-1]
