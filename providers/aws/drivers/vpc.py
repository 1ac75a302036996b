"""infra.vpc: an EC2 VPC, its subnets, and an internet gateway with a public route table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from interfaces.errors import NotFoundError
from providers.aws import tags as awstags
from providers.aws.base import AwsDriver
from providers.aws.bulk import (
    EC2_FILTER_VALUES,
    chunked,
    describe_by_ids,
    every_page,
    id_filter,
)


class VpcDriver(AwsDriver):
    """Config: cidr (required), subnets (CIDRs, or {cidr, az}; AZs round-robin when not
    given), public (internet gateway + a route table sending 0.0.0.0/0 to it), tags."""

    resource_type = "infra.vpc"
    FORCE_NEW = frozenset({"cidr"})
    UPDATABLE = frozenset({"subnets", "public", "tags"})
    OUTPUTS = frozenset({
        "availability_zones", "cidr", "internet_gateway_id", "public", "route_table_id",
        "subnet_ids", "subnets", "tags", "vpc_id"
    })

    # -- spec's operations ----------------------------------------------------------------

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        cidr = spec.config.get("cidr")
        if not cidr:
            raise self.invalid(spec.name, "config needs `cidr`, for example 10.0.0.0/16")
        with self.errors(spec.name):
            vpc = self._find(spec.name)
            if vpc is None:
                vpc = self.ec2.create_vpc(
                    CidrBlock=cidr,
                    TagSpecifications=awstags.ec2_tag_spec("vpc", self.tags_for(spec)),
                )["Vpc"]
            self.made(vpc["VpcId"])
            self._converge(vpc["VpcId"], spec)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=vpc["VpcId"]))

    def locate(self, spec: ResourceSpec) -> str:
        with self.errors(spec.name):
            vpc = self._find(spec.name)
        return vpc["VpcId"] if vpc else ""

    def read(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            vpc_id = ref.provider_id or self._require(ref.name)["VpcId"]
            vpc = self.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
            subnets = self._subnets(vpc_id)
            gateway = self._gateway(vpc_id)
            # Our route table is made after the gateway is attached and deleted before it is
            # detached: a VPC without one (a private VPC) has no table of ours to look for.
            table = self._route_table(vpc_id, _owner(vpc, ref.name)) if gateway else None
        return self._output_of(ref, vpc, subnets, gateway, table)

    def read_many(self, refs: Sequence[ResourceRef]) -> dict[str, ResourceOutput | None]:
        """Four describe calls per 200 VPCs (VPCs by id, their subnets, gateways and the
        route tables of those with a gateway, filtered by VPC id; three when none has one)
        instead of three or four per VPC."""
        found = self.read_each(ref for ref in refs if not ref.provider_id)
        for chunk in chunked([ref for ref in refs if ref.provider_id], EC2_FILTER_VALUES):
            ids = [ref.provider_id for ref in chunk]
            with self.bulk_errors(len(chunk)):
                vpcs = describe_by_ids(self.ec2, "describe_vpcs", "Vpcs", "VpcIds", "vpc-id", ids)
                subnets = every_page(
                    self.ec2, "describe_subnets", "Subnets", Filters=id_filter("vpc-id", ids)
                )
                gateways = every_page(
                    self.ec2,
                    "describe_internet_gateways",
                    "InternetGateways",
                    Filters=id_filter("attachment.vpc-id", ids),
                )
                gateway_of: dict[str, dict[str, Any]] = {}
                for gateway in gateways:
                    for attachment in gateway.get("Attachments", []):
                        gateway_of.setdefault(attachment["VpcId"], gateway)
                public = [vpc_id for vpc_id in ids if vpc_id in gateway_of]  # as read does
                tables = every_page(
                    self.ec2,
                    "describe_route_tables",
                    "RouteTables",
                    Filters=[
                        *id_filter("vpc-id", public),
                        {"Name": f"tag:{awstags.STACK_TAG}", "Values": [self.stack]},
                    ],
                ) if public else []  # fmt: skip
            by_id = {vpc["VpcId"]: vpc for vpc in vpcs}
            subnets_of: dict[str, list[dict[str, Any]]] = {}
            for subnet in subnets:
                subnets_of.setdefault(subnet["VpcId"], []).append(subnet)
            for ref in chunk:
                vpc = by_id.get(ref.provider_id)
                if vpc is None:
                    found[ref.name] = None
                    continue
                owner = _owner(vpc, ref.name)
                table = next(
                    (
                        t
                        for t in tables
                        if t["VpcId"] == ref.provider_id
                        and _tags(t).get(awstags.NAME_TAG) == owner
                    ),
                    None,
                )
                found[ref.name] = self._output_of(
                    ref, vpc, subnets_of.get(ref.provider_id, []),
                    gateway_of.get(ref.provider_id), table,
                )  # fmt: skip
        return found

    def _output_of(
        self,
        ref: ResourceRef,
        vpc: dict[str, Any],
        subnets: list[dict[str, Any]],
        gateway: dict[str, Any] | None,
        table: dict[str, Any] | None,
    ) -> ResourceOutput:
        vpc_id = vpc["VpcId"]
        subnets = sorted(subnets, key=lambda s: s["CidrBlock"])
        outputs: dict[str, Any] = {
            "vpc_id": vpc_id,
            "cidr": vpc["CidrBlock"],
            "subnets": [s["CidrBlock"] for s in subnets],
            "subnet_ids": [s["SubnetId"] for s in subnets],
            "availability_zones": [s["AvailabilityZone"] for s in subnets],
            "public": gateway is not None,
            "internet_gateway_id": gateway["InternetGatewayId"] if gateway else "",
            "route_table_id": table["RouteTableId"] if table else "",
            "tags": awstags.user_tags(_tags(vpc)),
        }
        status = ResourceStatus.READY if vpc["State"] == "available" else ResourceStatus.CREATING
        return self.output(ref.name, vpc_id, outputs, status)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        with self.errors(spec.name):
            self._converge(ref.provider_id, spec)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        vpc_id = ref.provider_id
        try:
            with self.errors(ref.name):
                vpc = self.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
        except NotFoundError:
            return
        # A retried delete may find any of these parts gone already; each step reads first.
        owner = _tags(vpc).get(awstags.NAME_TAG, ref.name)
        with self.errors(ref.name):
            self._set_public(vpc_id, owner, {}, public=False)
            for subnet in self._subnets(vpc_id):
                if awstags.is_ours(_tags(subnet), self.stack, owner):
                    self.retry_while(
                        {"DependencyViolation"},
                        lambda s=subnet: self.ec2.delete_subnet(SubnetId=s["SubnetId"]),
                        ref.name,
                        f"subnet {subnet['SubnetId']} to be free",
                    )
        with self.ignoring_missing(ref.name):
            self.retry_while(
                {"DependencyViolation"},
                lambda: self.ec2.delete_vpc(VpcId=vpc_id),
                ref.name,
                f"{self.describe(ref.name)} to be free of dependencies",
            )

    # -- parts ----------------------------------------------------------------------------

    @property
    def ec2(self) -> Any:
        return self.client("ec2")

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "subnets" in fields:
            fields["subnets"] = [cidr for cidr, _ in self._subnet_specs(spec)]
        if "public" in fields:
            fields["public"] = bool(fields["public"])
        return fields

    def _subnet_specs(self, spec: ResourceSpec) -> list[tuple[str, str | None]]:
        result: list[tuple[str, str | None]] = []
        for item in spec.config.get("subnets") or []:
            if isinstance(item, str):
                result.append((item, None))
            elif isinstance(item, dict) and item.get("cidr"):
                result.append((str(item["cidr"]), item.get("az")))
            else:
                raise self.invalid(spec.name, f"subnet {item!r} needs a cidr")
        return result

    def _find(self, name: str) -> dict[str, Any] | None:
        found = self.ec2.describe_vpcs(Filters=awstags.ec2_filters(self.stack, name))["Vpcs"]
        return found[0] if found else None

    def _require(self, name: str) -> dict[str, Any]:
        vpc = self._find(name)
        if vpc is None:
            raise NotFoundError(f"{self.describe(name)} does not exist", code="VpcNotFound")
        return vpc

    def _subnets(self, vpc_id: str) -> list[dict[str, Any]]:
        return self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
            "Subnets"
        ]

    def _gateway(self, vpc_id: str) -> dict[str, Any] | None:
        found = self.ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}]
        )["InternetGateways"]
        return found[0] if found else None

    def _detached_gateway(self, name: str) -> dict[str, Any] | None:
        """Our gateway that an interrupted create made but never attached."""
        found = self.ec2.describe_internet_gateways(
            Filters=awstags.ec2_filters(self.stack, name)
        )["InternetGateways"]
        loose = [g for g in found if not g.get("Attachments")]
        return loose[0] if loose else None

    def _route_table(self, vpc_id: str, name: str) -> dict[str, Any] | None:
        found = self.ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, *awstags.ec2_filters(self.stack, name)]
        )["RouteTables"]
        return found[0] if found else None

    def _converge(self, vpc_id: str, spec: ResourceSpec) -> None:
        """Make the VPC's parts match the spec; safe to repeat after any partial failure."""
        self.wait(
            lambda: self.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["State"] == "available"
            or None,
            f"{self.describe(spec.name)} to be available",
        )
        desired_tags = self.tags_for(spec)
        vpc = self.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
        awstags.sync_ec2_tags(self.ec2, vpc_id, _tags(vpc), desired_tags)
        subnet_ids = self._converge_subnets(vpc_id, spec, desired_tags)
        self._set_public(
            vpc_id, spec.name, desired_tags, public=bool(spec.config.get("public")),
            subnet_ids=subnet_ids,
        )  # fmt: skip

    def _converge_subnets(
        self, vpc_id: str, spec: ResourceSpec, desired_tags: dict[str, str]
    ) -> list[str]:
        wanted = self._subnet_specs(spec)
        existing = {s["CidrBlock"]: s for s in self._subnets(vpc_id)}
        zones: list[str] = []
        ids: list[str] = []
        for index, (cidr, az) in enumerate(wanted):
            subnet = existing.get(cidr)
            if subnet is None:
                if az is None:
                    zones = zones or self._zones()
                    az = zones[index % len(zones)]
                subnet = self.ec2.create_subnet(
                    VpcId=vpc_id,
                    CidrBlock=cidr,
                    AvailabilityZone=az,
                    TagSpecifications=awstags.ec2_tag_spec("subnet", desired_tags),
                )["Subnet"]
            else:
                awstags.sync_ec2_tags(self.ec2, subnet["SubnetId"], _tags(subnet), desired_tags)
            ids.append(subnet["SubnetId"])
        wanted_cidrs = {cidr for cidr, _ in wanted}
        for cidr, subnet in existing.items():
            if cidr not in wanted_cidrs and awstags.is_ours(_tags(subnet), self.stack, spec.name):
                self.ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        return ids

    def _zones(self) -> list[str]:
        zones = self.ec2.describe_availability_zones(
            Filters=[{"Name": "state", "Values": ["available"]}]
        )["AvailabilityZones"]
        return sorted(z["ZoneName"] for z in zones)

    def _set_public(
        self,
        vpc_id: str,
        name: str,
        desired_tags: dict[str, str],
        *,
        public: bool,
        subnet_ids: list[str] | None = None,
    ) -> None:
        gateway = self._gateway(vpc_id) or self._detached_gateway(name)
        table = self._route_table(vpc_id, name)
        if not public:
            if table is not None:
                for association in table.get("Associations", []):
                    if not association.get("Main"):
                        self.ec2.disassociate_route_table(
                            AssociationId=association["RouteTableAssociationId"]
                        )
                self.ec2.delete_route_table(RouteTableId=table["RouteTableId"])
            if gateway is not None and awstags.is_ours(_tags(gateway), self.stack, name):
                if gateway.get("Attachments"):
                    self.ec2.detach_internet_gateway(
                        InternetGatewayId=gateway["InternetGatewayId"], VpcId=vpc_id
                    )
                self.ec2.delete_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"])
            return
        if gateway is None:
            gateway = self.ec2.create_internet_gateway(
                TagSpecifications=awstags.ec2_tag_spec("internet-gateway", desired_tags)
            )["InternetGateway"]
        if not gateway.get("Attachments"):
            self.ec2.attach_internet_gateway(
                InternetGatewayId=gateway["InternetGatewayId"], VpcId=vpc_id
            )
        if table is None:
            table = self.ec2.create_route_table(
                VpcId=vpc_id,
                TagSpecifications=awstags.ec2_tag_spec("route-table", desired_tags),
            )["RouteTable"]
        if not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in table.get("Routes", [])):
            self.ec2.create_route(
                RouteTableId=table["RouteTableId"],
                DestinationCidrBlock="0.0.0.0/0",
                GatewayId=gateway["InternetGatewayId"],
            )
        associated = {a.get("SubnetId") for a in table.get("Associations", [])}
        for subnet_id in subnet_ids or []:
            if subnet_id not in associated:
                self.ec2.associate_route_table(
                    RouteTableId=table["RouteTableId"], SubnetId=subnet_id
                )
            self.ec2.modify_subnet_attribute(
                SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True}
            )


def _tags(item: dict[str, Any]) -> dict[str, str]:
    return awstags.tags_from_list(item.get("Tags"))


def _owner(vpc: dict[str, Any], name: str) -> str:
    """The resource name the VPC's parts are tagged with (an imported VPC's may differ)."""
    return _tags(vpc).get(awstags.NAME_TAG, name)
