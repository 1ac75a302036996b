"""infra.database: a DigitalOcean managed database cluster with its databases and users.

The cluster's admin password and connection URI come back in outputs marked sensitive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from interfaces import ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from interfaces.errors import ProviderError
from providers.digitalocean import tags as dotags
from providers.digitalocean.base import DoDriver
from providers.driver_base import BASE_OPERATIONS
from providers.shared_reads import shared

STATUSES = {
    "creating": ResourceStatus.CREATING,
    "online": ResourceStatus.READY,
    "resizing": ResourceStatus.UPDATING,
    "migrating": ResourceStatus.UPDATING,
    "forking": ResourceStatus.CREATING,
}
DEFAULT_SIZE = "db-s-1vcpu-1gb"
# Made by DigitalOcean with every cluster: never ours to add or remove.
BUILT_IN_DBS = frozenset({"defaultdb", "_dodb"})
BUILT_IN_USERS = frozenset({"doadmin"})


class DatabaseDriver(DoDriver):
    """Config: engine (pg | mysql | redis | valkey | mongodb | kafka | opensearch; pg),
    version, region, instance_type (size slug from sizing, else db-s-1vcpu-1gb), num_nodes
    (1), storage_gb, vpc_id (private network), db_names and users (made inside the cluster;
    ones no longer listed are dropped), tags, name (default <stack>-<name>).

    scale(replicas) sets the number of nodes (1..3).
    """

    resource_type = "infra.database"
    DEFAULT_ENGINE = "pg"
    FORCE_NEW = frozenset({"engine", "version", "region", "vpc_id"})
    UPDATABLE = frozenset({"instance_type", "num_nodes", "db_names", "users", "tags"})
    OUTPUTS = frozenset({
        "cluster_id", "db_names", "engine", "host", "instance_type", "name", "num_nodes",
        "password", "port", "private_host", "region", "state", "tags", "uri", "user", "users",
        "version", "vpc_id"
    })
    OPERATIONS = (*BASE_OPERATIONS, "scale")
    CHILDREN: ClassVar[bool] = True  # databases and users inside the cluster (not caches)

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        name = self.do_name(spec)
        tagged = self.call(
            spec.name, self.do.databases.list_clusters, tag_name=dotags.stack_tag(self.stack)
        )
        found = next((d for d in tagged.get("databases") or [] if d.get("name") == name), None)
        if found is None:
            found = self.call(spec.name, self.do.databases.create_cluster, self._body(spec))[
                "database"
            ]
        self.made(found["id"])
        self._wait_online(spec.name, found["id"])
        self._sync_children(spec, found["id"])
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=found["id"]))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        return self._output_of(ref, self._get(ref.name, ref.provider_id))

    def read_many(self, refs: Sequence[ResourceRef]) -> dict[str, ResourceOutput | None]:
        """The stack's clusters listed by its tag in one call (the list is not paged); a ref
        the listing lacks (an imported cluster without the tag, or one deleted) is read on
        its own."""
        # Listed once per refresh, not once per chunk (providers.shared_reads).
        tagged = shared(("do clusters", id(self)), lambda: self.call(
            f"{len(refs)} clusters", self.do.databases.list_clusters,
            tag_name=dotags.stack_tag(self.stack),
        ))  # fmt: skip
        listed = {str(c["id"]): c for c in tagged.get("databases") or []}
        found: dict[str, ResourceOutput | None] = {}
        for ref in refs:
            cluster = listed.get(ref.provider_id)
            if cluster is not None:
                found[ref.name] = self._output_of(ref, cluster)
            else:
                found.update(self.read_each([ref]))
        return found

    def _output_of(self, ref: ResourceRef, cluster: dict[str, Any]) -> ResourceOutput:
        connection = cluster.get("connection") or {}
        private = cluster.get("private_connection") or {}
        outputs: dict[str, Any] = {
            "cluster_id": cluster["id"],
            "name": cluster.get("name", ""),
            "engine": cluster.get("engine", ""),
            "version": cluster.get("version", ""),
            "region": cluster.get("region", ""),
            "instance_type": cluster.get("size", ""),
            "num_nodes": cluster.get("num_nodes"),
            "vpc_id": cluster.get("private_network_uuid") or "",
            "host": connection.get("host", ""),
            "port": connection.get("port"),
            "user": connection.get("user", ""),
            "password": connection.get("password", ""),
            "uri": connection.get("uri", ""),
            "private_host": private.get("host", ""),
            "state": cluster.get("status", ""),
            "tags": dotags.user_tags(cluster.get("tags")),
        }
        if self.CHILDREN:
            outputs["db_names"] = sorted(
                set(cluster.get("db_names") or []) - BUILT_IN_DBS
            )
            outputs["users"] = sorted(
                {u["name"] for u in cluster.get("users") or []} - BUILT_IN_USERS
            )
        status = STATUSES.get(cluster.get("status", ""), ResourceStatus.UNKNOWN)
        return self.output(
            ref.name, cluster["id"], outputs, status, sensitive=["password", "uri"]
        )

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        changes = self.updatable_changes(ref, spec)
        cluster = self._get(spec.name, ref.provider_id)
        if "tags" in changes:
            self.sync_tags(
                spec.name, "database", cluster["id"], cluster.get("tags"), self.tags_for(spec)
            )
        if "instance_type" in changes or "num_nodes" in changes:
            self._resize(
                spec.name,
                cluster["id"],
                str(spec.config.get("instance_type") or cluster.get("size")),
                int(spec.config.get("num_nodes") or cluster.get("num_nodes") or 1),
            )
        self._sync_children(spec, cluster["id"])
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing():
            self.call(ref.name, self.do.databases.destroy_cluster, ref.provider_id)
            self.wait_gone(ref.name, lambda: self.do.databases.get_cluster(ref.provider_id))

    def scale(self, ref: ResourceRef, replicas: int) -> ResourceOutput:
        if not 1 <= replicas <= 3:
            raise self.invalid(ref.name, f"a cluster has 1 to 3 nodes, not {replicas}")
        cluster = self._get(ref.name, ref.provider_id)
        self._resize(ref.name, cluster["id"], str(cluster.get("size")), replicas)
        return self.read(ref)

    # -- parts ----------------------------------------------------------------------------

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        fields.setdefault("engine", self.DEFAULT_ENGINE)
        if "num_nodes" in fields:
            fields["num_nodes"] = int(fields["num_nodes"])
        return fields

    def same(self, key: str, desired: Any, actual: Any) -> bool:
        if key == "engine":
            return _engine(desired) == _engine(actual)
        return super().same(key, desired, actual)

    def _body(self, spec: ResourceSpec) -> dict[str, Any]:
        config = spec.config
        body: dict[str, Any] = {
            "name": self.do_name(spec),
            "engine": _engine(config.get("engine") or self.DEFAULT_ENGINE),
            "region": self.region(spec),
            "size": str(config.get("instance_type") or DEFAULT_SIZE),
            "num_nodes": int(config.get("num_nodes") or 1),
            "tags": self.tags_for(spec),
        }
        if config.get("version"):
            body["version"] = str(config["version"])
        if config.get("vpc_id"):
            body["private_network_uuid"] = str(config["vpc_id"])
        if config.get("storage_gb"):
            body["storage_size_mib"] = int(config["storage_gb"]) * 1024
        return body

    def _get(self, name: str, cluster_id: str) -> dict[str, Any]:
        return self.call(name, self.do.databases.get_cluster, cluster_id)["database"]

    def _wait_online(self, name: str, cluster_id: str) -> None:
        def online() -> bool | None:
            status = self._get(name, cluster_id).get("status", "")
            if status in ("failed", "error"):
                raise ProviderError(
                    f"{self.describe(name)}: cluster {cluster_id} is {status}",
                    code="ClusterFailed",
                )
            return True if status == "online" else None

        self.wait(online, f"database cluster {cluster_id} of {name} to be online")

    def _resize(self, name: str, cluster_id: str, size: str, nodes: int) -> None:
        body = {"size": size, "num_nodes": nodes}
        self.call(name, self.do.databases.update_cluster_size, cluster_id, body)
        self._wait_online(name, cluster_id)

    def _sync_children(self, spec: ResourceSpec, cluster_id: str) -> None:
        """Databases and users as the spec lists them (when it lists them at all)."""
        if not self.CHILDREN:
            return
        config = spec.config
        if "db_names" in config:
            body = self.call(spec.name, self.do.databases.list, cluster_id)
            have = {d["name"] for d in body.get("dbs") or []} - BUILT_IN_DBS
            want = {str(n) for n in config.get("db_names") or []}
            for db in sorted(want - have):
                self.call(spec.name, self.do.databases.add, cluster_id, {"name": db})
            for db in sorted(have - want):
                with self.ignoring_missing():
                    self.call(spec.name, self.do.databases.delete, cluster_id, db)
        if "users" in config:
            body = self.call(spec.name, self.do.databases.list_users, cluster_id)
            have = {u["name"] for u in body.get("users") or []} - BUILT_IN_USERS
            want = {str(n) for n in config.get("users") or []}
            for user in sorted(want - have):
                self.call(spec.name, self.do.databases.add_user, cluster_id, {"name": user})
            for user in sorted(have - want):
                with self.ignoring_missing():
                    self.call(spec.name, self.do.databases.delete_user, cluster_id, user)


def _engine(value: Any) -> str:
    text = str(value or "").lower()
    return {"postgres": "pg", "postgresql": "pg"}.get(text, text)
