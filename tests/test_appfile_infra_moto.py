"""`wfctl infra apply/destroy -f APP.yaml`: the issue's application file, its modules mapped
onto the real AWS drivers, applied to and destroyed from moto by the stack workflows."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import boto3
import pytest
from click.testing import Result
from temporalio.client import Client
from typer.testing import CliRunner

from tests.iac_wf_support import iac_worker
from wfctl.infra_cli import infra_app

pytest_plugins = ["tests.aws_fixtures"]
FIXTURE = Path(__file__).parent / "fixtures" / "appfile" / "infra-api.yaml"


def app_file(tmp_path: Path, endpoint: str) -> tuple[Path, str]:
    """The fixture on this run's moto, with its own name (so its own stack) and state."""
    name = f"infra-api-{uuid.uuid4().hex[:8]}"
    text = (FIXTURE.read_text()
            .replace("name: infra-api", f"name: {name}")
            .replace("http://127.0.0.1:5000", f"{endpoint}\"\n      poll_interval: 0.05\n"
                     "      max_attempts: \"1")
            .replace("directory: .data/infra-api", f"directory: {tmp_path}"))
    path = tmp_path / "app.yaml"
    path.write_text(text)
    return path, name


async def wfctl(client: Client, queue: str, *args: str) -> Result:
    env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host,
           "WFCTL_IAC_TASK_QUEUE": queue}
    return await asyncio.to_thread(CliRunner().invoke, infra_app, list(args), env=env)


async def test_plan_an_application_file(client: Client, tmp_path: Path,
                                        moto_endpoint: str) -> None:
    path, name = app_file(tmp_path, moto_endpoint)
    async with iac_worker(client) as queue:
        planned = await wfctl(client, queue, "plan", "-f", str(path))
    assert planned.exit_code == 0, planned.output
    assert f"Workflow: stack:{name}" in planned.stderr
    assert '+ create infra.database "orders-db"' in planned.stdout
    assert "Plan: 3 to create, 0 to update, 0 to replace, 0 to destroy." in planned.stdout


# ~17 s of RDS and ECS waits on a loaded 2-core machine: past the suite's budget, so `make soak`.
@pytest.mark.soak
async def test_apply_and_destroy_an_application_file_on_moto(
    client: Client, tmp_path: Path, moto_endpoint: str
) -> None:
    path, name = app_file(tmp_path, moto_endpoint)
    rds = boto3.client("rds", endpoint_url=moto_endpoint, region_name="us-east-1")
    ecs = boto3.client("ecs", endpoint_url=moto_endpoint, region_name="us-east-1")
    async with iac_worker(client) as queue:
        applied = await wfctl(client, queue, "apply", "-f", str(path), "--auto-approve")
        assert applied.exit_code == 0, applied.output
        assert "Apply complete! Resources: 3 added" in applied.stdout
        assert f"Workflow: stack:{name}" in applied.stderr
        assert "orders-db placed in network network" in applied.stderr
        (db,) = rds.describe_db_instances(DBInstanceIdentifier=f"{name}-orders-db")[
            "DBInstances"]
        assert (db["DBInstanceClass"], db["AllocatedStorage"], db["BackupRetentionPeriod"]) == (
            "db.t3.small", 20, 7)
        services = ecs.describe_services(cluster=f"{name}-orders-svc",
                                         services=[f"{name}-orders-svc"])["services"]
        assert services[0]["desiredCount"] == 1

        destroyed = await wfctl(client, queue, "destroy", "-f", str(path), "--auto-approve")
        assert destroyed.exit_code == 0, destroyed.output
    assert not [d for d in rds.describe_db_instances()["DBInstances"]
                if d["DBInstanceIdentifier"] == f"{name}-orders-db"]
