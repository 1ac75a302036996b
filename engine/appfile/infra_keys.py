"""The spec's `infra.*` config keys as wfctl's drivers spell them: one table per type.

`RENAMES[type][cloud]` maps a spec key (camelCase, or a synonym) to the driver's key;
`CONVERTERS[type]` turn a structured spec value (subnets, firewall rules, records, policies,
health checks) into the driver's keys. A key in neither passes through as written (the
spec's snake_case keys are often the drivers' own); a key the cloud's driver has no
counterpart for is in `DROPPED` with the reason, which `wfctl validate` and `wfctl convert`
print. tests/test_appfile_keys.py checks every target against the real driver's keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from interfaces.errors import ConfigError

CLOUDS = ("aws", "gcp", "azure", "digitalocean")

RENAMES: dict[str, dict[str, dict[str, str]]] = {
    "infra.vpc": {
        "aws": {"cidrBlock": "cidr"},
        "azure": {"cidrBlock": "cidr", "addressSpace": "cidr"},
        "gcp": {"routingMode": "routing_mode", "name": "network"},
        "digitalocean": {"cidr": "ip_range", "cidrBlock": "ip_range", "ipRange": "ip_range"},
    },
    "infra.firewall": {
        "aws": {"groupName": "group_name", "vpcId": "vpc_id"},
        "azure": {},
        "gcp": {"sourceRanges": "source_ranges", "targetTags": "target_tags",
                "sourceTags": "source_tags"},
        "digitalocean": {"dropletIds": "droplet_ids", "targetTags": "target_tags"},
    },
    "infra.database": {
        "aws": {
            "engineVersion": "version", "instanceClass": "instance_type",
            "instanceType": "instance_type", "storageGb": "storage_gb",
            "allocatedStorage": "storage_gb", "multiAZ": "multi_az", "multiAz": "multi_az",
            "backupRetentionDays": "backup_retention_days", "dbName": "db_name",
            "databaseName": "db_name", "masterUsername": "username",
            "publiclyAccessible": "publicly_accessible",
            "deletionProtection": "deletion_protection", "storageEncrypted": "storage_encrypted",
            "subnetIds": "subnet_ids", "securityGroupIds": "security_group_ids",
            "finalSnapshot": "final_snapshot",
        },
        "gcp": {
            "instanceType": "instance_type", "tier": "instance_type", "storageGb": "storage_gb",
            "multiAZ": "high_availability", "multiAz": "high_availability",
            "highAvailability": "high_availability", "deletionProtection": "deletion_protection",
            "authorizedNetworks": "authorized_networks", "publicIp": "public_ip",
            "databaseFlags": "database_flags",
        },
        "azure": {
            "instanceType": "instance_type", "storageGb": "storage_gb",
            "dbName": "database_name", "databaseName": "database_name",
            "publicAccess": "public_access", "adminLogin": "admin_login",
        },
        "digitalocean": {
            "instanceType": "instance_type", "sizeSlug": "instance_type",
            "storageGb": "storage_gb", "numNodes": "num_nodes", "nodes": "num_nodes",
            "vpcId": "vpc_id",
        },
    },
    "infra.cache": {
        "aws": {
            "nodeType": "instance_type", "instanceType": "instance_type",
            "engineVersion": "version", "multiAZ": "multi_az", "multiAz": "multi_az",
            "automaticFailover": "automatic_failover",
            "snapshotRetentionDays": "snapshot_retention_days", "subnetIds": "subnet_ids",
            "securityGroupIds": "security_group_ids",
        },
        "gcp": {"memorySizeGb": "memory_size_gb"},
        "azure": {"instanceType": "instance_type"},
        "digitalocean": {"instanceType": "instance_type", "numNodes": "num_nodes",
                         "nodes": "num_nodes"},
    },
    "infra.container_service": {
        "aws": {
            "containerPort": "container_port", "port": "container_port",
            "memoryMb": "memory", "replicas": "desired_count", "desiredCount": "desired_count",
            "launchType": "launch_type", "env": "environment", "securityGroups":
            "security_groups", "assignPublicIp": "assign_public_ip",
            "executionRoleArn": "execution_role_arn", "taskRoleArn": "task_role_arn",
            "targetGroupArn": "target_group_arn", "serviceName": "service_name",
        },
        "azure": {"containerPort": "container_port", "port": "container_port",
                  "environment": "env", "osType": "os_type",
                  "restartPolicy": "restart_policy", "identityId": "identity_id"},
        "digitalocean": {
            "containerPort": "http_port", "port": "http_port", "httpPort": "http_port",
            "replicas": "instance_count", "instanceCount": "instance_count", "env": "envs",
            "environment": "envs", "instanceSizeSlug": "instance_type",
        },
    },
    "infra.load_balancer": {
        "aws": {"certificateArn": "certificate_arn", "targetPort": "target_port",
                "targetType": "target_type", "securityGroups": "security_groups",
                "healthCheckPath": "health_check_path"},
        "gcp": {"healthCheckPath": "health_check_path", "timeoutSec": "timeout_sec",
                "instanceGroups": "instance_groups"},
        "azure": {"targetPort": "target_port", "subnetId": "subnet_id"},
        "digitalocean": {"forwardingRules": "forwarding_rules", "dropletIds": "droplet_ids",
                         "targetTag": "target_tag", "sizeUnit": "size_unit",
                         "redirectHttpToHttps": "redirect_http_to_https", "vpcId": "vpc_id"},
    },
    "infra.dns": {
        "aws": {"domain": "zone", "vpcId": "vpc_id"},
        "azure": {"zone": "domain", "zoneType": "zone_type"},
        "digitalocean": {"zone": "domain"},
    },
    "infra.registry": {
        "aws": {"scanOnPush": "scan_on_push", "tagMutability": "tag_mutability",
                "imageTagMutability": "tag_mutability", "lifecyclePolicy": "lifecycle_policy",
                "kmsKey": "kms_key"},
        "azure": {"tier": "sku", "adminUser": "admin_user"},
        "digitalocean": {"tier": "subscription_tier", "subscriptionTier": "subscription_tier"},
    },
    "infra.iam_role": {
        "aws": {"roleName": "role_name", "assumeRolePolicy": "assume_role_policy",
                "maxSessionDuration": "max_session_duration"},
        "azure": {},
    },
    "infra.storage": {
        "aws": {"bucketName": "bucket", "kmsKeyId": "kms_key_id",
                "blockPublicAccess": "block_public_access"},
        "azure": {"accessTier": "access_tier", "publicAccess": "public_access"},
    },
    "infra.certificate": {
        "aws": {"domain": "domain_name", "domainName": "domain_name",
                "subjectAlternativeNames": "subject_alternative_names",
                "sans": "subject_alternative_names"},
        "gcp": {"domain": "domain_name", "domainName": "domain_name"},
        "digitalocean": {"dnsNames": "dns_names"},
    },
    "infra.api_gateway": {
        "aws": {"apiName": "api_name", "name": "api_name", "autoDeploy": "auto_deploy"},
    },
}

# Spec keys a cloud's driver has nothing for, with why (said by validate, kept as a comment
# by convert).
DROPPED: dict[str, dict[str, dict[str, str]]] = {
    "infra.vpc": {
        "digitalocean": {"subnets": "a DigitalOcean VPC has no subnets: its ip_range (cidr) "
                         "is the whole network"},
    },
    "infra.container_service": {
        "aws": {"healthCheck": "an ECS service here has no health check of its own; give "
                "the infra.load_balancer in front of it `healthCheck: {path}`"},
        "digitalocean": {"healthCheck": "App Platform's health check is not managed by "
                         "wfctl's driver"},
        "azure": {"healthCheck": "a container group's probes are not managed by wfctl's "
                  "driver"},
    },
}


def _rules(cloud: str, value: Any, where: str) -> dict[str, Any]:
    """rules: [{direction, protocol, port, source|destination}] -> ingress / egress."""
    if not isinstance(value, list):
        raise ConfigError(f"{where}: rules: a list of {{direction, protocol, port, source}}")
    for index, rule in enumerate(value):
        if not isinstance(rule, Mapping):
            raise ConfigError(f"{where}: rules[{index}]: a mapping")
    if cloud == "gcp":
        return _gcp_rules(value, where)
    out: dict[str, list[dict[str, Any]]] = {}
    for index, rule in enumerate(value):
        direction = str(rule.get("direction", "ingress")).lower()
        side = {"ingress": "ingress", "inbound": "ingress", "in": "ingress",
                "egress": "egress", "outbound": "egress", "out": "egress"}.get(direction)
        if side is None:
            raise ConfigError(f"{where}: rules[{index}]: direction {direction!r} is not "
                              "ingress or egress")
        address = rule.get("source" if side == "ingress" else "destination",
                           rule.get("cidr", "0.0.0.0/0"))
        protocol = str(rule.get("protocol", "tcp")).lower()
        port = rule.get("port", rule.get("ports"))
        if cloud == "digitalocean":
            entry: dict[str, Any] = {"protocol": protocol, "addresses": _listed(address)}
            if port is not None:
                entry["ports"] = str(port)
        else:
            entry = {"protocol": protocol, "cidr": address}
            if port is not None:
                entry["port"] = port
        out.setdefault(side, []).append(entry)
    return out


def _gcp_rules(value: list[Mapping[str, Any]], where: str) -> dict[str, Any]:
    """A GCP firewall rule has one direction: allow entries and the ranges they come from."""
    directions = {str(r.get("direction", "ingress")).lower() in ("egress", "outbound", "out")
                  for r in value}
    if len(directions) > 1:
        raise ConfigError(f"{where}: rules: a GCP firewall has one direction; put ingress and "
                          "egress rules in two infra.firewall modules")
    egress = directions == {True}
    allow = []
    ranges: list[Any] = []
    for rule in value:
        entry: dict[str, Any] = {"protocol": str(rule.get("protocol", "tcp")).lower()}
        port = rule.get("port", rule.get("ports"))
        if port is not None:
            entry["ports"] = [str(p) for p in _listed(port)]
        allow.append(entry)
        address = rule.get("destination" if egress else "source", rule.get("cidr"))
        ranges += [a for a in _listed(address) if a is not None and a not in ranges]
    out: dict[str, Any] = {"direction": "EGRESS" if egress else "INGRESS", "allow": allow}
    if ranges:
        out["destination_ranges" if egress else "source_ranges"] = ranges
    return out


def _subnets(cloud: str, value: Any, where: str) -> dict[str, Any]:
    """subnets: [CIDR | {cidr, az|zone, public, name}] -> the driver's subnets (+ public)."""
    if not isinstance(value, list):
        raise ConfigError(f"{where}: subnets: a list of CIDRs or {{cidr, az, public}}")
    subnets: list[Any] = []
    public = False
    for index, subnet in enumerate(value):
        if isinstance(subnet, str):
            subnets.append(subnet)
            continue
        if not isinstance(subnet, Mapping) or "cidr" not in subnet:
            raise ConfigError(f"{where}: subnets[{index}]: a CIDR or a mapping with `cidr`")
        public = public or bool(subnet.get("public"))
        zone = subnet.get("az", subnet.get("zone"))
        if cloud == "aws":
            subnets.append({"cidr": subnet["cidr"], **({"az": zone} if zone else {})})
        elif cloud in ("azure", "gcp") and subnet.get("name"):
            subnets.append({"name": subnet["name"], "cidr": subnet["cidr"]})
        else:
            subnets.append(subnet["cidr"])
    out: dict[str, Any] = {"subnets": subnets}
    if cloud == "aws" and public:
        out["public"] = True  # AWS's driver routes the whole VPC through its gateway
    return out


