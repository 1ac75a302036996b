"""The spec's infra.* keys map onto keys the real drivers take, and structured values
(subnets, rules, records, policies, health checks) take the drivers' shapes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from engine.appfile import app_stacks, load_application
from engine.appfile.infra_keys import CONVERTERS, DROPPED, RENAMES, map_config
from providers.aws.provider import AwsProvider
from providers.azure.provider import AzureProvider
from providers.digitalocean.provider import DigitalOceanProvider
from providers.gcp.provider import GcpProvider
from tests.test_appfile_stacks import checked

FIXTURES = Path(__file__).parent / "fixtures" / "appfile"
DRIVERS = {"aws": AwsProvider.DRIVERS, "gcp": GcpProvider.DRIVERS,
           "azure": AzureProvider.DRIVERS, "digitalocean": DigitalOceanProvider.DRIVERS}
SAMPLES: dict[str, Any] = {
    "subnets": [{"cidr": "10.0.1.0/24", "az": "a", "public": True}],
    "rules": [{"direction": "ingress", "port": 80, "source": "0.0.0.0/0"},
              {"direction": "egress", "destination": "10.0.0.0/8"}],
    "records": [{"name": "www", "type": "CNAME", "target": "x.example.com"}],
    "policies": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
    "trustPrincipals": ["ecs-tasks.amazonaws.com"],
    "healthCheck": {"path": "/healthz"},
}


def accepted_keys(cloud: str, resource_type: str) -> set[str]:
    """What the driver manages, and the keys its docstring's `Config:` names (create-only
    keys such as DigitalOcean's `name` are read but not compared)."""
    driver = DRIVERS[cloud][resource_type]
    described = set(re.findall(r"[a-z][a-z0-9_]+", (driver.__doc__ or "").split("\n\n")[0]))
    return set(driver.FORCE_NEW | driver.UPDATABLE) | described


def test_every_renamed_key_is_one_the_driver_takes() -> None:
    wrong = [
        f"{resource_type} on {cloud}: {spec_key} -> {driver_key}"
        for resource_type, by_cloud in RENAMES.items()
        for cloud, keys in by_cloud.items()
        for spec_key, driver_key in keys.items()
        if resource_type not in DRIVERS[cloud]
        or driver_key not in accepted_keys(cloud, resource_type)
    ]
    assert not wrong


def test_every_converted_key_is_one_the_driver_takes() -> None:
    wrong = []
    for resource_type, keys in CONVERTERS.items():
        for spec_key, (clouds, _) in keys.items():
            for cloud in clouds:
                sample = SAMPLES[spec_key]
                if (cloud, spec_key) == ("gcp", "rules"):
                    sample = sample[:1]  # one direction per GCP firewall
                mapped, dropped = map_config(resource_type, cloud, {spec_key: sample}, "here")
                if not mapped or dropped or not set(mapped) <= accepted_keys(
                        cloud, resource_type):
                    wrong.append(f"{resource_type} on {cloud}: {spec_key} -> {sorted(mapped)}")
    assert not wrong


def test_dropped_keys_name_a_driver_that_exists() -> None:
    for resource_type, by_cloud in DROPPED.items():
        for cloud in by_cloud:
            assert resource_type in DRIVERS[cloud]


def test_structured_values_take_the_drivers_shapes() -> None:
    rules = SAMPLES["rules"]
    assert map_config("infra.firewall", "aws", {"rules": rules}, "x")[0] == {
        "ingress": [{"protocol": "tcp", "cidr": "0.0.0.0/0", "port": 80}],
        "egress": [{"protocol": "tcp", "cidr": "10.0.0.0/8"}]}
    assert map_config("infra.firewall", "digitalocean", {"rules": rules}, "x")[0] == {
        "ingress": [{"protocol": "tcp", "addresses": ["0.0.0.0/0"], "ports": "80"}],
        "egress": [{"protocol": "tcp", "addresses": ["10.0.0.0/8"]}]}
    assert map_config("infra.firewall", "gcp", {"rules": [rules[0]]}, "x")[0] == {
        "direction": "INGRESS", "allow": [{"protocol": "tcp", "ports": ["80"]}],
        "source_ranges": ["0.0.0.0/0"]}
    with pytest.raises(Exception, match="a GCP firewall has one direction"):
        map_config("infra.firewall", "gcp", {"rules": rules}, "x")
    assert map_config("infra.vpc", "digitalocean", {"subnets": SAMPLES["subnets"]},
                      "x") == ({}, {"subnets": "a DigitalOcean VPC has no subnets: its "
                                "ip_range (cidr) is the whole network"})
    assert map_config("infra.iam_role", "aws", {"policies": SAMPLES["policies"],
                                                "trustPrincipals": ["ecs-tasks.amazonaws.com"]},
                      "x")[0] == {"policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
                                  "service": ["ecs-tasks.amazonaws.com"]}
    assert map_config("infra.dns", "aws", {"records": SAMPLES["records"]}, "x")[0] == {
        "records": [{"name": "www", "type": "CNAME", "value": "x.example.com"}]}
    assert map_config("infra.load_balancer", "aws", {"healthCheck": {"path": "/h"}},
                      "x")[0] == {"health_check_path": "/h"}


def test_a_rule_with_a_bad_direction_says_where() -> None:
    with pytest.raises(Exception, match=r"web-fw: rules\[0\]: direction 'sideways'"):
        map_config("infra.firewall", "aws", {"rules": [{"direction": "sideways"}]}, "web-fw")


def test_every_key_fixture_makes_a_stack_the_drivers_accept() -> None:
    built = app_stacks(load_application(FIXTURES / "every-key.yaml"))
    stack = built.stacks["every-key"]
    checked(stack)
    by_name = {r["name"]: r for r in stack["resources"]}
    for resource in stack["resources"]:
        unknown = set(resource["config"]) - accepted_keys("aws", resource["type"])
        assert not unknown, (resource["name"], unknown)
    assert by_name["db"]["config"]["instance_type"] == "db.t3.micro"
    assert by_name["db"]["config"]["multi_az"] is True
    assert by_name["images"]["config"] == {"scan_on_push": True, "tag_mutability": "IMMUTABLE"}
    assert built.dropped["app"][0].startswith("healthCheck: an ECS service here has no health")
