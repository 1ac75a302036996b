"""infra.volume: a DigitalOcean Block Storage volume, optionally attached to a droplet."""

from __future__ import annotations

from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from providers.digitalocean import tags as dotags
from providers.digitalocean.base import DoDriver

DEFAULT_SIZE_GB = 10


class VolumeDriver(DoDriver):
    """Config: size_gb (from sizing's storage, else 10; it can only grow), region,
    filesystem_type (ext4 | xfs, unformatted when absent), droplet_id (attached to it; an
    attach, detach or resize is an action waited for), description, tags, name.
    """

    resource_type = "infra.volume"
    FORCE_NEW = frozenset({"region", "filesystem_type"})
    UPDATABLE = frozenset({"size_gb", "droplet_id", "tags"})
    OUTPUTS = frozenset({
        "description", "droplet_id", "filesystem_type", "name", "region", "size_gb", "tags",
        "volume_id"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        name = self.do_name(spec, 64)
        region = self.region(spec)
        same_name = self.list_all(
            spec.name, self.do.volumes.list, "volumes", name=name, region=region
        )
        found = next((v for v in same_name if self.is_ours(v)), None)
        if found is None:
            body: dict[str, Any] = {
                "name": name,
                "region": region,
                "size_gigabytes": int(spec.config.get("size_gb") or DEFAULT_SIZE_GB),
                "description": str(spec.config.get("description") or ""),
                "tags": self.tags_for(spec),
            }
            if spec.config.get("filesystem_type"):
                body["filesystem_type"] = str(spec.config["filesystem_type"])
            found = self.call(spec.name, self.do.volumes.create, body)["volume"]
        self.made(found["id"])
        ref = ResourceRef(name=spec.name, type=spec.type, provider_id=found["id"])
        self._attach(spec, found)
        return self.read(ref)

    def read(self, ref: ResourceRef) -> ResourceOutput:
        volume = self._get(ref.name, ref.provider_id)
        droplets = volume.get("droplet_ids") or []
        outputs = {
            "volume_id": volume["id"],
            "name": volume.get("name", ""),
            "region": (volume.get("region") or {}).get("slug", ""),
            "size_gb": volume.get("size_gigabytes"),
            "filesystem_type": volume.get("filesystem_type", ""),
            "droplet_id": droplets[0] if droplets else "",
            "description": volume.get("description", ""),
            "tags": dotags.user_tags(volume.get("tags")),
        }
        return self.output(ref.name, volume["id"], outputs)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        changes = self.updatable_changes(ref, spec)
        volume = self._get(spec.name, ref.provider_id)
        if "tags" in changes:
            self.sync_tags(
                spec.name, "volume", volume["id"], volume.get("tags"), self.tags_for(spec)
            )
        if "size_gb" in changes:
            size = int(changes["size_gb"])
            if size < int(volume.get("size_gigabytes") or 0):
                raise self.invalid(spec.name, f"a volume cannot shrink to {size} GB")
            self._action(spec.name, volume, {"type": "resize", "size_gigabytes": size})
        if "droplet_id" in changes:
            self._attach(spec, volume)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing():
            volume = self._get(ref.name, ref.provider_id)
            for droplet_id in volume.get("droplet_ids") or []:
                self._action(ref.name, volume, {"type": "detach", "droplet_id": int(droplet_id)})
            self.call(ref.name, self.do.volumes.delete, ref.provider_id)

    # -- parts ----------------------------------------------------------------------------

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        fields.setdefault("droplet_id", "")
        fields.setdefault("size_gb", DEFAULT_SIZE_GB)
        return fields

    def same(self, key: str, desired: Any, actual: Any) -> bool:
        if key == "droplet_id":
            return str(desired or "") == str(actual or "")
        return super().same(key, desired, actual)

    def _get(self, name: str, volume_id: str) -> dict[str, Any]:
        return self.call(name, self.do.volumes.get, volume_id)["volume"]

    def _action(self, name: str, volume: dict[str, Any], body: dict[str, Any]) -> None:
        body = {**body, "region": (volume.get("region") or {}).get("slug", "")}
        action = self.call(name, self.do.volume_actions.post_by_id, volume["id"], body)["action"]
        self.wait_action(name, action)

    def _attach(self, spec: ResourceSpec, volume: dict[str, Any]) -> None:
        """Attach to the spec's droplet only, detaching from any other first."""
        wanted = spec.config.get("droplet_id")
        attached = [int(d) for d in volume.get("droplet_ids") or []]
        for droplet_id in attached:
            if str(droplet_id) != str(wanted or ""):
                self._action(spec.name, volume, {"type": "detach", "droplet_id": droplet_id})
        if wanted and int(wanted) not in attached:
            self._action(spec.name, volume, {"type": "attach", "droplet_id": int(wanted)})