def _records(cloud: str, value: Any, where: str) -> dict[str, Any]:
    """records: [{name, type, target|value, ttl}] -> the driver's records."""
    if not isinstance(value, list):
        raise ConfigError(f"{where}: records: a list of {{name, type, target}}")
    records = []
    for index, record in enumerate(value):
        if not isinstance(record, Mapping):
            raise ConfigError(f"{where}: records[{index}]: a mapping")
        target = record.get("target", record.get("value", record.get("data")))
        entry = {k: record[k] for k in ("name", "type", "ttl") if k in record}
        if cloud == "digitalocean":
            entry["data"] = target
        elif cloud == "azure":
            entry["values"] = _listed(target)
        else:
            entry["value"] = target
        records.append(entry)
    return {"records": records}


def _policies(cloud: str, value: Any, where: str) -> dict[str, Any]:
    """policies: [{arn} | ARN] -> the managed policy ARNs the role has."""
    if not isinstance(value, list):
        raise ConfigError(f"{where}: policies: a list of {{arn}}")
    arns = []
    for index, policy in enumerate(value):
        arn = policy.get("arn") if isinstance(policy, Mapping) else policy
        if not isinstance(arn, str):
            raise ConfigError(f"{where}: policies[{index}]: an ARN or {{arn: ...}}")
        arns.append(arn)
    return {"policies": arns}


