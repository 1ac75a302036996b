"""infra.load_balancer: a global external HTTP(S) load balancer and the parts it is made of.

Health check -> (instance group) -> backend service -> URL map -> target HTTP(S) proxy ->
global forwarding rule. Each part is named <base>-<part> and created only when missing, so a
create retried at any point adopts what the earlier attempt made. The base is <stack>-<name>,
shortened with a digest of the whole when the longest part (`-proxy`) would pass Google's
63 characters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.cloud import compute_v1

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from interfaces.errors import NotFoundError
from providers.gcp import labels as gcplabels
from providers.gcp.base import GcpDriver, canonical, last_segment

SCHEME = "EXTERNAL_MANAGED"
PORT_NAME = "http"
PART_SUFFIXES = ("-hc", "-ig", "-bs", "-um", "-proxy", "-fr")
BASE_MAX_LENGTH = 63 - max(map(len, PART_SUFFIXES))


class LoadBalancerDriver(GcpDriver):
    """Config: instances (VM self links, all in one zone: an unmanaged instance group made
    here holds them) or instance_groups (links of groups made elsewhere), port (the backends'
    port, 80), health_check_path ("/"), timeout_sec (30), certificates (SSL certificate
    names or links: HTTPS on 443, else HTTP on 80), labels (on the forwarding rule).

    Instances, health check path, timeout, certificates and labels change in place; the
    protocol (certificates or none) and port need a new load balancer.
    """

    resource_type = "infra.load_balancer"
    FORCE_NEW = frozenset({"protocol", "port"})
    UPDATABLE = frozenset(
        {"instances", "instance_groups", "health_check_path", "timeout_sec", "certificates",
         "labels"}
    )  # fmt: skip
    OUTPUTS = frozenset({
        "backend_service", "certificates", "forwarding_rule", "health_check", "health_check_path",
        "instance_group", "instance_groups", "instances", "ip_address", "labels", "port",
        "protocol", "target_proxy", "timeout_sec", "url", "url_map"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        base = gcplabels.resource_name(self.stack, spec.name, max_length=BASE_MAX_LENGTH)
        name = spec.name
        project = self.project
        port, https = self._port(spec), bool(self._certificates(spec))
        owned = self.owned_by_description(name)
        self.ensure(name, f"health check {base}-hc", lambda: self._health_check(base),
            lambda rid: self.health_checks.insert_unary(compute_v1.InsertHealthCheckRequest(
                project=project, request_id=rid, health_check_resource={
                    **self._part(name, f"{base}-hc"), "type_": "HTTP",
                    "http_health_check": {"port": port, "request_path": self._path(spec)},
                }),
            ), owned)  # fmt: skip
        groups = self._groups(spec, base)
        self.ensure(name, f"backend service {base}-bs", lambda: self._backend_service(base),
            lambda rid: self.backend_services.insert_unary(
                compute_v1.InsertBackendServiceRequest(
                    project=project, request_id=rid, backend_service_resource={
                        **self._part(name, f"{base}-bs"), "protocol": "HTTP",
                        "port_name": PORT_NAME, "load_balancing_scheme": SCHEME,
                        "timeout_sec": self._timeout(spec),
                        "health_checks": [f"projects/{project}/global/healthChecks/{base}-hc"],
                        "backends": [{"group": group} for group in groups],
                    })),
            owned)  # fmt: skip
        self.ensure(name, f"URL map {base}-um", lambda: self._url_map(base),
            lambda rid: self.url_maps.insert_unary(compute_v1.InsertUrlMapRequest(
                project=project, request_id=rid, url_map_resource={
                    **self._part(name, f"{base}-um"),
                    "default_service": f"projects/{project}/global/backendServices/{base}-bs",
                })),
            owned)  # fmt: skip
        url_map = f"projects/{project}/global/urlMaps/{base}-um"
        if https:
            certificates = self._certificates(spec)
            self.ensure(name, f"target proxy {base}-proxy", lambda: self._https_proxy(base),
                lambda rid: self.https_proxies.insert_unary(
                    compute_v1.InsertTargetHttpsProxyRequest(
                        project=project, request_id=rid, target_https_proxy_resource={
                            **self._part(name, f"{base}-proxy"), "url_map": url_map,
                            "ssl_certificates": certificates,
                        })),
                owned)  # fmt: skip
            target = f"projects/{project}/global/targetHttpsProxies/{base}-proxy"
        else:
            self.ensure(name, f"target proxy {base}-proxy", lambda: self._http_proxy(base),
                lambda rid: self.http_proxies.insert_unary(
                    compute_v1.InsertTargetHttpProxyRequest(
                        project=project, request_id=rid, target_http_proxy_resource={
                            **self._part(name, f"{base}-proxy"), "url_map": url_map,
                        })),
                owned)  # fmt: skip
            target = f"projects/{project}/global/targetHttpProxies/{base}-proxy"
        self.ensure(name, f"forwarding rule {base}-fr", lambda: self._forwarding_rule(base),
            lambda rid: self.forwarding_rules.insert_unary(
                compute_v1.InsertGlobalForwardingRuleRequest(
                    project=project, request_id=rid, forwarding_rule_resource={
                        **self._part(name, f"{base}-fr"), "labels": self.labels_for(spec),
                        "target": target, "port_range": "443" if https else "80",
                        "I_p_protocol": "TCP", "load_balancing_scheme": SCHEME,
                    })),
            lambda found: gcplabels.is_ours(self.stack, name, labels_found=found.labels),
        )  # fmt: skip
        return self.read(ResourceRef(name=name, type=spec.type, provider_id=base))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        base = ref.provider_id
        with self.errors(ref.name):
            rule = self._forwarding_rule(base)
            service = self._backend_service(base)
            check = self._health_check(base)
            https = "targetHttpsProxies" in rule.target
            proxy = self._https_proxy(base) if https else None
            group = self.find(ref.name, lambda: self._instance_group(base))
            members = self._members(base, group) if group is not None else []
        own_group = group.self_link if group is not None else ""
        outputs: dict[str, Any] = {
            "ip_address": rule.I_p_address,
            "url": f"{'https' if https else 'http'}://{rule.I_p_address}",
            "protocol": "HTTPS" if https else "HTTP",
            "port": check.http_health_check.port,
            "health_check_path": check.http_health_check.request_path or "/",
            "timeout_sec": service.timeout_sec,
            "certificates": [last_segment(c) for c in proxy.ssl_certificates] if proxy else [],
            "instances": members,
            "instance_groups": [
                b.group for b in service.backends if canonical(b.group) != canonical(own_group)
            ],
            "labels": gcplabels.user_labels(dict(rule.labels)),
            "forwarding_rule": rule.name,
            "target_proxy": last_segment(rule.target),
            "url_map": f"{base}-um",
            "backend_service": service.name,
            "health_check": check.name,
            "instance_group": own_group,
        }
        return self.output(ref.name, base, outputs)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        base, name, project = ref.provider_id, spec.name, self.project
        changes = self.updatable_changes(ref, spec)
        if "health_check_path" in changes:
            self.mutate(name, lambda rid: self.health_checks.patch_unary(
                compute_v1.PatchHealthCheckRequest(
                    project=project, health_check=f"{base}-hc", request_id=rid,
                    health_check_resource={"http_health_check": {
                        "port": self._port(spec), "request_path": self._path(spec)}},
                )), "hc", "patch")  # fmt: skip
        if changes.keys() & {"instances", "instance_groups", "timeout_sec"}:
            groups = self._groups(spec, base)
            self.mutate(name, lambda rid: self.backend_services.patch_unary(
                compute_v1.PatchBackendServiceRequest(
                    project=project, backend_service=f"{base}-bs", request_id=rid,
                    backend_service_resource={
                        "timeout_sec": self._timeout(spec),
                        "backends": [{"group": group} for group in groups],
                    },
                )), "bs", "patch")  # fmt: skip
        if "certificates" in changes:
            self.mutate(name, lambda rid: self.https_proxies.set_ssl_certificates_unary(
                compute_v1.SetSslCertificatesTargetHttpsProxyRequest(
                    project=project, target_https_proxy=f"{base}-proxy", request_id=rid,
                    target_https_proxies_set_ssl_certificates_request_resource={
                        "ssl_certificates": self._certificates(spec)},
                )), "proxy", "setSslCertificates")  # fmt: skip
        if "labels" in changes:
            with self.errors(name):
                fingerprint = self._forwarding_rule(base).label_fingerprint
            # setLabels of a global resource takes no requestId; repeating it is harmless.
            self.mutate(name, lambda _rid: self.forwarding_rules.set_labels_unary(
                compute_v1.SetLabelsGlobalForwardingRuleRequest(
                    project=project, resource=f"{base}-fr",
                    global_set_labels_request_resource={
                        "labels": self.labels_for(spec), "label_fingerprint": fingerprint},
                )), "fr", "setLabels")  # fmt: skip
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        base, name, project = ref.provider_id, ref.name, self.project
        zone = self._group_zone_or_none(base)
        parts: list[tuple[str, Callable[[str], compute_v1.Operation]]] = [
            (f"forwarding rule {base}-fr", lambda rid: self.forwarding_rules.delete_unary(
                compute_v1.DeleteGlobalForwardingRuleRequest(
                    project=project, forwarding_rule=f"{base}-fr", request_id=rid))),
            (f"target HTTPS proxy {base}-proxy", lambda rid: self.https_proxies.delete_unary(
                compute_v1.DeleteTargetHttpsProxyRequest(
                    project=project, target_https_proxy=f"{base}-proxy", request_id=rid))),
            (f"target HTTP proxy {base}-proxy", lambda rid: self.http_proxies.delete_unary(
                compute_v1.DeleteTargetHttpProxyRequest(
                    project=project, target_http_proxy=f"{base}-proxy", request_id=rid))),
            (f"URL map {base}-um", lambda rid: self.url_maps.delete_unary(
                compute_v1.DeleteUrlMapRequest(
                    project=project, url_map=f"{base}-um", request_id=rid))),
            (f"backend service {base}-bs", lambda rid: self.backend_services.delete_unary(
                compute_v1.DeleteBackendServiceRequest(
                    project=project, backend_service=f"{base}-bs", request_id=rid))),
            (f"health check {base}-hc", lambda rid: self.health_checks.delete_unary(
                compute_v1.DeleteHealthCheckRequest(
                    project=project, health_check=f"{base}-hc", request_id=rid))),
        ]  # fmt: skip
        if zone is not None:
            parts.insert(5, (f"instance group {base}-ig", lambda rid: (
                self.instance_groups.delete_unary(compute_v1.DeleteInstanceGroupRequest(
                    project=project, zone=zone, instance_group=f"{base}-ig", request_id=rid))
            )))  # fmt: skip
        for part, send in parts:
            self.remove(name, part, send)

    # -- parts ----------------------------------------------------------------------------

    @property
    def health_checks(self) -> compute_v1.HealthChecksClient:
        return self.compute(compute_v1.HealthChecksClient)

    @property
    def backend_services(self) -> compute_v1.BackendServicesClient:
        return self.compute(compute_v1.BackendServicesClient)

    @property
    def url_maps(self) -> compute_v1.UrlMapsClient:
        return self.compute(compute_v1.UrlMapsClient)

    @property
    def http_proxies(self) -> compute_v1.TargetHttpProxiesClient:
        return self.compute(compute_v1.TargetHttpProxiesClient)

    @property
    def https_proxies(self) -> compute_v1.TargetHttpsProxiesClient:
        return self.compute(compute_v1.TargetHttpsProxiesClient)

    @property
    def forwarding_rules(self) -> compute_v1.GlobalForwardingRulesClient:
        return self.compute(compute_v1.GlobalForwardingRulesClient)

    @property
    def instance_groups(self) -> compute_v1.InstanceGroupsClient:
        return self.compute(compute_v1.InstanceGroupsClient)

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        fields["protocol"] = "HTTPS" if self._certificates(spec) else "HTTP"
        if "certificates" in fields:
            fields["certificates"] = [last_segment(c) for c in self._certificates(spec)]
        return fields

    def _part(self, name: str, part: str) -> dict[str, str]:
        return {"name": part, "description": self.description(name)}

    def _port(self, spec: ResourceSpec) -> int:
        return int(spec.config.get("port", 80))

    def _path(self, spec: ResourceSpec) -> str:
        return str(spec.config.get("health_check_path") or "/")

    def _timeout(self, spec: ResourceSpec) -> int:
        return int(spec.config.get("timeout_sec", 30))

    def _certificates(self, spec: ResourceSpec) -> list[str]:
        return [
            c if "/" in str(c) else f"projects/{self.project}/global/sslCertificates/{c}"
            for c in spec.config.get("certificates") or []
        ]

    def _instances(self, spec: ResourceSpec) -> list[str]:
        return [str(i) for i in spec.config.get("instances") or []]

    def _groups(self, spec: ResourceSpec, base: str) -> list[str]:
        """Backend groups: the ones the stack names plus ours holding `instances`."""
        groups = [str(g) for g in spec.config.get("instance_groups") or []]
        if "instances" in spec.config:
            groups.append(self._converge_group(spec, base, self._instances(spec)))
        return groups

    def _converge_group(self, spec: ResourceSpec, base: str, instances: list[str]) -> str:
        zones = {_zone_of(i) for i in instances} - {""}
        if len(zones) > 1:
            raise self.invalid(spec.name, f"instances are in several zones: {sorted(zones)}")
        zone = zones.pop() if zones else self._group_zone_or_none(base) or self.context.zone
        group = self.ensure(spec.name, f"instance group {base}-ig",
            lambda: self.instance_groups.get(
                project=self.project, zone=zone, instance_group=f"{base}-ig"),
            lambda rid: self.instance_groups.insert_unary(compute_v1.InsertInstanceGroupRequest(
                project=self.project, zone=zone, request_id=rid, instance_group_resource={
                    **self._part(spec.name, f"{base}-ig"),
                    "named_ports": [{"name": PORT_NAME, "port": self._port(spec)}],
                })),
            self.owned_by_description(spec.name))  # fmt: skip
        with self.errors(spec.name):
            have = {canonical(m): m for m in self._members(base, group)}
        want = {canonical(i): _instance_link(self.project, zone, i) for i in instances}
        added = [want[k] for k in want if k not in have]
        gone = [have[k] for k in have if k not in want]
        request = {"project": self.project, "zone": zone, "instance_group": f"{base}-ig"}
        if added:
            self.mutate(spec.name, lambda rid: self.instance_groups.add_instances_unary(
                compute_v1.AddInstancesInstanceGroupRequest(**request, request_id=rid,
                    instance_groups_add_instances_request_resource={
                        "instances": [{"instance": i} for i in added]}),
            ), "ig", "add", *sorted(added))  # fmt: skip
        if gone:
            self.mutate(spec.name, lambda rid: self.instance_groups.remove_instances_unary(
                compute_v1.RemoveInstancesInstanceGroupRequest(**request, request_id=rid,
                    instance_groups_remove_instances_request_resource={
                        "instances": [{"instance": i} for i in gone]}),
            ), "ig", "remove", *sorted(gone))  # fmt: skip
        return group.self_link

    def _members(self, base: str, group: compute_v1.InstanceGroup) -> list[str]:
        pages = self.instance_groups.list_instances(
            project=self.project, zone=last_segment(group.zone), instance_group=f"{base}-ig"
        )
        return sorted(item.instance for item in pages)

    def _group_zone_or_none(self, base: str) -> str | None:
        """The zone of our instance group, from the backend service that uses it."""
        service = self.find(base, lambda: self._backend_service(base))
        for backend in service.backends if service is not None else []:
            if last_segment(backend.group) == f"{base}-ig":
                return _zone_of(backend.group)
        return None

    def _health_check(self, base: str) -> compute_v1.HealthCheck:
        return self.health_checks.get(project=self.project, health_check=f"{base}-hc")

    def _backend_service(self, base: str) -> compute_v1.BackendService:
        return self.backend_services.get(project=self.project, backend_service=f"{base}-bs")

    def _url_map(self, base: str) -> compute_v1.UrlMap:
        return self.url_maps.get(project=self.project, url_map=f"{base}-um")

    def _http_proxy(self, base: str) -> compute_v1.TargetHttpProxy:
        return self.http_proxies.get(project=self.project, target_http_proxy=f"{base}-proxy")

    def _https_proxy(self, base: str) -> compute_v1.TargetHttpsProxy:
        return self.https_proxies.get(project=self.project, target_https_proxy=f"{base}-proxy")

    def _forwarding_rule(self, base: str) -> compute_v1.ForwardingRule:
        return self.forwarding_rules.get(project=self.project, forwarding_rule=f"{base}-fr")

    def _instance_group(self, base: str) -> compute_v1.InstanceGroup:
        zone = self._group_zone_or_none(base)
        if zone is None:
            raise NotFoundError(f"load balancer {base} has no instance group of its own")
        return self.instance_groups.get(
            project=self.project, zone=zone, instance_group=f"{base}-ig"
        )


def _zone_of(link: str) -> str:
    parts = str(link).split("/")
    return parts[parts.index("zones") + 1] if "zones" in parts else ""


def _instance_link(project: str, zone: str, instance: str) -> str:
    if "/instances/" in instance:
        return instance
    return f"projects/{project}/zones/{zone}/instances/{last_segment(instance)}"
