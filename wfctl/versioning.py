"""Worker Versioning: the worker runs as one version of a Temporal worker deployment.

Every workflow the worker serves (pipelines and the stack workflows) is PINNED: a run
finishes on the build that started it, so deploying a new worker never replays a three-day
approval wait or a six-hour apply on changed code. New runs go to the deployment's current
version, which an operator moves with `temporal worker deployment set-ramping-version` /
`set-current-version` (README: "Upgrading workers")."""

from __future__ import annotations

import hashlib
import logging
from importlib import metadata
from pathlib import Path

from temporalio.api.workflowservice.v1 import ListWorkerDeploymentsRequest
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig

log = logging.getLogger("wfctl.worker")

DEFAULT_DEPLOYMENT = "wfctl"
ROOT = Path(__file__).resolve().parent.parent
# What a workflow task executes: the workflow classes and the pure code they call. A change
# anywhere here can change a run's commands, so it makes a new build id.
WORKFLOW_CODE = ("workflows", "engine", "interfaces")


def package_version() -> str:
    try:
        return metadata.version("wfctl")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "0"


def code_hash(root: Path = ROOT, folders: tuple[str, ...] = WORKFLOW_CODE) -> str:
    """A short hash of the workflow code's Python files, by path and content."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:10]


def default_build_id() -> str:
    return f"{package_version()}-{code_hash()}"


def deployment_config(deployment_name: str, build_id: str) -> WorkerDeploymentConfig:
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=deployment_name, build_id=build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


async def server_supports_versioning(client: Client) -> str | None:
    """None when the server has worker deployments, else its reason (to be said once)."""
    try:
        await client.workflow_service.list_worker_deployments(
            ListWorkerDeploymentsRequest(namespace=client.namespace, page_size=1)
        )
    except RPCError as exc:
        if exc.status in (
            RPCStatusCode.UNIMPLEMENTED,
            RPCStatusCode.FAILED_PRECONDITION,
            RPCStatusCode.PERMISSION_DENIED,
        ):
            return exc.message
        raise
    return None


async def versioned_config(
    client: Client, deployment_name: str, build_id: str
) -> WorkerDeploymentConfig | None:
    """The worker's deployment config, or None (logged once) where the server lacks it."""
    reason = await server_supports_versioning(client)
    if reason is not None:
        log.warning(
            "worker versioning is off: the server has no worker deployments (%s); "
            "running unversioned",
            reason,
        )
        return None
    log.info("worker deployment %s, build id %s (workflows pinned)", deployment_name, build_id)
    return deployment_config(deployment_name, build_id)
