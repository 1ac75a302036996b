"""The twelve AWS resource types' lifecycles through the IaC workflows, on moto's server.

Every step is what a user runs: ApplyWorkflow / PlanWorkflow / StatusWorkflow /
DriftWorkflow / DestroyWorkflow on the real dev server, a worker serving them, real boto3
over HTTP to moto on loopback (the network guard refuses anything else). Each type goes
through create (apply waits on its health_check until ready), status, drift, an in-place
update, a replace where a force-new field changes, and destroy. Changes behind the engine's
back are made with boto3 straight against moto. The last test runs the README's AWS sandbox
walk-through with the same `wfctl infra` commands.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import moto.settings
import pytest
import yaml
from click.testing import Result
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from typer.testing import CliRunner

import providers.aws.sandbox as sandbox
from interfaces import ResourceRef, ResourceStatus
from interfaces.errors import NotFoundError
from providers.aws import AwsProvider
from providers.aws.drivers import DRIVERS
from tests.declared_outputs import assert_outputs_declared
from tests.iac_wf_support import iac_worker, start
from wfctl.infra_cli import infra_app
from workflows.iac.models import ApplyOutcome

if TYPE_CHECKING:
    from tests.aws_fixtures import ThrottlingProxy

pytest_plugins = ["tests.aws_fixtures"]

MakeProvider = Callable[..., AwsProvider]
Resources = list[dict[str, Any]]
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "aws-stack.yaml"


@pytest.fixture(autouse=True)
def quick_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """AWS's waits, shortened but not zero: apply must still wait on health_check for them."""
    monkeypatch.setattr(sandbox, "ECS_TASKS_START_AFTER", 0.3)
    monkeypatch.setattr(moto.settings, "ACM_VALIDATION_WAIT", 1)
    yield


class AwsStack:
    """A stack document on moto and the workflows run against it."""

    def __init__(self, client: Client, queue: str, tmp_path: Path, endpoint: str, kind: str):
        self.client, self.queue = client, queue
        self.name = f"wfa-{kind}-{uuid.uuid4().hex[:6]}"
        self.state = {"backend": "sqlite", "path": str(tmp_path / f"{self.name}.db")}
        self.endpoint = endpoint
        self.resources: Resources = []

    def document(self, **options: Any) -> dict[str, Any]:
        provider = {"type": "aws", "region": "us-east-1", "endpoint_url": self.endpoint,
                    "max_attempts": 1, "poll_interval": 0.05, "wait_timeout": 20,
                    "dependency_timeout": 5}  # fmt: skip
        return {"stack": self.name, "state": self.state, "providers": {"aws": provider},
                "resources": self.resources, **options}  # fmt: skip

    async def run(self, workflow: str, **options: Any) -> Any:
        handle = await start(self.client, workflow, self.queue, self.document(**options))
        return await handle.result()

    async def apply(self) -> ApplyOutcome:
        outcome = await self.run("ApplyWorkflow", auto_approve=True)
        assert outcome.status == "applied", outcome.errors
        return outcome

    def config(self, name: str) -> dict[str, Any]:
        return next(r for r in self.resources if r["name"] == name)["config"]


def outputs_of(outcome: ApplyOutcome) -> dict[str, dict[str, Any]]:
    assert_outputs_declared(outcome.resources, DRIVERS)
    return {r.name: r.outputs for r in outcome.resources}


def ids_of(outcome: ApplyOutcome) -> dict[str, str]:
    return {r.name: r.provider_id for r in outcome.resources}


def assert_gone(provider: AwsProvider, type_of: dict[str, str], ids: dict[str, str]) -> None:
    for name, provider_id in ids.items():
        ref = ResourceRef(name=name, type=type_of[name], provider_id=provider_id)
        with pytest.raises(NotFoundError):
            provider.resource_driver(type_of[name]).read(ref)


async def plan_changes(stack: AwsStack) -> dict[str, tuple[str, set[str], bool]]:
    """Per planned resource: its action, the config paths that change, any force-new."""
    plan = (await stack.run("PlanWorkflow")).plan
    return {
        action.resource.name: (
            action.action,
            {change.path for change in action.changes},
            any(change.force_new for change in action.changes),
        )
        for action in plan.actions
    }


