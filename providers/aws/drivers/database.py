"""infra.database: an RDS instance, its DB subnet group and its master password secret.

The master password is generated here, stored in Secrets Manager and never leaves AWS: the
outputs carry the secret's ARN (marked sensitive), not the password.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from interfaces import (
    HealthResult,
    ResourceOutput,
    ResourceRef,
    ResourceSpec,
    ResourceStatus,
)
from interfaces.errors import NotFoundError, ProviderError
from providers.aws import tags as awstags
from providers.aws.base import AwsDriver, identifier
from providers.aws.bulk import RDS_FILTER_VALUES, chunked, every_page, id_filter
from providers.driver_base import BASE_OPERATIONS
from providers.shared_reads import shared

FINAL_SNAPSHOT_TAG = "wfctl:final-snapshot"
STATUSES = {
    "available": ResourceStatus.READY,
    "creating": ResourceStatus.CREATING,
    "deleting": ResourceStatus.DELETING,
    "failed": ResourceStatus.FAILED,
    "inaccessible-encryption-credentials": ResourceStatus.FAILED,
    "incompatible-parameters": ResourceStatus.FAILED,
    "incompatible-restore": ResourceStatus.FAILED,
    "restore-error": ResourceStatus.FAILED,
    "storage-full": ResourceStatus.FAILED,
}
# Config key -> modify_db_instance parameter, for the fields that change in place.
MODIFIABLE = {
    "instance_type": "DBInstanceClass",
    "storage_gb": "AllocatedStorage",
    "version": "EngineVersion",
    "security_group_ids": "VpcSecurityGroupIds",
    "multi_az": "MultiAZ",
    "publicly_accessible": "PubliclyAccessible",
    "backup_retention_days": "BackupRetentionPeriod",
    "deletion_protection": "DeletionProtection",
}
DEFAULT_INSTANCE_TYPE = "db.t3.micro"
DEFAULT_STORAGE_GB = 20


class DatabaseDriver(AwsDriver):
    """Config: engine (postgres), version, instance_type and storage_gb (from sizing, else
    db.t3.micro / 20), db_name, username (wfctl), identifier (default <stack>-<name>),
    subnet_ids or vpc_id (a DB subnet group over them), security_group_ids, multi_az,
    publicly_accessible, backup_retention_days, deletion_protection, storage_encrypted
    (true), final_snapshot (false: snapshot before delete), tags.

    scale(replicas) sets the number of read replicas.
    """

    resource_type = "infra.database"
    FORCE_NEW = frozenset(
        {"engine", "identifier", "db_name", "username", "subnet_ids", "vpc_id",
         "storage_encrypted"}
    )  # fmt: skip
    UPDATABLE = frozenset({*MODIFIABLE, "tags", "final_snapshot"})
    OUTPUTS = frozenset({
        "address", "arn", "backup_retention_days", "db_name", "deletion_protection", "engine",
        "final_snapshot", "identifier", "instance_type", "multi_az", "password_secret_arn", "port",
        "publicly_accessible", "read_replicas", "security_group_ids", "storage_encrypted",
        "storage_gb", "subnet_group", "subnet_ids", "tags", "username", "version", "vpc_id"
    })
    OPERATIONS = (*BASE_OPERATIONS, "scale")

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        db_id = self.db_identifier(spec)
        with self.errors(spec.name):
            found = self._describe_or_none(db_id)
            if found is None:
                # The id is ours to record before the secret and subnet group are made:
                # deleting it also removes those when the instance itself never came.
                self.made(db_id)
                self._create_instance(db_id, spec)
            else:
                self._check_ours(found, spec.name)
                self.made(db_id)
            self._wait_available(db_id, spec.name)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=db_id))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        db_id = ref.provider_id
        with self.errors(ref.name):
            db = self._describe(db_id)
            secret_arn = self._secret_arn(ref.name, db)
        return self._output_of(ref, db, secret_arn)

    def read_many(self, refs: Sequence[ResourceRef]) -> dict[str, ResourceOutput | None]:
        """describe_db_instances filtered by 100 ids at a time, and one listing of the stack's
        password secrets, instead of a describe of each instance and of its secret."""
        found = self.read_each(ref for ref in refs if not ref.provider_id)
        with_ids = [ref for ref in refs if ref.provider_id]
        if not with_ids:
            return found
        with self.bulk_errors(len(with_ids)):
            # Listed once per refresh, whatever the number of chunks (providers.shared_reads).
            secret_arns = shared(("aws stack secrets", id(self)), self._secret_arns)
            for chunk in chunked(with_ids, RDS_FILTER_VALUES):
                dbs = every_page(
                    self.rds,
                    "describe_db_instances",
                    "DBInstances",
                    Filters=id_filter("db-instance-id", [ref.provider_id for ref in chunk]),
                )
                # RDS keeps identifiers lowercase and matches them in any case.
                by_id = {db["DBInstanceIdentifier"].lower(): db for db in dbs}
                for ref in chunk:
                    db = by_id.get(ref.provider_id.lower())
                    if db is None:
                        found[ref.name] = None
                        continue
                    arn = secret_arns.get(self.secret_name(self._owner(ref.name, db)))
                    if arn is None:
                        # Asked on its own, as read does: ListSecrets can lag minutes behind
                        # a new secret (AWS documents it as eventually consistent), and an
                        # imported instance has none (one call, answering NotFound).
                        arn = self._secret_arn(ref.name, db)
                    found[ref.name] = self._output_of(ref, db, arn)
        return found

    def _secret_arns(self) -> dict[str, str]:
        """Name -> ARN of the stack's password secrets, deleted ones too: describe_secret
        still finds one in its recovery window."""
        return {
            secret["Name"]: str(secret["ARN"])
            for secret in every_page(
                self.secretsmanager,
                "list_secrets",
                "SecretList",
                Filters=[{"Key": "name", "Values": [f"wfctl/{self.stack}/"]}],
                IncludePlannedDeletion=True,
            )
        }

    def _output_of(self, ref: ResourceRef, db: dict[str, Any], secret_arn: str) -> ResourceOutput:
        db_id = ref.provider_id
        group = db.get("DBSubnetGroup") or {}
        endpoint = db.get("Endpoint") or {}
        tags = awstags.tags_from_list(db.get("TagList"))
        outputs: dict[str, Any] = {
            "identifier": db_id,
            "arn": db.get("DBInstanceArn", ""),
            "engine": db.get("Engine", ""),
            "version": db.get("EngineVersion", ""),
            "instance_type": db.get("DBInstanceClass", ""),
            "storage_gb": db.get("AllocatedStorage"),
            "address": endpoint.get("Address", ""),
            "port": endpoint.get("Port"),
            "db_name": db.get("DBName") or "",
            "username": db.get("MasterUsername", ""),
            "multi_az": bool(db.get("MultiAZ")),
            "publicly_accessible": bool(db.get("PubliclyAccessible")),
            "backup_retention_days": db.get("BackupRetentionPeriod"),
            "deletion_protection": bool(db.get("DeletionProtection")),
            "storage_encrypted": bool(db.get("StorageEncrypted")),
            "security_group_ids": sorted(
                g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])
            ),
            "subnet_group": group.get("DBSubnetGroupName", ""),
            "subnet_ids": sorted(s["SubnetIdentifier"] for s in group.get("Subnets", [])),
            "vpc_id": group.get("VpcId", ""),
            "read_replicas": sorted(db.get("ReadReplicaDBInstanceIdentifiers", [])),
            "final_snapshot": tags.get(FINAL_SNAPSHOT_TAG) == "true",
            "password_secret_arn": secret_arn,
            "tags": awstags.user_tags(tags),
        }
        status = STATUSES.get(db.get("DBInstanceStatus", ""), ResourceStatus.UPDATING)
        return self.output(ref.name, db_id, outputs, status, sensitive=["password_secret_arn"])

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        db_id = ref.provider_id
        changes = self.updatable_changes(ref, spec)
        with self.errors(spec.name):
            db = self._describe(db_id)
            self._sync_tags(db, spec)
            params = {
                MODIFIABLE[k]: _api_value(k, v) for k, v in changes.items() if k in MODIFIABLE
            }
            if params:
                if "version" in changes and _major(str(changes["version"])) != _major(
                    db.get("EngineVersion", "")
                ):
                    params["AllowMajorVersionUpgrade"] = True
                self.rds.modify_db_instance(
                    DBInstanceIdentifier=db_id, ApplyImmediately=True, **params
                )
            self._wait_available(db_id, spec.name)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        db_id = ref.provider_id
        with self.errors(ref.name):
            db = self._describe_or_none(db_id)
            if db is not None:
                for replica in db.get("ReadReplicaDBInstanceIdentifiers", []):
                    self._delete_instance(replica, ref.name, final_snapshot=False)
                tags = awstags.tags_from_list(db.get("TagList"))
                self._delete_instance(
                    db_id, ref.name, final_snapshot=tags.get(FINAL_SNAPSHOT_TAG) == "true"
                )
                owner = tags.get(awstags.NAME_TAG, ref.name)
            else:
                owner = ref.name
            group = (db or {}).get("DBSubnetGroup", {}).get("DBSubnetGroupName") or db_id
        with self.ignoring_missing(ref.name):
            # The group stays "in use" for a moment after its instance is gone.
            self.retry_while(
                {"InvalidDBSubnetGroupStateFault", "InvalidDBSubnetGroupState"},
                lambda: self._delete_own_subnet_group(group, owner),
                ref.name,
                f"DB subnet group {group} to be free",
            )
        with self.ignoring_missing(ref.name):
            self.secretsmanager.delete_secret(
                SecretId=self.secret_name(owner), ForceDeleteWithoutRecovery=True
            )

    def health_check(self, ref: ResourceRef) -> HealthResult:
        with self.errors(ref.name):
            status = str(self._describe(ref.provider_id).get("DBInstanceStatus", "unknown"))
        return HealthResult(
            healthy=status == "available", message=f"{self.describe(ref.name)} is {status}"
        )

    def scale(self, ref: ResourceRef, replicas: int) -> ResourceOutput:
        """Make the instance have `replicas` read replicas (<identifier>-replica-<n>)."""
        if replicas < 0 or replicas > 15:
            raise self.invalid(ref.name, f"read replicas must be 0..15, not {replicas}")
        db_id = ref.provider_id
        with self.errors(ref.name):
            db = self._describe(db_id)
            tags = awstags.tags_from_list(db.get("TagList"))
            wanted = [f"{db_id}-replica-{i}"[:63] for i in range(1, replicas + 1)]
            existing = set(db.get("ReadReplicaDBInstanceIdentifiers", []))
            for replica in wanted:
                if replica not in existing and self._describe_or_none(replica) is None:
                    self.rds.create_db_instance_read_replica(
                        DBInstanceIdentifier=replica,
                        SourceDBInstanceIdentifier=db_id,
                        DBInstanceClass=db["DBInstanceClass"],
                        Tags=awstags.tag_list(tags),
                    )
            for replica in sorted(existing - set(wanted), reverse=True):
                self._delete_instance(replica, ref.name, final_snapshot=False)
            for replica in wanted:
                self._wait_available(replica, ref.name)
        return self.read(ref)

    # -- parts ----------------------------------------------------------------------------

    @property
    def rds(self) -> Any:
        return self.client("rds")

    @property
    def secretsmanager(self) -> Any:
        return self.client("secretsmanager")

    def db_identifier(self, spec: ResourceSpec) -> str:
        return identifier(str(spec.config.get("identifier") or f"{self.stack}-{spec.name}"), 63)

    def secret_name(self, name: str) -> str:
        # read_many lists the secrets by the prefix wfctl/<stack>/.
        return f"wfctl/{self.stack}/{name}/master-password"

    def tags_for(self, spec: ResourceSpec) -> dict[str, str]:
        tags = super().tags_for(spec)
        if spec.config.get("final_snapshot"):
            tags[FINAL_SNAPSHOT_TAG] = "true"
        return tags

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "identifier" in fields:
            fields["identifier"] = self.db_identifier(spec)
        return fields

    def same(self, key: str, desired: Any, actual: Any) -> bool:
        if key == "version":
            # "16" asks for any 16.x; AWS reports the minor it picked.
            want, have = str(desired), str(actual)
            return have == want or have.startswith(f"{want}.")
        if key == "engine":
            return str(desired).lower() == str(actual).lower()
        return super().same(key, desired, actual)

    def _describe_or_none(self, db_id: str) -> dict[str, Any] | None:
        try:
            with self.errors(db_id):
                return self._describe(db_id)
        except NotFoundError:
            return None

    def _describe(self, db_id: str) -> dict[str, Any]:
        return self.rds.describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]

    def _check_ours(self, db: dict[str, Any], name: str) -> None:
        tags = awstags.tags_from_list(db.get("TagList"))
        if not awstags.is_ours(tags, self.stack, name):
            raise ProviderError(
                f"{self.describe(name)}: DB instance {db['DBInstanceIdentifier']!r} exists "
                "and is not this stack's (import it instead)",
                code="DBInstanceAlreadyExists",
            )

    def _create_instance(self, db_id: str, spec: ResourceSpec) -> None:
        config = spec.config
        username = str(config.get("username") or "wfctl")
        params: dict[str, Any] = {
            "DBInstanceIdentifier": db_id,
            "Engine": str(config.get("engine") or "postgres"),
            "DBInstanceClass": str(config.get("instance_type") or DEFAULT_INSTANCE_TYPE),
            "AllocatedStorage": int(config.get("storage_gb") or DEFAULT_STORAGE_GB),
            "MasterUsername": username,
            "MasterUserPassword": self._password(spec.name, username),
            "StorageEncrypted": bool(config.get("storage_encrypted", True)),
            "CopyTagsToSnapshot": True,
            "Tags": awstags.tag_list(self.tags_for(spec)),
        }
        for key, param in MODIFIABLE.items():
            if key in config and param not in params:
                params[param] = _api_value(key, config[key])
        if config.get("db_name"):
            params["DBName"] = str(config["db_name"])
        group = self._subnet_group(db_id, spec)
        if group:
            params["DBSubnetGroupName"] = group
        self.rds.create_db_instance(**params)

    def _subnet_group(self, db_id: str, spec: ResourceSpec) -> str:
        subnet_ids = self.subnet_ids(spec)
        if not subnet_ids:
            return ""
        try:
            self.rds.create_db_subnet_group(
                DBSubnetGroupName=db_id,
                DBSubnetGroupDescription=f"wfctl {self.stack}/{spec.name}",
                SubnetIds=subnet_ids,
                Tags=awstags.tag_list(self.tags_for(spec)),
            )
        except self.rds.exceptions.DBSubnetGroupAlreadyExistsFault:
            pass  # made by an earlier attempt of this create
        return db_id

    def _password(self, name: str, username: str) -> str:
        """The master password: the one an earlier attempt stored, or a new one."""
        secret_name = self.secret_name(name)
        try:
            with self.errors(name):
                value = self.secretsmanager.get_secret_value(SecretId=secret_name)
            return str(json.loads(value["SecretString"])["password"])
        except NotFoundError:
            pass
        # RDS refuses / " @ and spaces; token_urlsafe uses none of them.
        password = secrets.token_urlsafe(24)
        self.secretsmanager.create_secret(
            Name=secret_name,
            Description=f"master password of {self.describe(name)} in stack {self.stack}",
            SecretString=json.dumps({"username": username, "password": password}),
            Tags=awstags.tag_list(awstags.resource_tags(self.stack, name, self.context.tags)),
        )
        return password

    def _owner(self, name: str, db: dict[str, Any]) -> str:
        """The resource name the instance's secret is named after (an imported one's may
        differ)."""
        return awstags.tags_from_list(db.get("TagList")).get(awstags.NAME_TAG, name)

    def _secret_arn(self, name: str, db: dict[str, Any]) -> str:
        owner = self._owner(name, db)
        try:
            with self.errors(name):
                return str(
                    self.secretsmanager.describe_secret(SecretId=self.secret_name(owner))["ARN"]
                )
        except NotFoundError:
            return ""  # an imported instance whose password we never knew

    def _sync_tags(self, db: dict[str, Any], spec: ResourceSpec) -> None:
        current = awstags.tags_from_list(db.get("TagList"))
        to_set, to_remove = awstags.tag_changes(current, self.tags_for(spec))
        if to_set:
            self.rds.add_tags_to_resource(
                ResourceName=db["DBInstanceArn"], Tags=awstags.tag_list(to_set)
            )
        if to_remove:
            self.rds.remove_tags_from_resource(ResourceName=db["DBInstanceArn"], TagKeys=to_remove)

    def _wait_available(self, db_id: str, name: str) -> None:
        def available() -> bool | None:
            status = self._describe(db_id).get("DBInstanceStatus", "")
            if STATUSES.get(status) == ResourceStatus.FAILED:
                raise ProviderError(
                    f"{self.describe(name)}: DB instance {db_id} is {status}",
                    code="DBInstanceFailed",
                )
            return True if status == "available" else None

        self.wait(available, f"DB instance {db_id} to be available")

    def _delete_instance(self, db_id: str, name: str, *, final_snapshot: bool) -> None:
        db = self._describe_or_none(db_id)
        if db is None:
            return
        if db.get("DBInstanceStatus") != "deleting":
            params: dict[str, Any] = {"DBInstanceIdentifier": db_id, "SkipFinalSnapshot": True}
            if final_snapshot:
                params = {
                    "DBInstanceIdentifier": db_id,
                    "SkipFinalSnapshot": False,
                    "FinalDBSnapshotIdentifier": f"{db_id}-final-{secrets.token_hex(4)}",
                }
            try:
                with self.errors(name):
                    self.rds.delete_db_instance(**params)
            except NotFoundError:
                return
        self.wait(
            lambda: True if self._describe_or_none(db_id) is None else None,
            f"DB instance {db_id} to be deleted",
        )

    def _delete_own_subnet_group(self, group: str, owner: str) -> None:
        found = self.rds.describe_db_subnet_groups(DBSubnetGroupName=group)["DBSubnetGroups"][0]
        tags = awstags.tags_from_list(
            self.rds.list_tags_for_resource(ResourceName=found["DBSubnetGroupArn"])["TagList"]
        )
        if awstags.is_ours(tags, self.stack, owner):
            self.rds.delete_db_subnet_group(DBSubnetGroupName=group)


def _major(version: str) -> str:
    return version.split(".", 1)[0]


def _api_value(key: str, value: Any) -> Any:
    if key in ("storage_gb", "backup_retention_days"):
        return int(value)
    if key in ("multi_az", "publicly_accessible", "deletion_protection"):
        return bool(value)
    if key == "security_group_ids":
        return [str(v) for v in value]
    return str(value)
