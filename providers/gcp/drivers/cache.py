"""infra.cache: a Memorystore for Redis instance (google-cloud-redis, REST transport)."""

from __future__ import annotations

from typing import Any

from google.cloud import redis_v1
from google.protobuf import field_mask_pb2

from interfaces import ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from interfaces.errors import NotFoundError, ProviderError
from providers.gcp import labels as gcplabels
from providers.gcp.base import CONFLICT_CODES, GcpDriver, last_segment

TIERS = ("BASIC", "STANDARD_HA")
DEFAULT_VERSION = "REDIS_7_0"
STATES = {
    "READY": ResourceStatus.READY,
    "CREATING": ResourceStatus.CREATING,
    "UPDATING": ResourceStatus.UPDATING,
    "MAINTENANCE": ResourceStatus.UPDATING,
    "IMPORTING": ResourceStatus.UPDATING,
    "FAILING_OVER": ResourceStatus.UPDATING,
    "DELETING": ResourceStatus.DELETING,
}


class CacheDriver(GcpDriver):
    """Config: tier (BASIC or STANDARD_HA) and memory_size_gb (from sizing, else BASIC and
    1), version (REDIS_7_0), region (the provider's), zone (Google picks one), network (the
    authorized network: required, usually `${net.outputs.network}`; left out, Memorystore
    would use the project's `default` network, which many projects do not have), labels.

    Memory and labels change in place; tier, version, region, zone and network need a new
    instance.
    """

    resource_type = "infra.cache"
    FORCE_NEW = frozenset({"tier", "version", "region", "zone", "network"})
    UPDATABLE = frozenset({"memory_size_gb", "labels"})
    OUTPUTS = frozenset({
        "host", "instance", "labels", "memory_size_gb", "network", "port", "region", "state",
        "tier", "version", "zone"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        name = self.full_name(spec)
        found = self.find(spec.name, lambda: self.redis.get_instance(name=name))
        if found is None:
            instance: dict[str, Any] = {
                "tier": self._tier(spec),
                "memory_size_gb": self._memory(spec),
                "redis_version": self._version(spec),
                "authorized_network": self._network(spec),
                "labels": self.labels_for(spec),
                "display_name": f"{self.stack}/{spec.name}",
            }
            if spec.config.get("zone"):
                instance["location_id"] = str(spec.config["zone"])
            try:
                with self.errors(spec.name):
                    operation = self.redis.create_instance(
                        parent=self._parent(spec),
                        instance_id=last_segment(name),
                        instance=instance,
                    )
                self.made(name)  # accepted: on record before the long wait
                self.context.redis_operations.wait(
                    operation.operation.name, self.describe(spec.name)
                )
            except ProviderError as error:
                if error.code not in CONFLICT_CODES:
                    raise
            with self.errors(spec.name):
                found = self.redis.get_instance(name=name)
        if not gcplabels.is_ours(self.stack, spec.name, labels_found=dict(found.labels)):
            raise ProviderError(
                f"{self.describe(spec.name)}: Memorystore instance {name!r} already exists "
                "and is not this resource's (import it to manage it)",
                code="AlreadyExists",
            )
        self.made(name)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=name))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            instance = self.redis.get_instance(name=self._name(ref.provider_id))
        outputs: dict[str, Any] = {
            "instance": instance.name,
            "host": instance.host,
            "port": instance.port,
            "tier": instance.tier.name,
            "memory_size_gb": instance.memory_size_gb,
            "version": instance.redis_version,
            "region": instance.name.split("/")[3],
            "zone": instance.location_id,
            "network": last_segment(instance.authorized_network),
            "labels": gcplabels.user_labels(dict(instance.labels)),
            "state": instance.state.name,
        }
        status = STATES.get(instance.state.name, ResourceStatus.UNKNOWN)
        return self.output(ref.name, instance.name, outputs, status)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        changes = self.updatable_changes(ref, spec)
        paths = [p for p in ("memory_size_gb", "labels") if p in changes]
        if paths:
            with self.errors(spec.name):
                operation = self.redis.update_instance(
                    update_mask=field_mask_pb2.FieldMask(paths=paths),
                    instance={
                        "name": self._name(ref.provider_id),
                        "memory_size_gb": self._memory(spec),
                        "labels": self.labels_for(spec),
                    },
                )
            self.context.redis_operations.wait(operation.operation.name, self.describe(spec.name))
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        try:
            with self.errors(ref.name):
                operation = self.redis.delete_instance(name=self._name(ref.provider_id))
            self.context.redis_operations.wait(operation.operation.name, self.describe(ref.name))
        except NotFoundError:
            pass

    def natural_id(self, provider_id: str) -> str:
        return self._name(provider_id)

    # -- parts ----------------------------------------------------------------------------

    @property
    def redis(self) -> redis_v1.CloudRedisClient:
        return self.context.clients.redis()

    def full_name(self, spec: ResourceSpec) -> str:
        instance_id = gcplabels.resource_name(self.stack, spec.name, max_length=40)
        return f"{self._parent(spec)}/instances/{instance_id}"

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        fields.update(
            tier=self._tier(spec),
            version=self._version(spec),
            region=self._region(spec),
            network=last_segment(self._network(spec)),
        )
        if "memory_size_gb" in fields:
            fields["memory_size_gb"] = self._memory(spec)
        return fields

    def _name(self, provider_id: str) -> str:
        if provider_id.startswith("projects/"):
            return provider_id
        parent = f"projects/{self.project}/locations/{self.context.region}"
        return f"{parent}/instances/{provider_id}"

    def _region(self, spec: ResourceSpec) -> str:
        return str(spec.config.get("region") or self.context.region)

    def _parent(self, spec: ResourceSpec) -> str:
        return f"projects/{self.project}/locations/{self._region(spec)}"

    def _tier(self, spec: ResourceSpec) -> str:
        tier = str(spec.config.get("tier") or spec.config.get("instance_type") or "BASIC")
        if tier.upper() not in TIERS:
            raise self.invalid(spec.name, f"tier {tier!r} is not BASIC or STANDARD_HA")
        return tier.upper()

    def _memory(self, spec: ResourceSpec) -> int:
        return int(spec.config.get("memory_size_gb") or 1)

    def _version(self, spec: ResourceSpec) -> str:
        return str(spec.config.get("version") or DEFAULT_VERSION)

    def _network(self, spec: ResourceSpec) -> str:
        network = str(spec.config.get("network") or "")
        if not network:
            raise self.invalid(
                spec.name,
                "config.network is required: the VPC network the cache is reachable from, "
                "e.g. ${net.outputs.network} of an infra.vpc (or `default` for the project's "
                "default network)",
            )
        if "/" in network:
            return network
        return f"projects/{self.project}/global/networks/{network}"