async def assert_all_ready_and_in_step(stack: AwsStack, count: int) -> dict[str, str]:
    """Every resource ready and without drift; returns their cloud ids."""
    status = await stack.run("StatusWorkflow")
    assert {r.name: r.status for r in status.resources} == {
        r["name"]: ResourceStatus.READY for r in stack.resources
    }
    drift = await stack.run("DriftWorkflow")
    assert drift.checked == count and not drift.drifted, drift.results
    return {r.name: r.provider_id for r in status.resources}


async def test_network_and_data_types_create_update_replace_and_destroy_through_the_workflows(
    client: Client, tmp_path: Path, moto_endpoint: str, aws_provider: MakeProvider
) -> None:
    async with iac_worker(client) as queue:
        stack = AwsStack(client, queue, tmp_path, moto_endpoint, "data")
        zone = f"{stack.name}.example.com"
        stack.resources = [
            {"name": "net", "type": "infra.vpc",
             "config": {"cidr": "10.61.0.0/16", "subnets": ["10.61.1.0/24", "10.61.2.0/24"]}},
            {"name": "spare-net", "type": "infra.vpc", "config": {"cidr": "10.62.0.0/16"}},
            {"name": "db-fw", "type": "infra.firewall",
             "config": {"vpc_id": "${net.outputs.vpc_id}", "description": "data access",
                        "ingress": [{"port": 5432, "cidr": "10.61.0.0/16"},
                                    {"port": 6379, "cidr": "10.61.0.0/16"}]}},
            {"name": "admin-fw", "type": "infra.firewall",
             "config": {"vpc_id": "${net.outputs.vpc_id}", "description": "admin",
                        "ingress": [{"port": 22, "cidr": "10.0.0.0/8"}]}},
            {"name": "db", "type": "infra.database", "size": "xs",
             "config": {"engine": "postgres", "version": "16", "db_name": "orders",
                        "subnet_ids": "${net.outputs.subnet_ids}",
                        "security_group_ids": ["${db-fw.outputs.security_group_id}"],
                        "backup_retention_days": 1}},
            {"name": "sessions", "type": "infra.cache", "size": "xs",
             "config": {"engine": "redis", "version": "7.1", "vpc_id": "${net.outputs.vpc_id}",
                        "security_group_ids": ["${db-fw.outputs.security_group_id}"]}},
            {"name": "assets", "type": "infra.storage",
             "config": {"bucket": f"{stack.name}-assets", "versioning": True}},
            {"name": "zone", "type": "infra.dns",
             "config": {"zone": zone, "comment": "data",
                        "records": [{"name": "db", "type": "CNAME", "ttl": 60,
                                     "value": "${db.outputs.address}"}]}},
        ]  # fmt: skip
        type_of = {r["name"]: r["type"] for r in stack.resources}

        created = await stack.apply()
        assert created.counts == {"create": 8}
        out = outputs_of(created)
        assert out["db-fw"]["vpc_id"] == out["net"]["vpc_id"]
        assert sorted(out["db"]["subnet_ids"]) == sorted(out["net"]["subnet_ids"])
        assert out["db"]["security_group_ids"] == [out["db-fw"]["security_group_id"]]
        assert out["db"]["instance_type"] == "db.t3.micro"  # size xs
        assert out["db"]["password_secret_arn"] == "(sensitive)"
        assert out["sessions"]["instance_type"] == "cache.t3.micro"
        assert out["assets"]["versioning"] is True
        assert out["zone"]["records"][0]["values"] == [out["db"]["address"]]
        first = await assert_all_ready_and_in_step(stack, 8)

        # In place: one updatable field (or the size) of each resource.
        stack.config("net")["tags"] = {"team": "data"}
        stack.config("spare-net")["tags"] = {"team": "spare"}
        stack.config("db-fw")["ingress"].append({"port": 5432, "cidr": "10.99.0.0/16"})
        stack.config("admin-fw")["ingress"] = [{"port": 2222, "cidr": "10.0.0.0/8"}]
        stack.resources[4]["size"] = "s"
        stack.config("db")["backup_retention_days"] = 7
        stack.config("sessions")["description"] = "sessions, v2"
        stack.config("assets")["versioning"] = False
        stack.config("zone")["comment"] = "data, v2"
        planned = await plan_changes(stack)
        assert {name: kind for name, (kind, _, _) in planned.items()} == dict.fromkeys(
            type_of, "update"
        )
        assert not any(force_new for _, _, force_new in planned.values())
        assert planned["db"][1] == {
            "config.instance_type", "config.storage_gb", "config.backup_retention_days"
        }  # fmt: skip
        assert planned["db-fw"][1] == {"config.ingress"}
        updated = await stack.apply()
        assert updated.counts == {"update": 8}
        assert ids_of(updated) == ids_of(created) == first
        out = outputs_of(updated)
        assert out["net"]["tags"] == {"team": "data"}
        assert {"protocol": "tcp", "from_port": 5432, "to_port": 5432,
                "cidr": "10.99.0.0/16"} in out["db-fw"]["ingress"]  # fmt: skip
        assert [r["from_port"] for r in out["admin-fw"]["ingress"]] == [2222]
        assert (out["db"]["instance_type"], out["db"]["storage_gb"]) == ("db.t3.small", 50)
        assert out["db"]["backup_retention_days"] == 7
        assert out["sessions"]["description"] == "sessions, v2"
        assert out["assets"]["versioning"] is False
        assert out["zone"]["comment"] == "data, v2"
        before = await assert_all_ready_and_in_step(stack, 8)

        # Force-new: a field of each type that AWS cannot change on a live resource. The
        # replaced ones are those nothing else still uses (AWS refuses to delete the others).
        stack.config("spare-net")["cidr"] = "10.63.0.0/16"
        stack.config("admin-fw")["description"] = "admin, v2"
        stack.config("db")["identifier"] = f"{stack.name}-orders"
        stack.config("sessions")["port"] = 6380
        stack.config("assets")["bucket"] = f"{stack.name}-assets2"
        stack.config("zone")["zone"] = f"v2.{zone}"
        planned = await plan_changes(stack)
        replaced = {"spare-net", "admin-fw", "db", "sessions", "assets", "zone"}
        assert {name: kind for name, (kind, _, _) in planned.items()} == dict.fromkeys(
            replaced, "replace"
        )
        assert all(force_new for _, _, force_new in planned.values())
        assert planned["spare-net"][1] == {"config.cidr"}
        again = await stack.apply()
        assert again.counts == {"replace": 6}
        after = await assert_all_ready_and_in_step(stack, 8)
        assert ids_of(again) == {name: after[name] for name in replaced}
        # The cache keeps its identifier, so its id; the others are new ones.
        assert all(after[name] != before[name] for name in replaced - {"sessions"})
        assert after["net"] == before["net"] and after["db-fw"] == before["db-fw"]
        out = outputs_of(again)
        assert out["spare-net"]["cidr"] == "10.63.0.0/16"
        assert out["admin-fw"]["description"] == "admin, v2"
        assert out["db"]["identifier"] == f"{stack.name}-orders"
        assert out["sessions"]["port"] == 6380
        assert out["zone"]["records"][0]["values"] == [out["db"]["address"]]
        assert out["assets"]["bucket"] == f"{stack.name}-assets2"
        provider = aws_provider(stack=stack.name)
        assert_gone(provider, type_of, {n: before[n] for n in replaced - {"sessions"}})

        destroyed = await stack.run("DestroyWorkflow", auto_approve=True)
    assert destroyed.status == "applied", destroyed.errors
    assert sorted(destroyed.destroyed) == sorted(type_of)
    assert_gone(provider, type_of, after)


