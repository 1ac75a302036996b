"""Application files' iac.provider / iac.state / infra.* modules as native stacks, and the
spec's IaC step keys as native step configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.appfile import app_stacks, load_application, native_iac_step
from engine.iac.stack import parse_stack, validate_stack
from interfaces.errors import ConfigError
from providers.registry import create_provider

FIXTURES = Path(__file__).parent / "fixtures" / "appfile"


def app_of(tmp_path: Path, modules: str, extra: str = "") -> Any:
    path = tmp_path / "app.yaml"
    path.write_text(f"name: shop\nmodules:\n{modules}{extra}")
    return load_application(path)


AWS = "  - name: aws\n    type: iac.provider\n    config: {provider: aws, region: us-east-1}\n"


def checked(document: dict[str, Any]) -> None:
    """The document passes what `wfctl infra` checks before planning."""
    doc = parse_stack(document)
    capabilities = {k: create_provider(b.type).capabilities() for k, b in doc.providers.items()}
    validate_stack(doc, capabilities)


def test_the_issues_aws_application_becomes_one_valid_stack() -> None:
    app = load_application(FIXTURES / "infra-api.yaml")
    built = app_stacks(app)
    assert list(built.stacks) == ["infra-api"]
    stack = built.stacks["infra-api"]
    checked(stack)
    assert stack["state"] == {"backend": "sqlite", "path": ".data/infra-api/state.db"}
    assert stack["providers"] == {"aws-provider": {
        "type": "aws", "region": "us-east-1", "endpoint_url": "http://127.0.0.1:5000"}}
    by_name = {r["name"]: r for r in stack["resources"]}
    assert by_name["network"]["config"] == {
        "cidr": "10.20.0.0/16",
        "subnets": [{"cidr": "10.20.1.0/24", "az": "us-east-1a"},
                    {"cidr": "10.20.2.0/24", "az": "us-east-1b"}],
        "public": True,
    }
    db = by_name["orders-db"]
    assert db["size"] == "s"
    assert db["config"] == {
        "engine": "postgres", "version": "16", "storage_gb": 20, "multi_az": False,
        "backup_retention_days": 7, "subnet_ids": "${network.outputs.subnet_ids}"}
    # dependsOn on the provider module is start-up order in the spec, not a resource edge.
    assert db["depends_on"] == ["network"]
    svc = by_name["orders-svc"]
    assert svc["config"] == {
        "image": "public.ecr.aws/nginx/nginx:latest", "launch_type": "FARGATE", "cpu": 256,
        "memory": 512, "desired_count": 1, "container_port": 80,
        "subnets": "${network.outputs.subnet_ids}"}
    assert svc["depends_on"] == ["orders-db", "network"]
    assert "orders-db placed in network network (the stack's only infra.vpc)" in built.notes
    assert "iac.state iac-state: filesystem maps to the embedded SQLite store at " \
        ".data/infra-api/state.db" in built.notes
    assert built.resource_stack == dict.fromkeys(("network", "orders-db", "orders-svc"),
                                                 "infra-api")


def test_a_resource_naming_its_network_is_not_placed(tmp_path: Path) -> None:
    app = app_of(tmp_path, AWS + "  - name: net\n    type: infra.vpc\n    config: "
                 "{cidr: 10.0.0.0/16}\n  - name: db\n    type: infra.database\n    config: "
                 "{engine: postgres, subnetIds: [subnet-1]}\n")
    built = app_stacks(app)
    db = built.stacks["shop"]["resources"][1]
    assert db["config"]["subnet_ids"] == ["subnet-1"] and "depends_on" not in db
    assert not any("placed" in note for note in built.notes)


def test_two_vpcs_place_nothing(tmp_path: Path) -> None:
    vpc = "  - name: {0}\n    type: infra.vpc\n    config: {{cidr: 10.{1}.0.0/16}}\n"
    app = app_of(tmp_path, AWS + vpc.format("a", 1) + vpc.format("b", 2)
                 + "  - name: db\n    type: infra.database\n    config: {engine: postgres}\n")
    assert "subnet_ids" not in app_stacks(app).stacks["shop"]["resources"][2]["config"]


@pytest.mark.parametrize(("config", "state", "said"), [
    ("{backend: memory}", {"backend": "sqlite", "path": ".data/state.db"},
     "memory maps to the embedded SQLite store at .data/state.db (it survives restarts"),
    ("{backend: filesystem, directory: /var/wf/}", {"backend": "sqlite",
                                                    "path": "/var/wf/state.db"},
     "filesystem maps to the embedded SQLite store at /var/wf/state.db"),
    ("{backend: sqlite, path: s.db}", {"backend": "sqlite", "path": "s.db"}, "SQLite at s.db"),
    ("{backend: postgres, dsn: '${STATE_DSN}'}", {"backend": "postgres", "dsn_env": "STATE_DSN"},
     "DSN from $STATE_DSN in the worker's environment"),
])
def test_state_backends(tmp_path: Path, config: str, state: dict[str, str], said: str) -> None:
    app = app_of(tmp_path, AWS + f"  - name: st\n    type: iac.state\n    config: {config}\n")
    built = app_stacks(app)
    assert built.stacks["shop"]["state"] == state
    assert any(said in note for note in built.notes), built.notes
    checked(built.stacks["shop"])


@pytest.mark.parametrize("backend", ["s3", "gcs", "azure_blob"])
def test_remote_state_backends_are_refused_by_name(tmp_path: Path, backend: str) -> None:
    app = app_of(tmp_path, f"  - name: st\n    type: iac.state\n    config: {{backend: "
                 f"{backend}, bucket: b}}\n")
    with pytest.raises(ConfigError, match=rf'app.yaml:3: module "st": backend {backend!r} is '
                       r"not supported by wfctl \(supported: sqlite, filesystem, postgres, "
                       r"memory"):
        app_stacks(app)


def test_a_postgres_dsn_written_out_is_refused(tmp_path: Path) -> None:
    app = app_of(tmp_path, "  - name: st\n    type: iac.state\n    config: {backend: postgres,"
                 " dsn: 'postgres://u:pw@db/x'}\n")
    with pytest.raises(ConfigError) as caught:
        app_stacks(app)
    assert "environment reference" in str(caught.value)
    assert "pw" not in str(caught.value)


def test_provider_plugin_names_credentials_and_passed_through_keys(tmp_path: Path) -> None:
    app = app_of(tmp_path, "  - name: do\n    type: iac.provider\n    config: {plugin: "
                 "workflow-plugin-digitalocean, token: '${DO_TOKEN}', credentials: env, "
                 "region: ams3, poll_interval: 2}\n  - name: az\n    type: iac.provider\n"
                 "    config: {provider: azure, region: westeurope, resource_group: rg}\n"
                 "  - name: v\n    type: infra.vpc\n    config: {provider: do, cidr: 10.1.0.0/16}"
                 "\n")
    built = app_stacks(app)
    providers = built.stacks["shop"]["providers"]
    assert providers == {"do": {"type": "digitalocean", "credentials_env": "DO_TOKEN",
                                "region": "ams3", "poll_interval": 2}}
    assert built.dropped["do"] == ["credentials: the provider SDK's credential chain is "
                                   "always used"]
    assert built.stacks["shop"]["resources"][0]["config"] == {"ip_range": "10.1.0.0/16"}


def test_a_credential_written_into_the_provider_is_refused(tmp_path: Path) -> None:
    app = app_of(tmp_path, "  - name: aws\n    type: iac.provider\n    config: {provider: aws,"
                 " secret_access_key: abc123}\n")
    with pytest.raises(ConfigError, match="secret_access_key looks like a credential") as caught:
        app_stacks(app)
    assert "abc123" not in str(caught.value)


def test_an_unknown_plugin_is_named(tmp_path: Path) -> None:
    app = app_of(tmp_path, "  - name: p\n    type: iac.provider\n    config: {plugin: "
                 "workflow-plugin-hetzner}\n")
    with pytest.raises(ConfigError, match="plugin 'workflow-plugin-hetzner' is not one"):
        app_stacks(app)


def test_a_resource_naming_an_unknown_provider(tmp_path: Path) -> None:
    app = app_of(tmp_path, AWS + AWS.replace("name: aws", "name: aws2")
                 + "  - name: b\n    type: infra.storage\n    config: {provider: gcp}\n")
    with pytest.raises(ConfigError, match=r'app.yaml:9: module "b": config.provider \'gcp\' '
                       r"names no iac.provider module \(declared: aws, aws2\)"):
        app_stacks(app)


def test_environments_override_exclude_and_name_the_stack() -> None:
    app = load_application(FIXTURES / "multi-env.yaml")
    staging = app_stacks(app, env="staging")
    assert list(staging.stacks) == ["bmw-staging"]
    stack = staging.stacks["bmw-staging"]
    checked(stack)
    assert stack["state"]["path"] == ".data/bmw-staging/state.db"
    assert stack["providers"]["do-provider"]["region"] == "nyc3"  # top-level environments
    by_name = {r["name"]: r for r in stack["resources"]}
    assert "bmw-dns" not in by_name  # `staging: null`
    assert "bmw-dns (infra.dns) does not exist in environment staging" in staging.notes
    db = by_name["bmw-database"]
    assert db["config"]["instance_type"] == "db-s-1vcpu-1gb" and "size" not in db
    assert db["config"]["vpc_id"] == "${bmw-vpc.outputs.vpc_id}"
    assert by_name["bmw-app"]["config"] == {"http_port": 8080, "image": "acme/bmw:latest",
                                            "instance_count": 1,
                                            "instance_type": "professional-xs"}
    prod = app_stacks(app, env="prod").stacks["bmw-prod"]
    checked(prod)
    by_name = {r["name"]: r for r in prod["resources"]}
    assert by_name["bmw-database"]["size"] == "m"
    assert by_name["bmw-dns"]["config"] == {
        "domain": "buymywishlist.com",
        "records": [{"name": "www", "type": "CNAME", "data": "bmw.ondigitalocean.app."}]}
    assert by_name["bmw-dns"]["depends_on"] == ["bmw-app"]


def test_several_state_stores_make_several_stacks(tmp_path: Path) -> None:
    app = app_of(tmp_path, AWS + "  - name: core\n    type: iac.state\n    config: {backend: "
                 "sqlite, path: core.db}\n  - name: edge\n    type: iac.state\n    config: "
                 "{backend: sqlite, path: edge.db}\n  - name: b\n    type: infra.storage\n"
                 "    config: {state: edge}\n  - name: c\n    type: infra.storage\n")
    with pytest.raises(ConfigError, match=r'module "c": config.state None names no iac.state'):
        app_stacks(app)


def test_native_iac_step_targets_and_document() -> None:
    app = load_application(FIXTURES / "infra-api.yaml")
    document = app_stacks(app).stacks["infra-api"]
    steps = {n: p["steps"][0] for n, p in app.pipelines.items()}
    kind, config = native_iac_step(app, "step.iac_plan", steps["plan-infra"]["config"], env=None)
    assert (kind, config) == ("step.iac_plan", {"document": document, "targets": ["orders-db"]})
    # Every resource named is the whole stack; a provider's resources likewise.
    assert native_iac_step(app, "step.iac_apply", steps["apply-infra"]["config"],
                           env=None)[1] == {"document": document}
    assert native_iac_step(app, "step.iac_destroy", steps["destroy-infra"]["config"],
                           env=None)[1] == {"document": document}
    kind, config = native_iac_step(app, "step.iac_provider_plan",
                                   {"provider": "aws-provider", "resources": ["orders-svc"],
                                    "parallelism": 4}, env=None)
    assert (kind, config) == ("step.iac_plan", {"parallelism": 4, "document": document,
                                                "targets": ["orders-svc"]})


def test_native_iac_step_names_what_is_not_a_resource() -> None:
    app = load_application(FIXTURES / "infra-api.yaml")
    with pytest.raises(ConfigError, match=r"step.iac_apply: resource_id 'api-server' is not an "
                       r"infra.\* module of .*\(its resources: network, orders-db, orders-svc\)"):
        native_iac_step(app, "step.iac_apply", {"resource_id": "api-server"}, env=None)
    with pytest.raises(ConfigError, match="state_store 'nope' is not an iac.state module"):
        native_iac_step(app, "step.iac_plan", {"state_store": "nope"}, env=None)


def test_depends_on_a_module_that_does_not_exist(tmp_path: Path) -> None:
    app = app_of(tmp_path, AWS + "  - name: b\n    type: infra.storage\n"
                 "    dependsOn: [aws, netwrok]\n")
    with pytest.raises(ConfigError, match=r'app.yaml:6: module "b": dependsOn names no module: '
                       r"netwrok$"):
        app_stacks(app)
