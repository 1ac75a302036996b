"""The IaC workflows over the real AWS provider, on moto's server (real boto3 over HTTP)."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client

from tests.iac_wf_support import iac_worker, start, state_block

pytest_plugins = ["tests.aws_fixtures"]


async def test_aws_vpc_and_firewall_apply_drift_destroy(
    client: Client, tmp_path: Path, moto_endpoint: str
) -> None:
    doc = {
        "stack": f"wf-aws-{tmp_path.name[-8:].lower().replace('_', '-')}",
        "state": state_block("sqlite", tmp_path),
        "providers": {
            "aws": {"type": "aws", "region": "us-east-1", "endpoint_url": moto_endpoint,
                    "max_attempts": 1, "poll_interval": 0.05},
        },  # fmt: skip
        "resources": [
            {"name": "net", "type": "infra.vpc", "config": {"cidr": "10.42.0.0/16"}},
            {"name": "web", "type": "infra.firewall",
             "config": {"vpc_id": "${net.outputs.vpc_id}"}},
        ],  # fmt: skip
    }
    async with iac_worker(client) as queue:
        applied = await (await start(client, "ApplyWorkflow", queue,
                                     {**doc, "auto_approve": True})).result()  # fmt: skip
        assert applied.status == "applied", applied.errors
        outputs = {r.name: r.outputs for r in applied.resources}
        assert outputs["web"]["vpc_id"] == outputs["net"]["vpc_id"]

        drift = await (await start(client, "DriftWorkflow", queue, doc)).result()
        assert drift.checked == 2 and not drift.drifted, drift.results

        again = await (await start(client, "ApplyWorkflow", queue,
                                   {**doc, "auto_approve": True})).result()  # fmt: skip
        assert again.status == "no_changes"

        destroyed = await (await start(client, "DestroyWorkflow", queue,
                                       {**doc, "auto_approve": True})).result()  # fmt: skip
    assert destroyed.status == "applied", destroyed.errors
    assert destroyed.destroyed == ["web", "net"]