def _trust(cloud: str, value: Any, where: str) -> dict[str, Any]:
    """trustPrincipals: the services that may assume the role."""
    principals = [p.get("service", p) if isinstance(p, Mapping) else p for p in _listed(value)]
    return {"service": principals}


def _health_check(cloud: str, value: Any, where: str) -> dict[str, Any]:
    """healthCheck: {path, port, protocol} (or a path) on a load balancer."""
    check = value if isinstance(value, Mapping) else {"path": value}
    if cloud == "digitalocean":
        return {"health_check": dict(check)}
    return {"health_check_path": check.get("path", "/")}


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


Converter = Callable[[str, Any, str], dict[str, Any]]
# type -> spec key -> (clouds it applies to, converter).
CONVERTERS: dict[str, dict[str, tuple[tuple[str, ...], Converter]]] = {
    "infra.vpc": {"subnets": (("aws", "azure", "gcp"), _subnets)},
    "infra.firewall": {"rules": (CLOUDS, _rules)},
    "infra.dns": {"records": (("aws", "azure", "digitalocean"), _records)},
    "infra.iam_role": {"policies": (("aws",), _policies),
                       "trustPrincipals": (("aws",), _trust)},
    "infra.load_balancer": {"healthCheck": (("aws", "gcp", "digitalocean"), _health_check)},
}


def map_config(
    resource_type: str, cloud: str, config: Mapping[str, Any], where: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """(the driver's config, {dropped spec key: why}) for one infra module's config."""
    renames = RENAMES.get(resource_type, {}).get(cloud, {})
    converters = CONVERTERS.get(resource_type, {})
    dropped_here = DROPPED.get(resource_type, {}).get(cloud, {})
    mapped: dict[str, Any] = {}
    dropped: dict[str, str] = {}
    for key, value in config.items():
        if key in dropped_here:
            dropped[key] = dropped_here[key]
        elif key in converters and cloud in converters[key][0]:
            mapped.update(converters[key][1](cloud, value, where))
        elif key in renames:
            mapped[renames[key]] = value
        else:
            mapped[key] = value
    return mapped, dropped
