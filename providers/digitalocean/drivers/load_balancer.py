"""infra.load_balancer: a DigitalOcean regional Load Balancer."""

from __future__ import annotations

from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from providers.diffing import canonical
from providers.digitalocean.base import DoDriver
from providers.driver_base import BASE_OPERATIONS

STATUSES = {
    "new": ResourceStatus.CREATING,
    "active": ResourceStatus.READY,
    "errored": ResourceStatus.FAILED,
}
DEFAULT_RULES = [
    {"entry_protocol": "http", "entry_port": 80, "target_protocol": "http", "target_port": 80}
]
RULE_KEYS = ("entry_protocol", "entry_port", "target_protocol", "target_port", "certificate_id")


class LoadBalancerDriver(DoDriver):
    """Config: region, size_unit (nodes, from sizing; 1), vpc_id, forwarding_rules
    (entry_protocol/entry_port -> target_protocol/target_port, certificate_id for https;
    http 80 -> 80 by default), droplet_ids or target_tag (not both), health_check
    ({protocol, port, path}), redirect_http_to_https, name (default <stack>-<name>).

    scale(replicas) sets size_unit.
    """

    resource_type = "infra.load_balancer"
    FORCE_NEW = frozenset({"region", "vpc_id"})
    UPDATABLE = frozenset(
        {"size_unit", "forwarding_rules", "droplet_ids", "target_tag", "health_check",
         "redirect_http_to_https"}
    )  # fmt: skip
    OUTPUTS = frozenset({
        "droplet_ids", "forwarding_rules", "health_check", "ip", "load_balancer_id", "name",
        "redirect_http_to_https", "region", "size_unit", "state", "target_tag", "vpc_id"
    })
    OPERATIONS = (*BASE_OPERATIONS, "scale")

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        if spec.config.get("droplet_ids") and spec.config.get("target_tag"):
            raise self.invalid(spec.name, "set droplet_ids or target_tag, not both")
        name = self.do_name(spec)
        balancers = self.list_all(spec.name, self.do.load_balancers.list, "load_balancers")
        found = next((b for b in balancers if b.get("name") == name), None)
        if found is None:
            found = self.call(spec.name, self.do.load_balancers.create, self._body(spec))[
                "load_balancer"
            ]
        self.made(found["id"])
        self._wait_active(spec.name, found["id"])
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=found["id"]))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        lb = self._get(ref.name, ref.provider_id)
        check = lb.get("health_check") or {}
        outputs = {
            "load_balancer_id": lb["id"],
            "name": lb.get("name", ""),
            "ip": lb.get("ip", ""),
            "region": (lb.get("region") or {}).get("slug", ""),
            "size_unit": lb.get("size_unit"),
            "vpc_id": lb.get("vpc_uuid", ""),
            "forwarding_rules": [_rule(r) for r in lb.get("forwarding_rules") or []],
            "droplet_ids": sorted(int(d) for d in lb.get("droplet_ids") or []),
            "target_tag": lb.get("tag", ""),
            "health_check": {k: check[k] for k in ("protocol", "port", "path") if k in check},
            "redirect_http_to_https": bool(lb.get("redirect_http_to_https")),
            "state": lb.get("status", ""),
        }
        status = STATUSES.get(lb.get("status", ""), ResourceStatus.UNKNOWN)
        return self.output(ref.name, lb["id"], outputs, status)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        if self.updatable_changes(ref, spec):
            self.call(spec.name, self.do.load_balancers.update, ref.provider_id, self._body(spec))
            self._wait_active(spec.name, ref.provider_id)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing():
            self.call(ref.name, self.do.load_balancers.delete, ref.provider_id)

    def scale(self, ref: ResourceRef, replicas: int) -> ResourceOutput:
        if not 1 <= replicas <= 100:
            raise self.invalid(ref.name, f"size_unit must be 1..100, not {replicas}")
        lb = self._get(ref.name, ref.provider_id)
        body = {k: v for k, v in lb.items() if k in WRITABLE and v not in (None, "")}
        if body.get("tag"):
            body.pop("droplet_ids", None)  # a balancer targets droplets by id or by tag
        body["region"] = (lb.get("region") or {}).get("slug", "")
        body["size_unit"] = replicas
        self.call(ref.name, self.do.load_balancers.update, ref.provider_id, body)
        self._wait_active(ref.name, ref.provider_id)
        return self.read(ref)

    # -- parts ----------------------------------------------------------------------------

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "forwarding_rules" in fields:
            fields["forwarding_rules"] = [_rule(r) for r in fields["forwarding_rules"] or []]
        if "droplet_ids" in fields:
            fields["droplet_ids"] = sorted(int(d) for d in fields["droplet_ids"] or [])
        return fields

    def same(self, key: str, desired: Any, actual: Any) -> bool:
        if key == "health_check" and isinstance(desired, dict) and isinstance(actual, dict):
            # Settings the stack leaves out keep DigitalOcean's defaults.
            return canonical(desired) == canonical({k: actual.get(k) for k in desired})
        return super().same(key, desired, actual)

    def _body(self, spec: ResourceSpec) -> dict[str, Any]:
        config = spec.config
        body: dict[str, Any] = {
            "name": self.do_name(spec),
            "region": self.region(spec),
            "size_unit": int(config.get("size_unit") or 1),
            "forwarding_rules": [
                _rule(r) for r in config.get("forwarding_rules") or DEFAULT_RULES
            ],
            "redirect_http_to_https": bool(config.get("redirect_http_to_https", False)),
        }
        if config.get("vpc_id"):
            body["vpc_uuid"] = str(config["vpc_id"])
        if config.get("target_tag"):
            body["tag"] = str(config["target_tag"])
        else:
            body["droplet_ids"] = [int(d) for d in config.get("droplet_ids") or []]
        if config.get("health_check"):
            body["health_check"] = dict(config["health_check"])
        return body

    def _get(self, name: str, lb_id: str) -> dict[str, Any]:
        return self.call(name, self.do.load_balancers.get, lb_id)["load_balancer"]

    def _wait_active(self, name: str, lb_id: str) -> None:
        self.wait(
            lambda: True if self._get(name, lb_id).get("status") == "active" else None,
            f"load balancer {lb_id} of {name} to be active",
        )


WRITABLE = frozenset(
    {"name", "size_unit", "forwarding_rules", "health_check", "sticky_sessions",
     "redirect_http_to_https", "droplet_ids", "tag", "vpc_uuid"}
)  # fmt: skip


def _rule(rule: dict[str, Any]) -> dict[str, Any]:
    normal = {k: rule[k] for k in RULE_KEYS if rule.get(k) not in (None, "")}
    for key in ("entry_port", "target_port"):
        if key in normal:
            normal[key] = int(normal[key])
    return normal