async def test_web_types_create_update_replace_and_destroy_through_the_workflows(
    client: Client, tmp_path: Path, moto_endpoint: str, aws_provider: MakeProvider
) -> None:
    async with iac_worker(client) as queue:
        stack = AwsStack(client, queue, tmp_path, moto_endpoint, "web")
        domain = f"{stack.name}.example.com"
        stack.resources = [
            {"name": "net", "type": "infra.vpc",
             "config": {"cidr": "10.71.0.0/16", "subnets": ["10.71.1.0/24", "10.71.2.0/24"]}},
            {"name": "web-fw", "type": "infra.firewall",
             "config": {"vpc_id": "${net.outputs.vpc_id}",
                        "ingress": [{"port": 80, "cidr": "0.0.0.0/0"}]}},
            {"name": "task-role", "type": "infra.iam_role", "config": {"service": "ecs-tasks"}},
            {"name": "images", "type": "infra.registry", "config": {"scan_on_push": True}},
            {"name": "cert", "type": "infra.certificate", "config": {"domain_name": domain}},
            {"name": "lb", "type": "infra.load_balancer",
             "config": {"subnets": "${net.outputs.subnet_ids}",
                        "security_groups": ["${web-fw.outputs.security_group_id}"],
                        "target_port": 8080}},
            {"name": "web", "type": "infra.container_service", "size": "xs",
             "config": {"image": "${images.outputs.repository_uri}:1", "container_port": 8080,
                        "task_role_arn": "${task-role.outputs.arn}",
                        "target_group_arn": "${lb.outputs.target_group_arn}",
                        "subnets": "${net.outputs.subnet_ids}",
                        "security_groups": ["${web-fw.outputs.security_group_id}"]}},
            {"name": "api", "type": "infra.api_gateway", "config": {"description": "shop api"}},
        ]  # fmt: skip
        type_of = {r["name"]: r["type"] for r in stack.resources}

        created = await stack.apply()
        assert created.counts == {"create": 8}
        out = outputs_of(created)
        # Both came back from create not ready (pending validation, no task running yet):
        # apply returned them ready because it waited on their health_check.
        assert out["cert"]["status"] == "ISSUED"
        assert (out["web"]["running_count"], out["web"]["desired_count"]) == (1, 1)
        assert out["web"]["image"] == f"{out['images']['repository_uri']}:1"
        assert out["web"]["task_role_arn"] == out["task-role"]["arn"]
        assert out["web"]["target_group_arn"] == out["lb"]["target_group_arn"]
        assert out["api"]["description"] == "shop api"
        first = await assert_all_ready_and_in_step(stack, 8)

        stack.config("task-role")["description"] = "tasks of web"
        stack.config("images")["scan_on_push"] = False
        stack.config("cert")["tags"] = {"team": "edge"}
        stack.config("lb")["health_check_path"] = "/healthz"
        stack.config("web")["image"] = "${images.outputs.repository_uri}:2"
        stack.config("web")["desired_count"] = 2
        stack.config("api")["description"] = "shop api, v2"
        planned = await plan_changes(stack)
        changed = {"task-role", "images", "cert", "lb", "web", "api"}
        assert {name: kind for name, (kind, _, _) in planned.items()} == dict.fromkeys(
            changed, "update"
        )
        assert planned["web"][1] == {"config.image", "config.desired_count"}
        updated = await stack.apply()
        assert updated.counts == {"update": 6}
        assert ids_of(updated) == {name: first[name] for name in changed}
        out = outputs_of(updated)
        assert out["task-role"]["description"] == "tasks of web"
        assert out["images"]["scan_on_push"] is False
        assert out["cert"]["tags"] == {"team": "edge"}
        assert out["lb"]["health_check_path"] == "/healthz"
        assert out["web"]["image"].endswith(":2") and out["web"]["running_count"] == 2
        assert out["api"]["description"] == "shop api, v2"
        before = await assert_all_ready_and_in_step(stack, 8)

        stack.config("task-role")["path"] = "/services/"
        stack.config("images")["repository"] = f"{stack.name}-images2"
        stack.config("cert")["domain_name"] = f"api.{domain}"
        stack.config("lb")["target_port"] = 8081
        stack.config("web")["service_name"] = f"{stack.name}-web2"
        stack.config("api")["protocol"] = "WEBSOCKET"
        stack.config("api")["stage"] = "live"
        planned = await plan_changes(stack)
        assert {name: kind for name, (kind, _, _) in planned.items()} == dict.fromkeys(
            changed, "replace"
        )
        again = await stack.apply()
        assert again.counts == {"replace": 6}
        after = await assert_all_ready_and_in_step(stack, 8)
        assert ids_of(again) == {name: after[name] for name in changed}
        # The role keeps its name, which is its id; the others are new ones.
        assert [n for n in changed if after[n] == before[n]] == ["task-role"]
        out = outputs_of(again)
        assert out["task-role"]["path"] == "/services/"
        assert out["task-role"]["arn"].endswith(f":role/services/{after['task-role']}")
        assert out["cert"]["domain_name"] == f"api.{domain}" and out["cert"]["status"] == "ISSUED"
        assert out["web"]["service_name"] == f"{stack.name}-web2"
        assert out["web"]["running_count"] == 2
        # The service took the replaced resources' new outputs.
        assert out["web"]["image"] == f"{out['images']['repository_uri']}:2"
        assert out["web"]["task_role_arn"] == out["task-role"]["arn"]
        assert out["web"]["target_group_arn"] == out["lb"]["target_group_arn"]
        assert out["api"]["protocol"] == "WEBSOCKET"
        provider = aws_provider(stack=stack.name)
        assert_gone(provider, type_of, {n: before[n] for n in changed - {"task-role"}})

        destroyed = await stack.run("DestroyWorkflow", auto_approve=True)
    assert destroyed.status == "applied", destroyed.errors
    assert sorted(destroyed.destroyed) == sorted(type_of)
    assert_gone(provider, type_of, after)


