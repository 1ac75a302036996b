"""An application file in the spec engine's dialect, end to end: `wfctl serve FILE` on the
http.server module's address plus a worker, against moto. The HTTP answers are the
pipelines' step.json_response bodies; apply makes the VPC, database and container service
in moto, DELETE /infra destroys them, and every request is a PipelineWorkflow run."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from providers.aws.tags import STACK_TAG
from tests.iac_wf_support import iac_worker
from tests.pipeline_harness import running_pipelines

pytest_plugins = ["tests.aws_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "apppipe" / "shop.yaml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for_http(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never answered 200")


def in_moto(session: Any) -> dict[str, list[str]]:
    """What of the stack `shop` exists in moto, by kind."""
    ec2, rds, ecs = session.client("ec2"), session.client("rds"), session.client("ecs")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": f"tag:{STACK_TAG}", "Values": ["shop"]}])["Vpcs"]
    # moto is shared by the session's tests: only the names of this stack count.
    databases = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]
                 if d["DBInstanceStatus"] != "deleting"
                 and d["DBInstanceIdentifier"].startswith("shop-")]
    services = [
        s["serviceName"]
        for cluster in ecs.list_clusters()["clusterArns"]
        for arn in [ecs.list_services(cluster=cluster)["serviceArns"]] if arn
        for s in ecs.describe_services(cluster=cluster, services=arn)["services"]
        if s["status"] == "ACTIVE" and s["serviceName"].startswith("shop-")
    ]
    return {"vpc": [v["VpcId"] for v in vpcs], "database": databases, "service": services}


@pytest.fixture
def session(aws_provider: Any) -> Any:
    return aws_provider().context.session


async def test_wfctl_serve_runs_an_application_file_against_moto(
    client: Client, tmp_path: Path, moto_endpoint: str, session: Any
) -> None:
    port = free_port()
    app = tmp_path / "shop.yaml"
    app.write_text(FIXTURE.read_text().replace("ENDPOINT", moto_endpoint)
                   .replace("PORT", str(port)).replace("STATE", str(tmp_path / "state.db")))
    address = client.service_client.config.target_host
    async with iac_worker(client) as iac_queue, running_pipelines(
        client, app, iac_queue
    ) as runs:
        # No --port: the address comes from the file's http.server module.
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wfctl", "--address", address, "serve", str(app),
            "--task-queue", runs.task_queue, cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            await wait_for_http(f"{base}/openapi.json")
            async with httpx.AsyncClient(base_url=base, timeout=120) as http:
                planned = await http.post("/plan", json={}, headers={"X-Requested-By": "ada"})
                assert planned.status_code == 200, planned.text
                plan = planned.json()
                assert in_moto(session) == {"vpc": [], "database": [], "service": []}
                applied = await http.post("/apply", json={"plan_id": plan["plan_id"]})
                made = in_moto(session)
                status = await http.get("/status")
                destroyed = await http.delete("/infra")
        finally:
            server.kill()
            await server.wait()
        gone = in_moto(session)
        runs_by_pipeline: dict[str, list[str]] = {}
        async for execution in client.list_workflows(
            f"TaskQueue = '{runs.task_queue}' AND WorkflowType = 'PipelineWorkflow'"
        ):
            runs_by_pipeline.setdefault(execution.id.split(":")[1], []).append(
                execution.status.name if execution.status else "")

    assert plan == {"plan_id": plan["plan_id"], "to_create": 3, "requested_by": "ada"}
    assert plan["plan_id"]
    # The json_response's status, headers and body; the step after it never ran.
    assert applied.status_code == 201, applied.text
    assert applied.headers["x-stack"] == "shop"
    assert applied.json() == {"status": "applied", "created": 3, "vpc_id": made["vpc"][0]}
    assert len(made["vpc"]) == 1 and len(made["database"]) == 1 and len(made["service"]) == 1
    assert status.status_code == 200
    assert sorted((r["name"], r["status"]) for r in status.json()) == [
        ("net", "ready"), ("orders-db", "ready"), ("web", "ready")]
    assert destroyed.status_code == 200, destroyed.text
    assert destroyed.json()["status"] == "applied"  # the destroy ran to its end
    assert sorted(destroyed.json()["destroyed"]) == ["net", "orders-db", "web"]
    assert gone == {"vpc": [], "database": [], "service": []}
    assert runs_by_pipeline == {name: ["COMPLETED"] for name in
                                ("plan-infra", "apply-infra", "infra-status", "destroy-infra")}
