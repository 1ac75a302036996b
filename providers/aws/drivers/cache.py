"""infra.cache: an ElastiCache (Redis/Valkey) replication group and its cache subnet group."""

from __future__ import annotations

from typing import Any

from interfaces import HealthResult, ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from interfaces.errors import NotFoundError, ProviderError
from providers.aws import tags as awstags
from providers.aws.base import AwsDriver, identifier

STATUSES = {
    "available": ResourceStatus.READY,
    "creating": ResourceStatus.CREATING,
    "modifying": ResourceStatus.UPDATING,
    "snapshotting": ResourceStatus.READY,
    "deleting": ResourceStatus.DELETING,
    "create-failed": ResourceStatus.FAILED,
}
# Config key -> modify_replication_group parameter, for the fields that change in place.
MODIFIABLE = {
    "instance_type": "CacheNodeType",
    "version": "EngineVersion",
    "description": "ReplicationGroupDescription",
    "automatic_failover": "AutomaticFailoverEnabled",
    "multi_az": "MultiAZEnabled",
    "snapshot_retention_days": "SnapshotRetentionLimit",
    "security_group_ids": "SecurityGroupIds",
}
DEFAULT_INSTANCE_TYPE = "cache.t3.micro"


class CacheDriver(AwsDriver):
    """Config: engine (redis or valkey), version, instance_type (from sizing, else
    cache.t3.micro), replicas (read replicas besides the primary, 0), identifier (default
    <stack>-<name>, at most 40 characters), subnet_ids or vpc_id (a cache subnet group over
    them), security_group_ids, port, description, automatic_failover, multi_az,
    snapshot_retention_days, at_rest_encryption (true), transit_encryption, tags.

    Version, security groups and subnet group live on the member clusters; they are read
    from the primary member when AWS has it (not while the group is still being made, when
    a change to them plans nothing yet). The subnet group's subnets and VPC are read from the
    group itself: the member's, else the one create makes under the group's id."""

    resource_type = "infra.cache"
    FORCE_NEW = frozenset(
        {"engine", "identifier", "replicas", "subnet_ids", "vpc_id", "port",
         "at_rest_encryption", "transit_encryption"}
    )  # fmt: skip
    UPDATABLE = frozenset({*MODIFIABLE, "tags"})
    OUTPUTS = frozenset({
        "arn", "at_rest_encryption", "automatic_failover", "description", "engine", "identifier",
        "instance_type", "member_clusters", "multi_az", "port", "primary_endpoint",
        "reader_endpoint", "replicas", "replication_group_id", "security_group_ids",
        "snapshot_retention_days", "subnet_group", "subnet_ids", "tags", "transit_encryption",
        "version", "vpc_id"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        group_id = self.group_identifier(spec)
        with self.errors(spec.name):
            group = self._describe_or_none(group_id)
            if group is not None and group.get("Status") == "deleting":
                # A replace reuses the id: the old group must be gone first.
                self._wait_gone(group_id)
                group = None
            if group is None:
                # Recorded before the subnet group is made: deleting the id removes both.
                self.made(group_id)
                self._create_group(group_id, spec)
            elif not awstags.is_ours(self._tags(group), self.stack, spec.name):
                raise ProviderError(
                    f"{self.describe(spec.name)}: replication group {group_id!r} exists and "
                    "is not this stack's (import it instead)",
                    code="ReplicationGroupAlreadyExists",
                )
            else:
                self.made(group_id)
            self._wait_available(group_id, spec.name)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=group_id))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        group_id = ref.provider_id
        with self.errors(ref.name):
            group = self._describe(group_id)
            tags = self._tags(group)
            member = self._primary_member(group)
            subnet_group_name = (member or {}).get("CacheSubnetGroupName") or group_id
            subnet_group = self._subnet_group_or_none(subnet_group_name)
        node_group = (group.get("NodeGroups") or [{}])[0]
        primary = node_group.get("PrimaryEndpoint") or group.get("ConfigurationEndpoint") or {}
        members = group.get("MemberClusters", [])
        outputs: dict[str, Any] = {
            "replication_group_id": group_id,
            "identifier": group_id,
            "arn": group.get("ARN", ""),
            "engine": group.get("Engine", ""),
            "instance_type": group.get("CacheNodeType", ""),
            "description": group.get("Description", ""),
            "primary_endpoint": primary.get("Address", ""),
            "reader_endpoint": (node_group.get("ReaderEndpoint") or {}).get("Address", ""),
            "port": primary.get("Port"),
            "member_clusters": members,
            "replicas": max(0, len(members) - 1),
            "automatic_failover": group.get("AutomaticFailover") in ("enabled", "enabling"),
            "multi_az": group.get("MultiAZ") == "enabled",
            "snapshot_retention_days": group.get("SnapshotRetentionLimit", 0),
            "at_rest_encryption": bool(group.get("AtRestEncryptionEnabled")),
            "transit_encryption": bool(group.get("TransitEncryptionEnabled")),
            "tags": awstags.user_tags(tags),
        }
        if subnet_group is not None:
            outputs["subnet_group"] = subnet_group_name
            outputs["subnet_ids"] = sorted(
                s["SubnetIdentifier"] for s in subnet_group.get("Subnets", [])
            )
            outputs["vpc_id"] = subnet_group.get("VpcId", "")
        if member is not None:
            outputs["version"] = member.get("EngineVersion", "")
            outputs["subnet_group"] = subnet_group_name
            outputs["security_group_ids"] = sorted(
                g["SecurityGroupId"] for g in member.get("SecurityGroups", [])
            )
        status = STATUSES.get(group.get("Status", ""), ResourceStatus.UPDATING)
        return self.output(ref.name, group_id, outputs, status)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        group_id = ref.provider_id
        changes = self.updatable_changes(ref, spec)
        with self.errors(spec.name):
            group = self._describe(group_id)
            self._sync_tags(group, spec)
            params = {
                MODIFIABLE[k]: _api_value(k, v) for k, v in changes.items() if k in MODIFIABLE
            }
            if params:
                self.elasticache.modify_replication_group(
                    ReplicationGroupId=group_id, ApplyImmediately=True, **params
                )
            self._wait_available(group_id, spec.name)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        group_id = ref.provider_id
        with self.errors(ref.name):
            group = self._describe_or_none(group_id)
            owner = ref.name
            subnet_group = group_id
            if group is not None:
                owner = self._tags(group).get(awstags.NAME_TAG, ref.name)
                member = self._primary_member(group)
                if member is not None:
                    subnet_group = member.get("CacheSubnetGroupName") or group_id
                if group.get("Status") != "deleting":
                    try:
                        with self.errors(ref.name):
                            self.elasticache.delete_replication_group(
                                ReplicationGroupId=group_id, RetainPrimaryCluster=False
                            )
                    except NotFoundError:
                        pass
                self._wait_gone(group_id)
        with self.ignoring_missing(ref.name):
            # The subnet group stays "in use" for a moment after its clusters are gone.
            self.retry_while(
                {"CacheSubnetGroupInUse", "InvalidCacheSubnetGroupState"},
                lambda: self._delete_own_subnet_group(subnet_group, owner),
                ref.name,
                f"cache subnet group {subnet_group} to be free",
            )

    def health_check(self, ref: ResourceRef) -> HealthResult:
        with self.errors(ref.name):
            status = str(self._describe(ref.provider_id).get("Status", "unknown"))
        return HealthResult(
            healthy=status == "available", message=f"{self.describe(ref.name)} is {status}"
        )

    # -- parts ----------------------------------------------------------------------------

    @property
    def elasticache(self) -> Any:
        return self.client("elasticache")

    def group_identifier(self, spec: ResourceSpec) -> str:
        return identifier(str(spec.config.get("identifier") or f"{self.stack}-{spec.name}"), 40)

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "identifier" in fields:
            fields["identifier"] = self.group_identifier(spec)
        return fields

    def same(self, key: str, desired: Any, actual: Any) -> bool:
        if key == "version":
            want, have = str(desired), str(actual)
            return have == want or have.startswith(f"{want}.")
        if key == "engine":
            return str(desired).lower() == str(actual).lower()
        return super().same(key, desired, actual)

    def _describe_or_none(self, group_id: str) -> dict[str, Any] | None:
        try:
            with self.errors(group_id):
                return self._describe(group_id)
        except NotFoundError:
            return None

    def _describe(self, group_id: str) -> dict[str, Any]:
        return self.elasticache.describe_replication_groups(ReplicationGroupId=group_id)[
            "ReplicationGroups"
        ][0]

    def _subnet_group_or_none(self, name: str) -> dict[str, Any] | None:
        try:
            with self.errors(name):
                return self.elasticache.describe_cache_subnet_groups(CacheSubnetGroupName=name)[
                    "CacheSubnetGroups"
                ][0]
        except NotFoundError:
            return None

    def _tags(self, group: dict[str, Any]) -> dict[str, str]:
        found = self.elasticache.list_tags_for_resource(ResourceName=group["ARN"])
        return awstags.tags_from_list(found.get("TagList"))

    def _primary_member(self, group: dict[str, Any]) -> dict[str, Any] | None:
        """The primary member cluster, which carries version, subnet and security groups.
        None while AWS has not made it yet."""
        members = group.get("MemberClusters") or []
        if not members:
            return None
        try:
            with self.errors(members[0]):
                return self.elasticache.describe_cache_clusters(CacheClusterId=members[0])[
                    "CacheClusters"
                ][0]
        except NotFoundError:
            return None

    def _create_group(self, group_id: str, spec: ResourceSpec) -> None:
        config = spec.config
        params: dict[str, Any] = {
            "ReplicationGroupId": group_id,
            "ReplicationGroupDescription": str(
                config.get("description") or f"wfctl {self.stack}/{spec.name}"
            ),
            "Engine": str(config.get("engine") or "redis"),
            "CacheNodeType": str(config.get("instance_type") or DEFAULT_INSTANCE_TYPE),
            "NumCacheClusters": int(config.get("replicas") or 0) + 1,
            "AtRestEncryptionEnabled": bool(config.get("at_rest_encryption", True)),
            "TransitEncryptionEnabled": bool(config.get("transit_encryption", False)),
            "Tags": awstags.tag_list(self.tags_for(spec)),
        }
        for key, param in MODIFIABLE.items():
            if key in config and param not in params:
                params[param] = _api_value(key, config[key])
        if config.get("port"):
            params["Port"] = int(config["port"])
        subnet_group = self._subnet_group(group_id, spec)
        if subnet_group:
            params["CacheSubnetGroupName"] = subnet_group
        self.elasticache.create_replication_group(**params)

    def _subnet_group(self, group_id: str, spec: ResourceSpec) -> str:
        subnet_ids = self.subnet_ids(spec)
        if not subnet_ids:
            return ""
        try:
            self.elasticache.create_cache_subnet_group(
                CacheSubnetGroupName=group_id,
                CacheSubnetGroupDescription=f"wfctl {self.stack}/{spec.name}",
                SubnetIds=subnet_ids,
                Tags=awstags.tag_list(self.tags_for(spec)),
            )
        except self.elasticache.exceptions.CacheSubnetGroupAlreadyExistsFault:
            pass  # made by an earlier attempt of this create
        return group_id

    def _sync_tags(self, group: dict[str, Any], spec: ResourceSpec) -> None:
        to_set, to_remove = awstags.tag_changes(self._tags(group), self.tags_for(spec))
        if to_set:
            self.elasticache.add_tags_to_resource(
                ResourceName=group["ARN"], Tags=awstags.tag_list(to_set)
            )
        if to_remove:
            self.elasticache.remove_tags_from_resource(
                ResourceName=group["ARN"], TagKeys=to_remove
            )

    def _wait_available(self, group_id: str, name: str) -> None:
        def available() -> bool | None:
            status = self._describe(group_id).get("Status", "")
            if status == "create-failed":
                raise ProviderError(
                    f"{self.describe(name)}: replication group {group_id} is {status}",
                    code="ReplicationGroupFailed",
                )
            return True if status == "available" else None

        self.wait(available, f"replication group {group_id} to be available")

    def _wait_gone(self, group_id: str) -> None:
        self.wait(
            lambda: True if self._describe_or_none(group_id) is None else None,
            f"replication group {group_id} to be deleted",
        )

    def _delete_own_subnet_group(self, name: str, owner: str) -> None:
        found = self.elasticache.describe_cache_subnet_groups(CacheSubnetGroupName=name)[
            "CacheSubnetGroups"
        ][0]
        if awstags.is_ours(self._tags(found), self.stack, owner):
            self.elasticache.delete_cache_subnet_group(CacheSubnetGroupName=name)


def _api_value(key: str, value: Any) -> Any:
    if key == "snapshot_retention_days":
        return int(value)
    if key in ("automatic_failover", "multi_az"):
        return bool(value)
    if key == "security_group_ids":
        return [str(v) for v in value]
    return str(value)
