"""infra.firewall: an EC2 security group and its ingress/egress rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from interfaces.errors import NotFoundError, ProviderError
from providers.aws import tags as awstags
from providers.aws.base import AwsDriver
from providers.aws.bulk import EC2_FILTER_VALUES, chunked, describe_by_ids

# A rule in the one shape diff compares: every rule has protocol, from_port, to_port and
# exactly one source (cidr, ipv6_cidr or source_security_group). Ports are -1 for "all".
Rule = dict[str, Any]
SOURCES = ("cidr", "ipv6_cidr", "source_security_group")
PROTOCOL_ALIASES = {"all": "-1", "any": "-1", "*": "-1", "6": "tcp", "17": "udp", "1": "icmp"}


class FirewallDriver(AwsDriver):
    """Config: vpc_id (default VPC when absent), description, group_name (default
    <stack>-<name>), ingress and egress: lists of rules {protocol (tcp|udp|icmp|all, default
    tcp), port (80 or "8000-8100") or from_port/to_port, cidr or cidrs, ipv6_cidr,
    source_security_group}. Egress is left as AWS made it (allow all) unless given."""

    resource_type = "infra.firewall"
    FORCE_NEW = frozenset({"vpc_id", "description", "group_name"})
    UPDATABLE = frozenset({"ingress", "egress", "tags"})
    OUTPUTS = frozenset({
        "arn", "description", "egress", "group_name", "ingress", "security_group_id", "tags",
        "vpc_id"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        with self.errors(spec.name):
            group = self._find(spec.name)
            if group is None:
                description = spec.config.get("description") or f"wfctl {self.stack}/{spec.name}"
                params: dict[str, Any] = {
                    "GroupName": self._group_name(spec),
                    "Description": str(description),
                    "TagSpecifications": awstags.ec2_tag_spec(
                        "security-group", self.tags_for(spec)
                    ),
                }
                if spec.config.get("vpc_id"):
                    params["VpcId"] = spec.config["vpc_id"]
                group_id = self.ec2.create_security_group(**params)["GroupId"]
            else:
                group_id = group["GroupId"]
            self.made(group_id)
            self._converge(group_id, spec)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=group_id))

    def locate(self, spec: ResourceSpec) -> str:
        with self.errors(spec.name):
            group = self._find(spec.name)
        return str(group["GroupId"]) if group else ""

    def read(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            group = self._describe(ref)
        return self._output_of(ref, group)

    def read_many(self, refs: Sequence[ResourceRef]) -> dict[str, ResourceOutput | None]:
        """One describe_security_groups per 200 groups, by their ids."""
        found = self.read_each(ref for ref in refs if not ref.provider_id)
        for chunk in chunked([ref for ref in refs if ref.provider_id], EC2_FILTER_VALUES):
            with self.bulk_errors(len(chunk)):
                groups = describe_by_ids(
                    self.ec2, "describe_security_groups", "SecurityGroups", "GroupIds",
                    "group-id", [ref.provider_id for ref in chunk],
                )  # fmt: skip
            by_id = {group["GroupId"]: group for group in groups}
            for ref in chunk:
                group = by_id.get(ref.provider_id)
                found[ref.name] = None if group is None else self._output_of(ref, group)
        return found

    def _output_of(self, ref: ResourceRef, group: dict[str, Any]) -> ResourceOutput:
        outputs = {
            "security_group_id": group["GroupId"],
            "group_name": group["GroupName"],
            "description": group.get("Description", ""),
            "vpc_id": group.get("VpcId", ""),
            "ingress": _rules_from_permissions(group.get("IpPermissions", [])),
            "egress": _rules_from_permissions(group.get("IpPermissionsEgress", [])),
            "arn": group.get("SecurityGroupArn", ""),
            "tags": awstags.user_tags(_tags(group)),
        }
        return self.output(ref.name, group["GroupId"], outputs)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        with self.errors(spec.name):
            self._converge(ref.provider_id, spec)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing(ref.name):
            self.retry_while(
                {"DependencyViolation"},
                lambda: self.ec2.delete_security_group(GroupId=ref.provider_id),
                ref.name,
                f"{self.describe(ref.name)} to be free of network interfaces",
            )

    # -- parts ----------------------------------------------------------------------------

    @property
    def ec2(self) -> Any:
        return self.client("ec2")

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        for direction in ("ingress", "egress"):
            if direction in fields:
                fields[direction] = self._rules(spec, direction)
        return fields

    def _group_name(self, spec: ResourceSpec) -> str:
        return str(spec.config.get("group_name") or f"{self.stack}-{spec.name}")[:255]

    def _find(self, name: str) -> dict[str, Any] | None:
        found = self.ec2.describe_security_groups(
            Filters=awstags.ec2_filters(self.stack, name)
        )["SecurityGroups"]
        return found[0] if found else None

    def _describe(self, ref: ResourceRef) -> dict[str, Any]:
        if not ref.provider_id:
            group = self._find(ref.name)
            if group is None:
                raise NotFoundError(f"{self.describe(ref.name)} does not exist")
            return group
        return self.ec2.describe_security_groups(GroupIds=[ref.provider_id])["SecurityGroups"][0]

    def _rules(self, spec: ResourceSpec, direction: str) -> list[Rule]:
        rules: list[Rule] = []
        for raw in spec.config.get(direction) or []:
            if not isinstance(raw, dict):
                raise self.invalid(spec.name, f"{direction} rule {raw!r} is not a mapping")
            rules.extend(_expand_rule(raw, lambda problem: self.invalid(spec.name, problem)))
        return rules

    def _converge(self, group_id: str, spec: ResourceSpec) -> None:
        group = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        awstags.sync_ec2_tags(self.ec2, group_id, _tags(group), self.tags_for(spec))
        for direction, key in (("ingress", "IpPermissions"), ("egress", "IpPermissionsEgress")):
            if direction not in spec.config:
                continue
            wanted = self._rules(spec, direction)
            have = _rules_from_permissions(group.get(key, []))
            missing = [r for r in wanted if r not in have]
            extra = [r for r in have if r not in wanted]
            authorize, revoke = (
                (self.ec2.authorize_security_group_ingress, self.ec2.revoke_security_group_ingress)
                if direction == "ingress"
                else (
                    self.ec2.authorize_security_group_egress,
                    self.ec2.revoke_security_group_egress,
                )
            )
            if extra:
                revoke(GroupId=group_id, IpPermissions=[_permission(r) for r in extra])
            if missing:
                authorize(GroupId=group_id, IpPermissions=[_permission(r) for r in missing])


def _expand_rule(
    raw: dict[str, Any], invalid: Callable[[str], ProviderError]
) -> list[Rule]:
    protocol = str(raw.get("protocol", "tcp")).lower()
    protocol = PROTOCOL_ALIASES.get(protocol, protocol)
    if protocol == "-1":
        low = high = -1
    elif "port" in raw:
        low_text, _, high_text = str(raw["port"]).partition("-")
        try:
            low, high = int(low_text), int(high_text or low_text)
        except ValueError:
            problem = f"port {raw['port']!r} is not a number or a range like 8000-8100"
            raise invalid(problem) from None
    elif "from_port" in raw or "to_port" in raw:
        low = int(raw.get("from_port", raw.get("to_port")))
        high = int(raw.get("to_port", low))
    elif protocol == "icmp":
        low = high = -1
    else:
        raise invalid(f"rule {raw!r} needs a port (or protocol: all)")
    sources: list[tuple[str, str]] = []
    for cidr in ([raw["cidr"]] if raw.get("cidr") else []) + list(raw.get("cidrs") or []):
        sources.append(("cidr", str(cidr)))
    if raw.get("ipv6_cidr"):
        sources.append(("ipv6_cidr", str(raw["ipv6_cidr"])))
    if raw.get("source_security_group"):
        sources.append(("source_security_group", str(raw["source_security_group"])))
    if not sources:
        raise invalid(f"rule {raw!r} needs a cidr, cidrs, ipv6_cidr or source_security_group")
    return [
        {"protocol": protocol, "from_port": low, "to_port": high, kind: value}
        for kind, value in sources
    ]


def _rules_from_permissions(permissions: list[dict[str, Any]]) -> list[Rule]:
    rules: list[Rule] = []
    for permission in permissions:
        base = {
            "protocol": permission.get("IpProtocol", "-1"),
            "from_port": permission.get("FromPort", -1),
            "to_port": permission.get("ToPort", -1),
        }
        if base["protocol"] == "-1":
            base["from_port"] = base["to_port"] = -1
        rules += [{**base, "cidr": r["CidrIp"]} for r in permission.get("IpRanges", [])]
        rules += [{**base, "ipv6_cidr": r["CidrIpv6"]} for r in permission.get("Ipv6Ranges", [])]
        rules += [
            {**base, "source_security_group": p["GroupId"]}
            for p in permission.get("UserIdGroupPairs", [])
        ]
    return rules


def _permission(rule: Rule) -> dict[str, Any]:
    permission: dict[str, Any] = {"IpProtocol": rule["protocol"]}
    if rule["protocol"] != "-1":
        permission["FromPort"] = rule["from_port"]
        permission["ToPort"] = rule["to_port"]
    if "cidr" in rule:
        permission["IpRanges"] = [{"CidrIp": rule["cidr"]}]
    elif "ipv6_cidr" in rule:
        permission["Ipv6Ranges"] = [{"CidrIpv6": rule["ipv6_cidr"]}]
    else:
        permission["UserIdGroupPairs"] = [{"GroupId": rule["source_security_group"]}]
    return permission


def _tags(item: dict[str, Any]) -> dict[str, str]:
    return awstags.tags_from_list(item.get("Tags"))
