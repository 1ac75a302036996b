"""infra.load_balancer: a load balancer (Microsoft.Network/loadBalancers) with one frontend,
one backend pool, a TCP probe and one rule; a public one gets its own public IP address."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from providers.azure import tags as aztags
from providers.azure.base import ArmDriver

SKUS = ("Standard", "Basic")
PUBLIC_IP_TYPE = "Microsoft.Network/publicIPAddresses"


class LoadBalancerDriver(ArmDriver):
    """Config: sku (Standard or Basic, default Standard; a new one is a new load balancer),
    port (default 80), target_port (default port), protocol (Tcp or Udp), subnet_id (an
    internal load balancer in that subnet; without it the load balancer is public with a
    static public IP named <name>-ip), location, tags. Backends join `backend_pool_id`.
    """

    resource_type = "infra.load_balancer"
    ARM_TYPE = "Microsoft.Network/loadBalancers"
    API_VERSION = "2023-09-01"
    FORCE_NEW = frozenset({"sku", "subnet_id", "location"})
    UPDATABLE = frozenset({"port", "target_port", "protocol", "tags"})
    OUTPUTS = frozenset({
        "address", "arm_name", "backend_pool_id", "id", "lb_id", "location", "port", "protocol",
        "public_ip_id", "sku", "subnet_id", "tags", "target_port"
    })

    def validate(self, spec: ResourceSpec) -> None:
        if str(spec.config.get("sku", "Standard")).capitalize() not in SKUS:
            raise self.invalid(spec.name, f"sku must be one of {', '.join(SKUS)}")

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        if not spec.config.get("subnet_id"):
            self.validate(spec)
            with self.errors(spec.name):
                self._put_public_ip(spec)
        return super().create(spec)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        if not spec.config.get("subnet_id"):
            with self.errors(spec.name):
                self._put_public_ip(spec)
        return super().update(ref, spec)

    def properties(self, spec: ResourceSpec) -> dict[str, Any]:
        lb_id = self.resource_id(self.arm_name(spec))
        port = int(spec.config.get("port", 80))
        target = int(spec.config.get("target_port", port))
        protocol = str(spec.config.get("protocol", "Tcp")).capitalize()
        if spec.config.get("subnet_id"):
            frontend: dict[str, Any] = {
                "subnet": {"id": str(spec.config["subnet_id"])},
                "privateIPAllocationMethod": "Dynamic",
            }
        else:
            frontend = {"publicIPAddress": {"id": self._public_ip_id(spec.name)}}
        return {
            "sku": {"name": str(spec.config.get("sku", "Standard")).capitalize()},
            "properties": {
                "frontendIPConfigurations": [{"name": "frontend", "properties": frontend}],
                "backendAddressPools": [{"name": "backend"}],
                "probes": [
                    {
                        "name": "probe",
                        "properties": {"protocol": "Tcp", "port": target,
                                       "intervalInSeconds": 15, "numberOfProbes": 2},
                    }
                ],  # fmt: skip
                "loadBalancingRules": [
                    {
                        "name": "rule",
                        "properties": {
                            "frontendIPConfiguration": {
                                "id": f"{lb_id}/frontendIPConfigurations/frontend"
                            },
                            "backendAddressPool": {"id": f"{lb_id}/backendAddressPools/backend"},
                            "probe": {"id": f"{lb_id}/probes/probe"},
                            "protocol": protocol,
                            "frontendPort": port,
                            "backendPort": target,
                        },
                    }
                ],
            },
        }

    def outputs(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        props = resource.get("properties") or {}
        frontend = ((props.get("frontendIPConfigurations") or [{}])[0].get("properties")) or {}
        rule = ((props.get("loadBalancingRules") or [{}])[0].get("properties")) or {}
        pools = props.get("backendAddressPools") or [{}]
        public_ip_id = (frontend.get("publicIPAddress") or {}).get("id", "")
        address = frontend.get("privateIPAddress", "")
        if public_ip_id:
            found = self.arm.find(public_ip_id, self.API_VERSION)
            address = ((found or {}).get("properties") or {}).get("ipAddress", "")
        return {
            **self.common_outputs(resource),
            "lb_id": resource.get("id", ""),
            "sku": (resource.get("sku") or {}).get("name", ""),
            "port": rule.get("frontendPort", 0),
            "target_port": rule.get("backendPort", 0),
            "protocol": rule.get("protocol", ""),
            "subnet_id": (frontend.get("subnet") or {}).get("id", ""),
            "public_ip_id": public_ip_id,
            "address": address,
            "backend_pool_id": pools[0].get("id")
            or f"{resource.get('id')}/backendAddressPools/{pools[0].get('name', 'backend')}",
        }

    def after_delete(self, ref: ResourceRef) -> None:
        ip_id = self._public_ip_id(ref.name)
        found = self.arm.find(ip_id, self.API_VERSION)
        if found is not None and aztags.is_ours(found.get("tags"), self.stack, ref.name):
            self.arm.delete(ip_id, self.API_VERSION, f"{self.describe(ref.name)} public IP")

    def _public_ip_id(self, name: str) -> str:
        return self.resource_id(f"{name}-ip", PUBLIC_IP_TYPE)

    def _put_public_ip(self, spec: ResourceSpec) -> None:
        body = {
            "location": self.location_of(spec),
            "tags": self.tags_for(spec),
            "sku": {"name": str(spec.config.get("sku", "Standard")).capitalize()},
            "properties": {"publicIPAllocationMethod": "Static"},
        }
        self.put(spec, self._public_ip_id(spec.name), body)
