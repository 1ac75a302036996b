"""infra.vpc: a custom-mode Compute network and its subnetworks."""

from __future__ import annotations

from typing import Any

from google.cloud import compute_v1

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from interfaces.errors import NotFoundError
from providers.gcp import labels as gcplabels
from providers.gcp.base import GcpDriver, last_segment

ROUTING_MODES = ("REGIONAL", "GLOBAL")


class NetworkDriver(GcpDriver):
    """Config: subnets (CIDRs, or {cidr, name, region}; region defaults to the provider's,
    name prefixed with the network's,
    <network>-<index> by default), routing_mode (REGIONAL default, or GLOBAL), network (the
    name, default <stack>-<name>). Changing a subnet's CIDR or region replaces the network;
    adding or removing subnets and the routing mode change in place. Networks take no labels:
    the description marks them as ours."""

    resource_type = "infra.vpc"
    FORCE_NEW = frozenset({"network"})
    UPDATABLE = frozenset({"subnets", "routing_mode"})
    OUTPUTS = frozenset({
        "network", "network_id", "routing_mode", "self_link", "subnet_names", "subnet_self_links",
        "subnets", "subnetwork"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        network = self.network_name(spec)
        self.ensure(
            spec.name,
            f"network {network}",
            lambda: self._get(network),
            lambda rid: self.networks.insert_unary(
                compute_v1.InsertNetworkRequest(
                    project=self.project,
                    request_id=rid,
                    network_resource={
                        "name": network,
                        "description": self.description(spec.name),
                        "auto_create_subnetworks": False,
                        "routing_config": {"routing_mode": self._routing_mode(spec)},
                    },
                )
            ),
            self.owned_by_description(spec.name),
        )
        self.made(network)
        self._converge(network, spec)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=network))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            network = self._get(ref.provider_id)
            subnets = [self._subnet(link) for link in network.subnetworks]
        subnets.sort(key=lambda s: s.name)
        outputs: dict[str, Any] = {
            "network": network.name,
            "self_link": network.self_link,
            "network_id": str(network.id),
            "routing_mode": network.routing_config.routing_mode or "REGIONAL",
            "subnets": [
                {"name": s.name, "cidr": s.ip_cidr_range, "region": last_segment(s.region)}
                for s in subnets
            ],
            "subnet_names": [s.name for s in subnets],
            # The first subnet, for stacks with one: `${net.outputs.subnetwork}`.
            "subnetwork": subnets[0].self_link if subnets else "",
            "subnet_self_links": [s.self_link for s in subnets],
        }
        return self.output(ref.name, network.name, outputs)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        with self.errors(spec.name):
            network = self._get(ref.provider_id)
        if network.routing_config.routing_mode != self._routing_mode(spec):
            self.mutate(
                spec.name,
                lambda rid: self.networks.patch_unary(
                    compute_v1.PatchNetworkRequest(
                        project=self.project,
                        network=network.name,
                        request_id=rid,
                        network_resource={
                            "routing_config": {"routing_mode": self._routing_mode(spec)}
                        },
                    )
                ),
                "routing",
                "patch",
            )
        self._converge(network.name, spec)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        network = self.find(ref.name, lambda: self._get(ref.provider_id))
        if network is None:
            return
        for link in network.subnetworks:
            subnet = self.find(ref.name, lambda link=link: self._subnet(link))
            if subnet is not None and self._owned(subnet, ref.name):
                self._delete_subnet(ref.name, subnet)
        self.remove(
            ref.name,
            f"network {network.name}",
            lambda rid: self.networks.delete_unary(
                compute_v1.DeleteNetworkRequest(
                    project=self.project, network=network.name, request_id=rid
                )
            ),
        )

    # -- parts ----------------------------------------------------------------------------

    @property
    def networks(self) -> compute_v1.NetworksClient:
        return self.compute(compute_v1.NetworksClient)

    @property
    def subnetworks(self) -> compute_v1.SubnetworksClient:
        return self.compute(compute_v1.SubnetworksClient)

    def network_name(self, spec: ResourceSpec) -> str:
        given = spec.config.get("network")
        return gcplabels.valid_name(str(given)) if given else self.gce_name(spec)

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "network" in fields:
            fields["network"] = self.network_name(spec)
        if "subnets" in fields:
            fields["subnets"] = self.subnet_specs(spec)
        if "routing_mode" in fields:
            fields["routing_mode"] = self._routing_mode(spec)
        return fields

    def forces_new(self, key: str, desired: Any, actual: Any) -> bool:
        if key != "subnets":
            return super().forces_new(key, desired, actual)
        # A subnet keeps its name but not its range or region: that needs a new network.
        have = {s["name"]: s for s in actual or []}
        return any(
            s["name"] in have and (have[s["name"]]["cidr"], have[s["name"]]["region"])
            != (s["cidr"], s["region"])
            for s in desired
        )

    def subnet_specs(self, spec: ResourceSpec) -> list[dict[str, str]]:
        network = self.network_name(spec)
        found: list[dict[str, str]] = []
        for index, item in enumerate(spec.config.get("subnets") or []):
            if isinstance(item, str):
                item = {"cidr": item}
            if not isinstance(item, dict) or not item.get("cidr"):
                raise self.invalid(spec.name, f"subnet {item!r} needs a cidr")
            # Subnet names are per region, not per network: prefixed to stay ours.
            name = gcplabels.valid_name(f"{network}-{item.get('name') or index}")
            found.append(
                {
                    "name": name,
                    "cidr": str(item["cidr"]),
                    "region": str(item.get("region") or self.context.region),
                }
            )
        return found

    def _routing_mode(self, spec: ResourceSpec) -> str:
        mode = str(spec.config.get("routing_mode") or "REGIONAL").upper()
        if mode not in ROUTING_MODES:
            raise self.invalid(spec.name, f"routing_mode {mode!r} is not REGIONAL or GLOBAL")
        return mode

    def _get(self, network: str) -> compute_v1.Network:
        return self.networks.get(project=self.project, network=network)

    def _subnet(self, link: str) -> compute_v1.Subnetwork:
        region, name = _region_and_name(link)
        return self.subnetworks.get(project=self.project, region=region, subnetwork=name)

    def _owned(self, subnet: compute_v1.Subnetwork, name: str) -> bool:
        return gcplabels.is_ours(self.stack, name, text=subnet.description)

    def _converge(self, network: str, spec: ResourceSpec) -> None:
        """Make the subnets match the spec; safe to repeat after any partial failure."""
        wanted = self.subnet_specs(spec)
        with self.errors(spec.name):
            links = self._get(network).subnetworks
            existing = {s.name: s for s in (self._subnet(link) for link in links)}
        for subnet in wanted:
            if subnet["name"] in existing:
                continue
            self.ensure(
                spec.name,
                f"subnetwork {subnet['name']}",
                lambda s=subnet: self.subnetworks.get(
                    project=self.project, region=s["region"], subnetwork=s["name"]
                ),
                lambda rid, s=subnet: self.subnetworks.insert_unary(
                    compute_v1.InsertSubnetworkRequest(
                        project=self.project,
                        region=s["region"],
                        request_id=rid,
                        subnetwork_resource={
                            "name": s["name"],
                            "ip_cidr_range": s["cidr"],
                            "network": f"projects/{self.project}/global/networks/{network}",
                            "description": self.description(spec.name),
                        },
                    )
                ),
                lambda found: self._owned(found, spec.name),
            )
        names = {s["name"] for s in wanted}
        for name, subnet in existing.items():
            if name not in names and self._owned(subnet, spec.name):
                self._delete_subnet(spec.name, subnet)

    def _delete_subnet(self, name: str, subnet: compute_v1.Subnetwork) -> None:
        region = last_segment(subnet.region)
        self.remove(
            name,
            f"subnetwork {subnet.name}",
            lambda rid: self.subnetworks.delete_unary(
                compute_v1.DeleteSubnetworkRequest(
                    project=self.project, region=region, subnetwork=subnet.name, request_id=rid
                )
            ),
        )


def _region_and_name(link: str) -> tuple[str, str]:
    parts = link.rstrip("/").split("/")
    try:
        return parts[parts.index("regions") + 1], parts[-1]
    except (ValueError, IndexError):
        raise NotFoundError(f"subnetwork link {link!r} names no region") from None