async def test_drift_reports_a_deleted_resource_as_a_ghost_and_names_a_changed_field(
    client: Client, tmp_path: Path, moto_endpoint: str, aws_provider: MakeProvider
) -> None:
    async with iac_worker(client) as queue:
        stack = AwsStack(client, queue, tmp_path, moto_endpoint, "drift")
        stack.resources = [
            {"name": "assets", "type": "infra.storage",
             "config": {"bucket": f"{stack.name}-assets"}},
            {"name": "web-fw", "type": "infra.firewall",
             "config": {"ingress": [{"port": 443, "cidr": "0.0.0.0/0"}]}},
            {"name": "zone", "type": "infra.dns", "config": {"zone": f"{stack.name}.example.com"}},
        ]  # fmt: skip
        created = await stack.apply()
        ids = ids_of(created)
        session = aws_provider(stack=stack.name).context.session
        # Behind the engine's back: the bucket is deleted, SSH is opened to the world.
        session.client("s3").delete_bucket(Bucket=ids["assets"])
        session.client("ec2").authorize_security_group_ingress(
            GroupId=ids["web-fw"],
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                            "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        )  # fmt: skip

        drift = await stack.run("DriftWorkflow")
        assert drift.drifted and drift.checked == 3
        assert drift.ghosts == ["assets"]
        found = {r.name: r for r in drift.results}
        assert set(found) == {"assets", "web-fw"}
        assert found["assets"].fields == ["(deleted)"]
        assert found["web-fw"].fields == ["config.ingress"]
        opened = {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}
        assert opened in found["web-fw"].actual["config.ingress"]
        assert opened not in found["web-fw"].expected["config.ingress"]

        # The next apply puts back what the stack declares.
        repaired = await stack.apply()
        assert repaired.counts == {"create": 1, "update": 1}
        assert (await stack.run("DriftWorkflow")).drifted is False
        destroyed = await stack.run("DestroyWorkflow", auto_approve=True)
    assert destroyed.status == "applied", destroyed.errors


async def test_an_apply_through_a_throttling_endpoint_completes(
    client: Client,
    tmp_path: Path,
    moto_endpoint: str,
    aws_provider: MakeProvider,
    throttling_proxy: Callable[..., ThrottlingProxy],
) -> None:
    # EC2's first three calls, whatever they are. (S3 throttles with 503 SlowDown and no body
    # on HEAD, which a 400 from this proxy would not imitate.)
    proxy = throttling_proxy(times=3, match=lambda request: b"Action=" in request.body)
    async with iac_worker(client) as queue:
        stack = AwsStack(client, queue, tmp_path, proxy.url, "throttled")
        stack.resources = [
            {"name": "net", "type": "infra.vpc",
             "config": {"cidr": "10.81.0.0/16", "subnets": ["10.81.1.0/24"]}},
            {"name": "web-fw", "type": "infra.firewall",
             "config": {"vpc_id": "${net.outputs.vpc_id}",
                        "ingress": [{"port": 443, "cidr": "0.0.0.0/0"}]}},
            {"name": "assets", "type": "infra.storage",
             "config": {"bucket": f"{stack.name}-assets"}},
        ]  # fmt: skip
        handle = await start(client, "ApplyWorkflow", queue, stack.document(auto_approve=True))
        applied = await handle.result()
        assert applied.status == "applied", applied.errors
        assert applied.counts == {"create": 3}
        assert len(proxy.throttled) == 3
        # Temporal retried the throttled activities (the SDK's own retries are off here).
        retried = [
            event.activity_task_started_event_attributes.attempt
            async for event in handle.fetch_history_events()
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        ]
        assert max(retried) > 1
        # Retried creates adopted what an earlier attempt made: one VPC, not two.
        ec2 = aws_provider(stack=stack.name).context.session.client("ec2")
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:wfctl:stack", "Values": [stack.name]}])
        assert len(vpcs["Vpcs"]) == 1
        destroyed = await stack.run("DestroyWorkflow", auto_approve=True)
    assert destroyed.status == "applied", destroyed.errors


async def test_the_readme_walk_through_of_the_example_stack_with_wfctl(
    client: Client, tmp_path: Path, moto_endpoint: str, aws_provider: MakeProvider
) -> None:
    """README "AWS sandbox": the same wfctl commands on examples/aws-stack.yaml, pointed at
    this run's moto (a stack name and bucket of its own, the state beside the file)."""
    document = yaml.safe_load(EXAMPLE.read_text())
    stack = f"shop-{uuid.uuid4().hex[:6]}"
    document["stack"] = stack
    document["providers"]["aws"]["endpoint_url"] = moto_endpoint
    bucket = next(r for r in document["resources"] if r["name"] == "assets")["config"]
    bucket["bucket"] = f"{stack}-assets"
    path = tmp_path / "aws-stack.yaml"
    path.write_text(yaml.safe_dump(document))
    file = ("-f", str(path))

    async with iac_worker(client) as queue:

        async def wfctl(*args: str) -> Result:
            env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host,
                   "WFCTL_IAC_TASK_QUEUE": queue}  # fmt: skip
            return await asyncio.to_thread(CliRunner().invoke, infra_app, list(args), env=env)

        planned = await wfctl("plan", *file)
        assert planned.exit_code == 0, planned.output
        assert "Plan: 6 to create, 0 to update, 0 to replace, 0 to destroy." in planned.stdout
        applied = await wfctl("apply", *file, "--auto-approve")
        assert "Apply complete! Resources: 6 added, 0 changed" in applied.stdout, applied.output
        status = await wfctl("status", *file)
        assert status.exit_code == 0 and status.stdout.count(" ready ") == 6, status.output
        outputs = await wfctl("outputs", *file)
        assert "password_secret_arn = (sensitive)" in outputs.stdout
        # relative to the state directory (statestore.factory), not to the stack file
        assert (Path(os.environ["WFCTL_STATE_DIR"]) / ".data" / "shop-sandbox.db").exists()

        session = aws_provider(stack=stack).context.session
        ec2 = session.client("ec2")
        group = ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [f"{stack}-db-fw"]}]
        )["SecurityGroups"][0]
        ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])  # fmt: skip
        session.client("s3").delete_bucket(Bucket=f"{stack}-assets")

        drift = await wfctl("drift", *file)
        assert drift.exit_code == 2, drift.output
        assert '- infra.storage "assets" is gone from the cloud' in drift.stdout
        assert '~ infra.firewall "db-fw" drifted:' in drift.stdout
        assert '"from_port": 22' in drift.stdout
        replanned = await wfctl("plan", *file)
        # The bucket made again has new outputs ("known after apply"): the zone's CNAME to
        # it is updated in the same apply.
        assert '~ update infra.dns "zone"' in replanned.stdout, replanned.output
        assert "Plan: 1 to create, 2 to update, 0 to replace, 0 to destroy." in replanned.stdout
        repaired = await wfctl("apply", *file, "--auto-approve")
        assert "Apply complete! Resources: 1 added, 2 changed" in repaired.stdout
        clean = await wfctl("drift", *file)
        assert clean.exit_code == 0 and "No drift: 6 resources" in clean.stdout, clean.output

        refused = await wfctl("destroy", *file, "--auto-approve")
        assert refused.exit_code == 1
        assert 'resource "orders-db" is protected' in refused.stderr
        destroyed = await wfctl("destroy", *file, "--auto-approve", "--allow-replace", "orders-db")
        assert "Destroy complete! Resources: 6 destroyed." in destroyed.stdout, destroyed.output
