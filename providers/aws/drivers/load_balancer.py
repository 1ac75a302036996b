"""infra.load_balancer: an ELBv2 load balancer, its target group and the listener joining them."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from interfaces.errors import NotFoundError, ProviderError
from providers.aws import tags as awstags
from providers.aws.base import AwsDriver

_STATUS = {
    "active": ResourceStatus.READY,
    "active_impaired": ResourceStatus.READY,
    "provisioning": ResourceStatus.CREATING,
    "failed": ResourceStatus.FAILED,
}


class LoadBalancerDriver(AwsDriver):
    """Config: subnets (subnet ids, two AZs or more for an ALB; usually a vpc's subnet_ids),
    security_groups (ids, usually a firewall's security_group_id), scheme (internet-facing
    default, or internal), type (application default, or network), lb_name (default
    <stack>-<name>, at most 32 characters), port and protocol of the listener (80/HTTP, or
    443/HTTPS when certificate_arn is set), certificate_arn, target_port (default 80),
    target_type (ip default, for Fargate; or instance), health_check_path (default /), tags.
    The target group lives in the subnets' VPC and is named like the load balancer."""

    resource_type = "infra.load_balancer"
    FORCE_NEW = frozenset({"lb_name", "scheme", "type", "target_port", "target_type"})
    UPDATABLE = frozenset(
        {
            "subnets",
            "security_groups",
            "port",
            "protocol",
            "certificate_arn",
            "health_check_path",
            "tags",
        }
    )
    OUTPUTS = frozenset({
        "arn", "certificate_arn", "dns_name", "health_check_path", "lb_name", "listener_arn",
        "port", "protocol", "scheme", "security_groups", "state", "subnets", "tags",
        "target_group_arn", "target_port", "target_type", "type", "vpc_id", "zone_id"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        lb_name = self.lb_name(spec)
        subnets = self._list(spec, "subnets")
        if not subnets:
            raise self.invalid(spec.name, "config needs `subnets` (subnet ids)")
        with self.errors(spec.name):
            lb = self._by_name(lb_name)
            if lb is None:
                params: dict[str, Any] = {
                    "Name": lb_name,
                    "Subnets": subnets,
                    "Scheme": self._scheme(spec),
                    "Type": self._type(spec),
                    "Tags": awstags.tag_list(self.tags_for(spec)),
                }
                if spec.config.get("security_groups"):
                    params["SecurityGroups"] = self._list(spec, "security_groups")
                lb = self.elb.create_load_balancer(**params)["LoadBalancers"][0]
            elif not awstags.is_ours(self._tags(lb["LoadBalancerArn"]), self.stack, spec.name):
                raise ProviderError(
                    f"{self.describe(spec.name)}: load balancer {lb_name!r} already exists and "
                    "is not this resource's (import it to manage it)",
                    code="DuplicateLoadBalancerName",
                )
            self.made(lb["LoadBalancerArn"])
            target_group = self._target_group(lb, spec)
            self._converge(lb, target_group, spec)
        ref = ResourceRef(name=spec.name, type=spec.type, provider_id=lb["LoadBalancerArn"])
        # Provisioning takes minutes on AWS; dependents (DNS aliases) need it active.
        return self.wait(lambda: self._when_active(ref), f"{self.describe(spec.name)} active")

    def locate(self, spec: ResourceSpec) -> str:
        with self.errors(spec.name):
            lb = self._by_name(self.lb_name(spec))
            if lb is None or not awstags.is_ours(
                self._tags(lb["LoadBalancerArn"]), self.stack, spec.name
            ):
                return ""
        return str(lb["LoadBalancerArn"])

    def read(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            lb = self._describe(ref)
            arn = lb["LoadBalancerArn"]
            listener = self._listener(arn)
            target_group = self._forward_target(listener)
            tags = self._tags(arn)
        certificates = (listener or {}).get("Certificates") or [{}]
        outputs = {
            "arn": arn,
            "lb_name": lb["LoadBalancerName"],
            "dns_name": lb.get("DNSName", ""),
            "zone_id": lb.get("CanonicalHostedZoneId", ""),
            "scheme": lb["Scheme"],
            "type": lb["Type"],
            "state": lb["State"]["Code"],
            "vpc_id": lb.get("VpcId", ""),
            "subnets": sorted(z["SubnetId"] for z in lb.get("AvailabilityZones", [])),
            "security_groups": sorted(lb.get("SecurityGroups", [])),
            "listener_arn": listener["ListenerArn"] if listener else "",
            "port": listener["Port"] if listener else None,
            "protocol": listener["Protocol"] if listener else "",
            "certificate_arn": certificates[0].get("CertificateArn", ""),
            "target_group_arn": target_group["TargetGroupArn"] if target_group else "",
            "target_port": target_group["Port"] if target_group else None,
            "target_type": target_group["TargetType"] if target_group else "",
            "health_check_path": target_group.get("HealthCheckPath", "") if target_group else "",
            "tags": awstags.user_tags(tags),
        }
        status = _STATUS.get(lb["State"]["Code"], ResourceStatus.UNKNOWN)
        return self.output(ref.name, arn, outputs, status)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        with self.errors(spec.name):
            lb = self._describe(ref)
            # An imported load balancer keeps forwarding to the target group it has.
            target_group = self._forward_target(self._listener(lb["LoadBalancerArn"]))
            self._converge(lb, target_group or self._target_group(lb, spec), spec)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        target_groups: list[str] = []
        with self.errors(ref.name):
            lb = self._lookup(ref)
            if lb is None:
                # A retry after the load balancer went: its target group is found by our tags.
                target_groups = self._own_target_groups(ref.name)
            else:
                # Only target groups wfctl made go: one made elsewhere may serve others too.
                target_groups = self._target_groups_of(lb, ref.name)
                # The listeners go with the load balancer.
                self.elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        for arn in target_groups:
            with self.ignoring_missing(ref.name):
                # AWS keeps a target group "in use" for a while after its load balancer goes.
                self.retry_while(
                    {"ResourceInUse"},
                    lambda arn=arn: self.elb.delete_target_group(TargetGroupArn=arn),
                    ref.name,
                    f"{self.describe(ref.name)} target group to be released",
                )

    def natural_id(self, provider_id: str) -> str:
        return provider_id  # an ARN, or a load balancer's name

    # -- parts ----------------------------------------------------------------------------

    @property
    def elb(self) -> Any:
        return self.client("elbv2")

    def lb_name(self, spec: ResourceSpec) -> str:
        return _short_name(str(spec.config.get("lb_name") or f"{self.stack}-{spec.name}"))

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "lb_name" in fields:
            fields["lb_name"] = self.lb_name(spec)
        for key, value in (
            ("scheme", self._scheme),
            ("type", self._type),
            ("protocol", self._protocol),
        ):
            if key in fields:
                fields[key] = value(spec)
        return fields

    def _scheme(self, spec: ResourceSpec) -> str:
        scheme = str(spec.config.get("scheme") or "internet-facing")
        if scheme not in ("internet-facing", "internal"):
            raise self.invalid(spec.name, f"scheme {scheme!r} is not internet-facing or internal")
        return scheme

    def _type(self, spec: ResourceSpec) -> str:
        kind = str(spec.config.get("type") or "application")
        if kind not in ("application", "network"):
            raise self.invalid(spec.name, f"type {kind!r} is not application or network")
        return kind

    def _protocol(self, spec: ResourceSpec) -> str:
        default = "HTTPS" if spec.config.get("certificate_arn") else "HTTP"
        if self._type(spec) == "network":
            default = "TLS" if spec.config.get("certificate_arn") else "TCP"
        return str(spec.config.get("protocol") or default).upper()

    def _port(self, spec: ResourceSpec) -> int:
        return int(spec.config.get("port") or (443 if spec.config.get("certificate_arn") else 80))

    def _list(self, spec: ResourceSpec, key: str) -> list[str]:
        value = spec.config.get(key) or []
        return [value] if isinstance(value, str) else [str(v) for v in value]

    def _describe(self, ref: ResourceRef) -> dict[str, Any]:
        lb = self._lookup(ref)
        if lb is None:
            raise NotFoundError(f"{self.describe(ref.name)}: no load balancer {ref.provider_id!r}")
        return lb

    def _lookup(self, ref: ResourceRef) -> dict[str, Any] | None:
        """By ARN, or by name (what an import may be given)."""
        if not ref.provider_id.startswith("arn:"):
            return self._by_name(ref.provider_id)
        try:
            return self.elb.describe_load_balancers(LoadBalancerArns=[ref.provider_id])[
                "LoadBalancers"
            ][0]
        except self.elb.exceptions.LoadBalancerNotFoundException:
            return None

    def _by_name(self, lb_name: str) -> dict[str, Any] | None:
        try:
            return self.elb.describe_load_balancers(Names=[lb_name])["LoadBalancers"][0]
        except self.elb.exceptions.LoadBalancerNotFoundException:
            return None

    def _tags(self, arn: str) -> dict[str, str]:
        found = self.elb.describe_tags(ResourceArns=[arn])["TagDescriptions"]
        return awstags.tags_from_list(found[0]["Tags"] if found else [])

    def _listener(self, lb_arn: str) -> dict[str, Any] | None:
        pages = self.elb.get_paginator("describe_listeners").paginate(LoadBalancerArn=lb_arn)
        listeners = sorted(
            (listener for page in pages for listener in page["Listeners"]),
            key=lambda listener: listener["Port"],
        )
        return listeners[0] if listeners else None

    def _forward_target(self, listener: dict[str, Any] | None) -> dict[str, Any] | None:
        for action in (listener or {}).get("DefaultActions", []):
            if action.get("TargetGroupArn"):
                return self.elb.describe_target_groups(TargetGroupArns=[action["TargetGroupArn"]])[
                    "TargetGroups"
                ][0]
        return None

    def _own_target_groups(self, name: str) -> list[str]:
        arns = [
            tg["TargetGroupArn"]
            for page in self.elb.get_paginator("describe_target_groups").paginate()
            for tg in page["TargetGroups"]
        ]
        return self._ours(arns, name)

    def _ours(self, arns: list[str], name: str) -> list[str]:
        ours = []
        for start in range(0, len(arns), 20):  # describe_tags takes 20 ARNs at a time
            found = self.elb.describe_tags(ResourceArns=arns[start : start + 20])
            for described in found["TagDescriptions"]:
                tags = awstags.tags_from_list(described["Tags"])
                if awstags.is_ours(tags, self.stack, name):
                    ours.append(described["ResourceArn"])
        return ours

    def _named_target_group(self, lb_name: str, name: str) -> dict[str, Any] | None:
        """Ours and named like its load balancer, as this driver names them."""
        try:
            found = self.elb.describe_target_groups(Names=[lb_name])["TargetGroups"][0]
        except self.elb.exceptions.TargetGroupNotFoundException:
            return None
        tags = self._tags(found["TargetGroupArn"])
        return found if awstags.is_ours(tags, self.stack, name) else None

    def _target_groups_of(self, lb: dict[str, Any], name: str) -> list[str]:
        """Ours among the load balancer's target groups, and the one named like it (made
        before a listener joined them, perhaps)."""
        pages = self.elb.get_paginator("describe_target_groups").paginate(
            LoadBalancerArn=lb["LoadBalancerArn"]
        )
        arns = [tg["TargetGroupArn"] for page in pages for tg in page["TargetGroups"]]
        named = self._named_target_group(lb["LoadBalancerName"], name)
        if named is not None and named["TargetGroupArn"] not in arns:
            arns.append(named["TargetGroupArn"])
        return self._ours(arns, name)

    def _target_group(self, lb: dict[str, Any], spec: ResourceSpec) -> dict[str, Any]:
        """The target group of this load balancer: found again, else made."""
        found = self._named_target_group(lb["LoadBalancerName"], spec.name)
        if found is not None:
            return found
        protocol = "TCP" if self._type(spec) == "network" else "HTTP"
        params: dict[str, Any] = {
            "Name": lb["LoadBalancerName"],
            "Protocol": protocol,
            "Port": int(spec.config.get("target_port") or 80),
            "VpcId": lb["VpcId"],
            "TargetType": str(spec.config.get("target_type") or "ip"),
            "Tags": awstags.tag_list(self.tags_for(spec)),
        }
        if protocol == "HTTP":
            params["HealthCheckPath"] = str(spec.config.get("health_check_path") or "/")
        return self.elb.create_target_group(**params)["TargetGroups"][0]

    def _converge(
        self, lb: dict[str, Any], target_group: dict[str, Any], spec: ResourceSpec
    ) -> None:
        arn, config = lb["LoadBalancerArn"], spec.config
        wanted_tags = self.tags_for(spec)
        for resource in (arn, target_group["TargetGroupArn"]):
            to_set, to_remove = awstags.tag_changes(self._tags(resource), wanted_tags)
            if to_set:
                self.elb.add_tags(ResourceArns=[resource], Tags=awstags.tag_list(to_set))
            if to_remove:
                self.elb.remove_tags(ResourceArns=[resource], TagKeys=to_remove)
        subnets = self._list(spec, "subnets")
        if subnets and sorted(subnets) != sorted(
            z["SubnetId"] for z in lb.get("AvailabilityZones", [])
        ):
            self.elb.set_subnets(LoadBalancerArn=arn, Subnets=subnets)
        groups = self._list(spec, "security_groups")
        if "security_groups" in config and sorted(groups) != sorted(lb.get("SecurityGroups", [])):
            self.elb.set_security_groups(LoadBalancerArn=arn, SecurityGroups=groups)
        path = config.get("health_check_path")
        if path and target_group.get("HealthCheckPath") != path:
            self.elb.modify_target_group(
                TargetGroupArn=target_group["TargetGroupArn"], HealthCheckPath=str(path)
            )
        self._converge_listener(arn, target_group["TargetGroupArn"], spec)

    def _converge_listener(self, lb_arn: str, target_group_arn: str, spec: ResourceSpec) -> None:
        config = spec.config
        listener = self._listener(lb_arn)
        forward = [{"Type": "forward", "TargetGroupArn": target_group_arn}]
        if listener is None:
            params: dict[str, Any] = {
                "Port": self._port(spec),
                "Protocol": self._protocol(spec),
                "DefaultActions": forward,
            }
            if config.get("certificate_arn"):
                params["Certificates"] = [{"CertificateArn": str(config["certificate_arn"])}]
            self.elb.create_listener(
                LoadBalancerArn=lb_arn, Tags=awstags.tag_list(self.tags_for(spec)), **params
            )
            return
        # What the spec leaves out stays as the listener has it.
        changes: dict[str, Any] = {}
        if "port" in config and listener["Port"] != self._port(spec):
            changes["Port"] = self._port(spec)
        if {"protocol", "certificate_arn"} & set(config) and (
            listener["Protocol"] != self._protocol(spec)
        ):
            changes["Protocol"] = self._protocol(spec)
        have_certificate = (listener.get("Certificates") or [{}])[0].get("CertificateArn", "")
        if config.get("certificate_arn") and have_certificate != config["certificate_arn"]:
            changes["Certificates"] = [{"CertificateArn": str(config["certificate_arn"])}]
        if _forwards_to(listener) != target_group_arn:
            changes["DefaultActions"] = forward
        if changes:
            self.elb.modify_listener(ListenerArn=listener["ListenerArn"], **changes)

    def _when_active(self, ref: ResourceRef) -> ResourceOutput | None:
        current = self.read(ref)
        if current.status == ResourceStatus.FAILED:
            raise ProviderError(
                f"{self.describe(ref.name)} failed to provision", code="LoadBalancerFailed"
            )
        return current if current.status == ResourceStatus.READY else None


def _forwards_to(listener: dict[str, Any]) -> str:
    actions = listener.get("DefaultActions") or [{}]
    return str(actions[0].get("TargetGroupArn", ""))


def _short_name(wanted: str) -> str:
    """ELB names: 32 letters, digits and hyphens; long names keep a hash so they stay unique."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", wanted).strip("-")
    if len(name) > 32:
        digest = hashlib.sha256(wanted.encode()).hexdigest()[:8]
        name = f"{name[:23].rstrip('-')}-{digest}"
    return name
