"""Stack mistakes refused before anything is made: address ranges that are not CIDRs,
references to outputs a driver never reports, a lock_ttl too short to hold, a state path
that is not a database."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError

from engine.iac.stack import parse_stack, validate_stack
from interfaces.errors import ConfigError
from providers.aws.drivers import DRIVERS as AWS_DRIVERS
from statestore import SqliteStateStore
from tests.iac_wf_support import Stack, iac_worker, start
from tests.test_iac_wf_cli import wfctl, write_stack

pytest_plugins = ["tests.aws_fixtures"]


async def failure_of(client: Client, workflow: str, queue: str, doc: dict[str, Any]) -> str:
    handle = await start(client, workflow, queue, doc)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    return str(failure.value.cause)


def problems_of(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate_stack(parse_stack(doc, "s.yaml"), {}, "s.yaml")
    return caught.value.problems


def test_every_cidr_like_field_is_checked_and_located() -> None:
    doc = {
        "stack": "s",
        "providers": {"aws": {"type": "aws"}},
        "resources": [
            {"name": "net", "type": "infra.vpc", "config": {
                "cidr": "10.0.0.0/33",
                "subnets": ["10.0.1.0/24", {"cidr": "10.0.2.7/24", "az": "a"}, "${fw.outputs.y}"],
            }},
            {"name": "fw", "type": "infra.firewall", "config": {
                "tags": {"cidr": "office"},  # a tag is the user's own
                "ingress": [
                    {"port": 443, "cidr": "0.0.0.0/0"},
                    {"port": 22, "cidrs": ["192.168.1.1", "192.168.1.0/24", "office"]},
                ],
            }},
            {"name": "rule", "type": "infra.firewall", "config": {
                "source_ranges": ["300.1.1.0/24"], "destination_ranges": ["::/0"],
            }},
            # The tasks' subnets are subnet ids, not ranges.
            {"name": "app", "type": "infra.container_service",
             "config": {"subnets": ["subnet-1"], "image": "nginx"}},
        ],
    }
    assert problems_of(doc) == [
        "s.yaml: resource \"net\": config.cidr: '10.0.0.0/33' is not a valid CIDR",
        "s.yaml: resource \"net\": config.subnets[1].cidr: '10.0.2.7/24' is not a valid CIDR "
        "(host bits set; the network is 10.0.2.0/24)",
        "s.yaml: resource \"fw\": config.ingress[1].cidrs[2]: 'office' is not a valid CIDR",
        "s.yaml: resource \"rule\": config.source_ranges[0]: '300.1.1.0/24' is not a valid CIDR",
    ]


async def test_plan_refuses_a_bad_cidr_naming_the_resource(client: Client, tmp_path: Path) -> None:
    stack = Stack(tmp_path).add("net", "test.network", config={"cidr": "10.0.0/16"})
    async with iac_worker(client) as queue:
        message = await failure_of(client, "PlanWorkflow", queue, stack.document())
    assert "resource \"net\": config.cidr: '10.0.0/16' is not a valid CIDR" in message
    assert stack.cloud.live() == {}


def test_every_aws_driver_declares_its_outputs() -> None:
    assert {t for t, d in AWS_DRIVERS.items() if d.OUTPUTS is None} == set()


async def test_plan_refuses_a_reference_to_an_output_the_driver_never_reports(
    client: Client, tmp_path: Path, moto_endpoint: str
) -> None:
    doc = {
        "stack": f"outs-{time.time_ns()}",
        "state": {"backend": "sqlite", "path": str(tmp_path / "state.db")},
        "providers": {"aws": {"type": "aws", "region": "us-east-1", "endpoint_url": moto_endpoint}},
        "resources": [
            {"name": "net", "type": "infra.vpc", "config": {"cidr": "10.0.0.0/16"}},
            {"name": "web", "type": "infra.firewall", "config": {
                "vpc_id": "${net.outputs.vpcid}",
                # Declared keys pass, dotted into a nested value too.
                "description": "in ${net.outputs.vpc_id}, first subnet ${net.outputs.subnet_ids.0}",
            }},
        ],
    }
    async with iac_worker(client) as queue:
        message = await failure_of(client, "PlanWorkflow", queue, doc)
        doc["resources"][1]["config"]["vpc_id"] = "${net.outputs.vpc_id}"
        planned = await (await start(client, "PlanWorkflow", queue, doc)).result()
    assert (
        'resource "web": reference ${net.outputs.vpcid}: infra.vpc "net" has no output "vpcid" '
        "(its outputs: availability_zones, cidr, internet_gateway_id, public, route_table_id, "
        "subnet_ids, subnets, tags, vpc_id)"
    ) in message
    assert "subnet_ids.0" not in message
    assert planned.counts["create"] == 2


async def test_a_lock_ttl_below_the_minimum_is_refused(client: Client, tmp_path: Path) -> None:
    stack = Stack(tmp_path).add("a")
    async with iac_worker(client) as queue:
        message = await failure_of(
            client, "ApplyWorkflow", queue, stack.document(auto_approve=True, lock_ttl=2)
        )
    assert "lock_ttl 2s is below the minimum of 60s" in message
    assert stack.cloud.live() == {}


@pytest.mark.parametrize("kind", ["text file", "directory"])
def test_a_state_path_that_is_not_a_database_is_named(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "state.db"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_text("stack: not a database at all\n" * 50)
    with pytest.raises(ConfigError) as caught:
        SqliteStateStore(path, "app")
    assert str(caught.value).startswith(f"state.path {path}: not usable as a SQLite state file")
    if kind == "text file":
        assert path.read_text().startswith("stack: not a database")  # left as it was


async def test_a_state_path_that_is_a_text_file_fails_plan_and_state_list_at_once(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path).add("a")
    path = write_stack(tmp_path, stack)
    state = Path(os.environ["WFCTL_STATE_DIR"]) / "state" / "state.db"  # the relative path
    state.parent.mkdir()
    state.write_text("notes, not a database\n" * 50)
    async with iac_worker(client) as queue:
        planned = await wfctl(client, queue, "plan", "-f", str(path))
        # The commands that read the state on this machine say the same.
        listed = await wfctl(client, queue, "state", "list", "-f", str(path))
    for result in (planned, listed):
        assert result.exit_code == 1
        assert f"state.path {state}: not usable as a SQLite state file" in result.stderr
        assert "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)  # said and exited, nothing raised
