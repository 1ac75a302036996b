"""infra.firewall: a DigitalOcean Cloud Firewall applied to droplets by id or by tag."""

from __future__ import annotations

from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from interfaces.errors import ProviderError
from providers.digitalocean.base import DoDriver


class FirewallDriver(DoDriver):
    """Config: ingress and egress rules ({protocol: tcp|udp|icmp, ports: "80" | "8000-9000" |
    "all", addresses: [CIDRs]}; protocol tcp and addresses anywhere by default), droplet_ids,
    target_tags (droplets carrying these tags are covered), name (default <stack>-<name>).
    Without egress rules all outbound traffic is allowed."""

    resource_type = "infra.firewall"
    UPDATABLE = frozenset({"ingress", "egress", "droplet_ids", "target_tags"})
    OUTPUTS = frozenset({
        "droplet_ids", "egress", "firewall_id", "ingress", "name", "state", "target_tags"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        name = self.do_name(spec, 255)
        firewalls = self.list_all(spec.name, self.do.firewalls.list, "firewalls")
        found = next((f for f in firewalls if f.get("name") == name), None)
        if found is None:
            found = self.call(spec.name, self.do.firewalls.create, self._body(spec))["firewall"]
        self.made(found["id"])
        ref = ResourceRef(name=spec.name, type=spec.type, provider_id=found["id"])
        return self._wait_applied(ref)

    def read(self, ref: ResourceRef) -> ResourceOutput:
        firewall = self.call(ref.name, self.do.firewalls.get, ref.provider_id)["firewall"]
        outputs = {
            "firewall_id": firewall["id"],
            "name": firewall.get("name", ""),
            "ingress": [_rule(r, "sources") for r in firewall.get("inbound_rules") or []],
            "egress": [_rule(r, "destinations") for r in firewall.get("outbound_rules") or []],
            "droplet_ids": sorted(int(d) for d in firewall.get("droplet_ids") or []),
            "target_tags": sorted(firewall.get("tags") or []),
            "state": firewall.get("status", ""),
        }
        status = {"succeeded": ResourceStatus.READY, "failed": ResourceStatus.FAILED}.get(
            firewall.get("status", ""), ResourceStatus.UPDATING
        )
        return self.output(ref.name, firewall["id"], outputs, status)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        if self.updatable_changes(ref, spec):
            self.call(spec.name, self.do.firewalls.update, ref.provider_id, self._body(spec))
        return self._wait_applied(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing():
            self.call(ref.name, self.do.firewalls.delete, ref.provider_id)

    def _wait_applied(self, ref: ResourceRef) -> ResourceOutput:
        def applied() -> ResourceOutput | None:
            current = self.read(ref)
            if current.status == ResourceStatus.FAILED:
                raise ProviderError(
                    f"{self.describe(ref.name)}: DigitalOcean failed to apply the rules",
                    code="FirewallFailed",
                )
            return current if current.status == ResourceStatus.READY else None

        return self.wait(applied, f"{self.describe(ref.name)} to be applied")

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        for key in ("ingress", "egress"):
            if key in fields:
                fields[key] = [_normal(spec, r) for r in fields[key] or []]
        if "droplet_ids" in fields:
            fields["droplet_ids"] = sorted(int(d) for d in fields["droplet_ids"] or [])
        return fields

    def _body(self, spec: ResourceSpec) -> dict[str, Any]:
        config = spec.config
        egress = config.get("egress") or [
            {"protocol": p, "addresses": ANYWHERE} for p in ("tcp", "udp", "icmp")
        ]
        return {
            "name": self.do_name(spec, 255),
            "inbound_rules": [
                _wire(_normal(spec, r), "sources") for r in config.get("ingress") or []
            ],
            "outbound_rules": [_wire(_normal(spec, r), "destinations") for r in egress],
            "droplet_ids": [int(d) for d in config.get("droplet_ids") or []],
            "tags": [str(t) for t in config.get("target_tags") or []],
        }


ANYWHERE = ["0.0.0.0/0", "::/0"]


def _normal(spec: ResourceSpec, rule: Any) -> dict[str, Any]:
    if not isinstance(rule, dict):
        raise ProviderError(
            f"{spec.name}: a firewall rule is a mapping, not {rule!r}", code="InvalidConfig"
        )
    protocol = str(rule.get("protocol") or "tcp")
    ports = "" if protocol == "icmp" else str(rule.get("ports") or rule.get("port") or "all")
    addresses = rule.get("addresses") or rule.get("cidrs") or ANYWHERE
    return {"protocol": protocol, "ports": ports, "addresses": sorted(str(a) for a in addresses)}


def _wire(rule: dict[str, Any], side: str) -> dict[str, Any]:
    # DigitalOcean requires `ports` on every rule: "0" stands for all ports, and is the only
    # value an ICMP rule has.
    ports = "0" if rule["protocol"] == "icmp" or rule["ports"] == "all" else rule["ports"]
    return {"protocol": rule["protocol"], "ports": ports, side: {"addresses": rule["addresses"]}}


def _rule(wire: dict[str, Any], side: str) -> dict[str, Any]:
    protocol = str(wire.get("protocol", ""))
    ports = str(wire.get("ports") or "")
    return {
        "protocol": protocol,
        "ports": "" if protocol == "icmp" else "all" if ports in ("0", "") else ports,
        "addresses": sorted((wire.get(side) or {}).get("addresses") or []),
    }
