"""infra.droplet: a DigitalOcean Droplet; a size change is a resize action, waited for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from providers.digitalocean import tags as dotags
from providers.digitalocean.base import DoDriver
from providers.shared_reads import shared

STATUSES = {
    "new": ResourceStatus.CREATING,
    "active": ResourceStatus.READY,
    "off": ResourceStatus.UPDATING,
    "archive": ResourceStatus.FAILED,
}
DEFAULT_IMAGE = "ubuntu-24-04-x64"
DEFAULT_SIZE = "s-1vcpu-1gb"


class DropletDriver(DoDriver):
    """Config: region, image (slug, default ubuntu-24-04-x64), instance_type (size slug, from
    sizing, else s-1vcpu-1gb), vpc_id, ssh_keys (ids or fingerprints), user_data,
    monitoring, tags, name (default <stack>-<name>).

    A new instance_type powers the droplet off, resizes it (CPU and memory only, so it can
    be resized back down) and powers it on again, each step an action waited for.
    """

    resource_type = "infra.droplet"
    FORCE_NEW = frozenset({"region", "image", "vpc_id", "user_data", "ssh_keys"})
    UPDATABLE = frozenset({"instance_type", "tags"})
    OUTPUTS = frozenset({
        "droplet_id", "image", "instance_type", "ipv4_private", "ipv4_public", "memory_mb", "name",
        "region", "state", "tags", "vcpus", "volume_ids", "vpc_id"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        name = self.do_name(spec)
        found = next((d for d in self._tagged(spec.name) if d.get("name") == name), None)
        if found is None:
            config = spec.config
            body: dict[str, Any] = {
                "name": name,
                "region": self.region(spec),
                "size": str(config.get("instance_type") or DEFAULT_SIZE),
                "image": str(config.get("image") or DEFAULT_IMAGE),
                "tags": self.tags_for(spec),
                "monitoring": bool(config.get("monitoring", False)),
            }
            if config.get("vpc_id"):
                body["vpc_uuid"] = str(config["vpc_id"])
            if config.get("ssh_keys"):
                body["ssh_keys"] = list(config["ssh_keys"])
            if config.get("user_data"):
                body["user_data"] = str(config["user_data"])
            found = self.call(spec.name, self.do.droplets.create, body)["droplet"]
        droplet_id = int(found["id"])
        self.made(str(droplet_id))
        self._wait_status(spec.name, droplet_id, "active")
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=str(droplet_id)))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        return self._output_of(ref, self._get(ref.name, int(ref.provider_id)))

    def read_many(self, refs: Sequence[ResourceRef]) -> dict[str, ResourceOutput | None]:
        """The stack's droplets listed by its tag (200 a page); a ref the listing lacks (an
        imported droplet without the tag, or one deleted) is read on its own."""
        # Listed once per refresh, not once per chunk (providers.shared_reads).
        tagged = shared(("do droplets", id(self)), lambda: self._tagged(f"{len(refs)} droplets"))
        listed = {str(d["id"]): d for d in tagged}
        found: dict[str, ResourceOutput | None] = {}
        for ref in refs:
            droplet = listed.get(ref.provider_id)
            if droplet is not None:
                found[ref.name] = self._output_of(ref, droplet)
            else:
                found.update(self.read_each([ref]))
        return found

    def _output_of(self, ref: ResourceRef, droplet: dict[str, Any]) -> ResourceOutput:
        networks = (droplet.get("networks") or {}).get("v4") or []
        outputs = {
            "droplet_id": droplet["id"],
            "name": droplet.get("name", ""),
            "region": (droplet.get("region") or {}).get("slug", ""),
            "image": (droplet.get("image") or {}).get("slug") or "",
            "instance_type": droplet.get("size_slug", ""),
            "vcpus": droplet.get("vcpus"),
            "memory_mb": droplet.get("memory"),
            "vpc_id": droplet.get("vpc_uuid", ""),
            "ipv4_public": _address(networks, "public"),
            "ipv4_private": _address(networks, "private"),
            "volume_ids": sorted(droplet.get("volume_ids") or []),
            "state": droplet.get("status", ""),
            "tags": dotags.user_tags(droplet.get("tags")),
        }
        status = STATUSES.get(droplet.get("status", ""), ResourceStatus.UNKNOWN)
        if droplet.get("locked"):
            status = ResourceStatus.UPDATING
        return self.output(ref.name, str(droplet["id"]), outputs, status)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        droplet_id = int(ref.provider_id)
        changes = self.updatable_changes(ref, spec)
        if "tags" in changes:
            droplet = self._get(spec.name, droplet_id)
            self.sync_tags(
                spec.name, "droplet", str(droplet_id), droplet.get("tags"), self.tags_for(spec)
            )
        if "instance_type" in changes:
            self._resize(spec.name, droplet_id, str(changes["instance_type"]))
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        droplet_id = int(ref.provider_id)
        with self.ignoring_missing():
            self.call(ref.name, self.do.droplets.destroy, droplet_id)
            self.wait_gone(ref.name, lambda: self.do.droplets.get(droplet_id))

    # -- parts ----------------------------------------------------------------------------

    def _get(self, name: str, droplet_id: int) -> dict[str, Any]:
        return self.call(name, self.do.droplets.get, droplet_id)["droplet"]

    def _tagged(self, name: str) -> list[dict[str, Any]]:
        return self.list_all(
            name, self.do.droplets.list, "droplets", tag_name=dotags.stack_tag(self.stack)
        )

    def _wait_status(self, name: str, droplet_id: int, wanted: str) -> None:
        def reached() -> bool | None:
            droplet = self._get(name, droplet_id)
            return True if droplet.get("status") == wanted and not droplet.get("locked") else None

        self.wait(reached, f"droplet {droplet_id} of {name} to be {wanted}")

    def _action(self, name: str, droplet_id: int, body: dict[str, Any]) -> None:
        action = self.call(name, self.do.droplet_actions.post, droplet_id, body)["action"]
        self.wait_action(name, action)

    def _resize(self, name: str, droplet_id: int, size: str) -> None:
        # A retried update may find the droplet already off or already resized: each step
        # looks at the droplet first.
        droplet = self._get(name, droplet_id)
        if droplet.get("size_slug") != size:
            if droplet.get("status") != "off":
                self._action(name, droplet_id, {"type": "power_off"})
            self._action(name, droplet_id, {"type": "resize", "size": size, "disk": False})
        if self._get(name, droplet_id).get("status") == "off":
            self._action(name, droplet_id, {"type": "power_on"})
        self._wait_status(name, droplet_id, "active")


def _address(networks: list[dict[str, Any]], kind: str) -> str:
    return next((n["ip_address"] for n in networks if n.get("type") == kind), "")
