"""infra.vpc: a DigitalOcean VPC (a private network in one region)."""

from __future__ import annotations

from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from interfaces.errors import ProviderError
from providers.digitalocean.base import DoDriver


class VpcDriver(DoDriver):
    """Config: region (provider's by default), ip_range (a private CIDR; DigitalOcean picks
    one when absent), description, name (default <stack>-<name>)."""

    resource_type = "infra.vpc"
    FORCE_NEW = frozenset({"region", "ip_range"})
    UPDATABLE = frozenset({"description"})
    OUTPUTS = frozenset({"description", "ip_range", "name", "region", "urn", "vpc_id"})

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        name = self.do_name(spec)
        # VPCs carry no tags; their names are unique per account, so the name is the mark.
        found = next((v for v in self._all(spec.name) if v.get("name") == name), None)
        if found is None:
            body: dict[str, Any] = {
                "name": name,
                "region": self.region(spec),
                "description": str(spec.config.get("description") or ""),
            }
            if spec.config.get("ip_range"):
                body["ip_range"] = str(spec.config["ip_range"])
            found = self.call(spec.name, self.do.vpcs.create, body)["vpc"]
        self.made(found["id"])
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=found["id"]))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        vpc = self.call(ref.name, self.do.vpcs.get, ref.provider_id)["vpc"]
        outputs = {
            "vpc_id": vpc["id"],
            "urn": vpc.get("urn", ""),
            "name": vpc.get("name", ""),
            "region": vpc.get("region", ""),
            "ip_range": vpc.get("ip_range", ""),
            "description": vpc.get("description", ""),
        }
        return self.output(ref.name, vpc["id"], outputs)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        changes = self.updatable_changes(ref, spec)
        if changes:
            self.call(spec.name, self.do.vpcs.patch, ref.provider_id, changes)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        """Delete the VPC, waiting while DigitalOcean still counts members in it (a droplet
        or load balancer deleted a moment ago leaves the VPC a little later)."""
        last: ProviderError | None = None

        def deleted() -> bool | None:
            nonlocal last
            try:
                with self.ignoring_missing():
                    self.call(ref.name, self.do.vpcs.delete, ref.provider_id)
            except ProviderError as error:
                if "member" not in str(error).lower():
                    raise
                last = error
                return None
            return True

        try:
            self.wait(deleted, f"{self.describe(ref.name)} to have no members")
        except ProviderError as error:
            if error.code == "WaitTimeout" and last is not None:
                raise last from error
            raise

    def _all(self, name: str) -> list[dict[str, Any]]:
        return self.list_all(name, self.do.vpcs.list, "vpcs")
