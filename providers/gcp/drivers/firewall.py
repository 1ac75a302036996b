"""infra.firewall: one Compute firewall rule of a network."""

from __future__ import annotations

from typing import Any

from google.cloud import compute_v1

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from providers.gcp.base import GcpDriver, last_segment

DIRECTIONS = ("INGRESS", "EGRESS")


class FirewallDriver(GcpDriver):
    """Config: network (name or self link, required), direction (INGRESS default, or EGRESS),
    allow (list of {protocol, ports}, default tcp on all ports), deny (same shape, instead of
    allow), source_ranges (INGRESS default 0.0.0.0/0), destination_ranges, source_tags,
    target_tags, priority (1000), firewall (the name, default <stack>-<name>).
    Firewall rules take no labels: the description marks them as ours."""

    resource_type = "infra.firewall"
    FORCE_NEW = frozenset({"network", "direction", "firewall"})
    UPDATABLE = frozenset(
        {"allow", "deny", "source_ranges", "destination_ranges", "source_tags", "target_tags",
         "priority"}
    )  # fmt: skip
    OUTPUTS = frozenset({
        "allow", "deny", "destination_ranges", "direction", "firewall", "network", "priority",
        "self_link", "source_ranges", "source_tags", "target_tags"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        name = self.firewall_name(spec)
        body = {"name": name, "description": self.description(spec.name), **self._rule(spec)}
        self.ensure(
            spec.name,
            f"firewall {name}",
            lambda: self._get(name),
            lambda rid: self.firewalls.insert_unary(
                compute_v1.InsertFirewallRequest(
                    project=self.project, request_id=rid, firewall_resource=body
                )
            ),
            self.owned_by_description(spec.name),
        )
        self.made(name)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=name))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            rule = self._get(ref.provider_id)
        outputs: dict[str, Any] = {
            "firewall": rule.name,
            "self_link": rule.self_link,
            "network": last_segment(rule.network),
            "direction": rule.direction or "INGRESS",
            "allow": [_permission(p.I_p_protocol, p.ports) for p in rule.allowed],
            "deny": [_permission(p.I_p_protocol, p.ports) for p in rule.denied],
            "source_ranges": list(rule.source_ranges),
            "destination_ranges": list(rule.destination_ranges),
            "source_tags": list(rule.source_tags),
            "target_tags": list(rule.target_tags),
            "priority": rule.priority,
        }
        return self.output(ref.name, rule.name, outputs)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        # A whole-rule update, not a patch: a patch cannot clear a list (an omitted field
        # means "unchanged").
        body = {"name": ref.provider_id, "description": self.description(spec.name),
                **self._rule(spec)}  # fmt: skip
        self.mutate(
            spec.name,
            lambda rid: self.firewalls.update_unary(
                compute_v1.UpdateFirewallRequest(
                    project=self.project,
                    firewall=ref.provider_id,
                    request_id=rid,
                    firewall_resource=body,
                )
            ),
            "rule",
            "update",
        )
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        self.remove(
            ref.name,
            f"firewall {ref.provider_id}",
            lambda rid: self.firewalls.delete_unary(
                compute_v1.DeleteFirewallRequest(
                    project=self.project, firewall=ref.provider_id, request_id=rid
                )
            ),
        )

    # -- parts ----------------------------------------------------------------------------

    @property
    def firewalls(self) -> compute_v1.FirewallsClient:
        return self.compute(compute_v1.FirewallsClient)

    def firewall_name(self, spec: ResourceSpec) -> str:
        given = spec.config.get("firewall")
        return str(given) if given else self.gce_name(spec)

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        rule = self._rule(spec)
        for key in ("allow", "deny"):
            if key in fields:
                fields[key] = [
                    _permission(p["I_p_protocol"], p.get("ports", []))
                    for p in rule[f"{key}ed" if key == "allow" else "denied"]
                ]
        if "direction" in fields:
            fields["direction"] = rule["direction"]
        if "network" in fields:
            fields["network"] = last_segment(rule["network"])
        return fields

    def _get(self, name: str) -> compute_v1.Firewall:
        return self.firewalls.get(project=self.project, firewall=name)

    def _rule(self, spec: ResourceSpec) -> dict[str, Any]:
        """The firewall body for `spec` (everything but name and description)."""
        config = spec.config
        network = config.get("network")
        if not network:
            raise self.invalid(spec.name, "config needs `network` (a network name or link)")
        direction = str(config.get("direction") or "INGRESS").upper()
        if direction not in DIRECTIONS:
            raise self.invalid(spec.name, f"direction {direction!r} is not INGRESS or EGRESS")
        if config.get("allow") and config.get("deny"):
            raise self.invalid(spec.name, "a firewall rule has `allow` or `deny`, not both")
        rule: dict[str, Any] = {
            "network": _network_link(self.project, str(network)),
            "direction": direction,
            "priority": int(config.get("priority", 1000)),
            "allowed": [],
            "denied": [],
            "source_ranges": [str(r) for r in config.get("source_ranges") or []],
            "destination_ranges": [str(r) for r in config.get("destination_ranges") or []],
            "source_tags": [str(t) for t in config.get("source_tags") or []],
            "target_tags": [str(t) for t in config.get("target_tags") or []],
        }
        if config.get("deny"):
            rule["denied"] = self._permissions(spec, config["deny"])
        else:
            rule["allowed"] = self._permissions(spec, config.get("allow") or [{"protocol": "tcp"}])
        if direction == "INGRESS" and not rule["source_ranges"] and not rule["source_tags"]:
            rule["source_ranges"] = ["0.0.0.0/0"]
        return rule

    def _permissions(self, spec: ResourceSpec, items: Any) -> list[dict[str, Any]]:
        if not isinstance(items, list):
            raise self.invalid(spec.name, "allow/deny must be a list of {protocol, ports}")
        found = []
        for item in items:
            if not isinstance(item, dict) or not item.get("protocol"):
                raise self.invalid(spec.name, f"permission {item!r} needs a protocol")
            entry: dict[str, Any] = {"I_p_protocol": str(item["protocol"]).lower()}
            ports = [str(p) for p in item.get("ports") or []]
            if ports:
                entry["ports"] = ports
            found.append(entry)
        return found


def _permission(protocol: str, ports: Any) -> dict[str, Any]:
    return {"protocol": protocol, "ports": [str(p) for p in ports]}


def _network_link(project: str, network: str) -> str:
    if "/" in network:
        return network
    return f"projects/{project}/global/networks/{network}"
