"""A 30-resource AWS stack behind the throttling proxy, its state and what moto holds of it.

Shared by the pending-entry tests (tests/test_iac_pending_aws.py) and the invariant test
(tests/test_iac_pending_invariant.py).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interfaces.iac import ResourceState
from providers.aws import AwsProvider
from statestore import open_state_store
from tests.aws_inventory import CloudThing, stack_inventory

if TYPE_CHECKING:
    from tests.aws_fixtures import AwsRequest

# Throttled answers say "again in 50 ms": Temporal's 20 attempts of a create pass in seconds,
# so creates fail for good without the test waiting out minutes of backoff.
RETRY_AFTER = "0.05"


def not_head(request: AwsRequest) -> bool:
    # S3 answers HEAD without a body; a throttled HEAD from this proxy would read as a 400.
    return request.method != "HEAD"


def stack_resources(groups: int) -> list[dict[str, Any]]:
    """Ten resources of ten AWS types per group, each group in its own VPC."""
    resources: list[dict[str, Any]] = []
    for g in range(groups):
        net, fw = f"net{g}", f"fw{g}"
        resources += [
            {"name": net, "type": "infra.vpc",
             "config": {"cidr": f"10.{100 + g}.0.0/16", "public": True,
                        "subnets": [f"10.{100 + g}.1.0/24", f"10.{100 + g}.2.0/24"]}},
            {"name": fw, "type": "infra.firewall",
             "config": {"vpc_id": f"${{{net}.outputs.vpc_id}}",
                        "ingress": [{"port": 5432, "cidr": f"10.{100 + g}.0.0/16"}]}},
            {"name": f"db{g}", "type": "infra.database", "size": "xs",
             "config": {"engine": "postgres", "version": "16",
                        "subnet_ids": f"${{{net}.outputs.subnet_ids}}",
                        "security_group_ids": [f"${{{fw}.outputs.security_group_id}}"]}},
            {"name": f"cache{g}", "type": "infra.cache", "size": "xs",
             "config": {"engine": "redis", "version": "7.1",
                        "vpc_id": f"${{{net}.outputs.vpc_id}}"}},
            {"name": f"bucket{g}", "type": "infra.storage", "config": {"versioning": True}},
            {"name": f"role{g}", "type": "infra.iam_role", "config": {"service": "ecs-tasks"}},
            {"name": f"repo{g}", "type": "infra.registry", "config": {"scan_on_push": True}},
            {"name": f"zone{g}", "type": "infra.dns",
             "config": {"zone": f"zone{g}.example.com", "comment": f"group {g}"}},
            {"name": f"api{g}", "type": "infra.api_gateway", "config": {"description": "api"}},
            {"name": f"cert{g}", "type": "infra.certificate",
             "config": {"domain_name": f"cert{g}.example.com"}},
        ]  # fmt: skip
    return resources


class PendingStack:
    """A stack document pointed at a proxy in front of moto, with its state and inventory."""

    def __init__(self, tmp_path: Path, endpoint: str, groups: int) -> None:
        self.name = f"pend-{uuid.uuid4().hex[:8]}"
        self.state = {"backend": "sqlite", "path": str(tmp_path / f"{self.name}.db")}
        self.endpoint = endpoint
        self.resources = stack_resources(groups)
        # Zones and certificates in the shared moto need names of their own per stack.
        for resource in self.resources:
            config = resource["config"]
            for key in ("zone", "domain_name"):
                if key in config:
                    config[key] = config[key].replace("example.com", f"{self.name}.example.com")

    def document(self, resources: list[dict[str, Any]] | None = None, **options: Any) -> dict:
        provider = {"type": "aws", "region": "us-east-1", "endpoint_url": self.endpoint,
                    "max_attempts": 1, "poll_interval": 0.05, "wait_timeout": 20,
                    "dependency_timeout": 5}  # fmt: skip
        return {"stack": self.name, "state": self.state, "providers": {"aws": provider},
                "resources": self.resources if resources is None else resources,
                **options}  # fmt: skip

    def states(self) -> list[ResourceState]:
        store = open_state_store(self.state, self.name)
        try:
            return store.list_resources()
        finally:
            store.close()

    def inventory(self, provider: AwsProvider) -> list[CloudThing]:
        return stack_inventory(provider.context.session, self.name, f"{self.name}-")

    def untracked(self, provider: AwsProvider) -> list[str]:
        """What moto holds for the stack that no state entry (done or pending) names."""
        names = {state.name for state in self.states()}
        return [str(thing) for thing in self.inventory(provider) if thing.owner not in names]
