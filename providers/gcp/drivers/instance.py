"""infra.instance: a Compute Engine VM with a boot disk, one network interface, tags, labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.cloud import compute_v1

from interfaces import ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from providers.gcp import labels as gcplabels
from providers.gcp.base import GcpDriver, canonical, last_segment
from providers.shared_reads import shared

DEFAULT_IMAGE = "projects/debian-cloud/global/images/family/debian-12"
DEFAULT_MACHINE_TYPE = "e2-small"
DEFAULT_DISK_GB = 10
LIST_PAGE = 500  # the most items a Compute list call returns per page
STATUSES = {
    "RUNNING": ResourceStatus.READY,
    "PROVISIONING": ResourceStatus.CREATING,
    "STAGING": ResourceStatus.CREATING,
    "REPAIRING": ResourceStatus.UPDATING,
    "STOPPING": ResourceStatus.UPDATING,
    "SUSPENDING": ResourceStatus.UPDATING,
}


class InstanceDriver(GcpDriver):
    """Config: zone (the provider's by default), instance_type (machine type, from sizing,
    else e2-small), image (debian-12 family by default), disk_gb (10), network and
    subnetwork (names or links; the default network when neither is given), external_ip
    (true: an ephemeral public address), network_tags, startup_script, labels, instance (the
    name, default <stack>-<name>).

    A new machine type stops the VM, changes it and starts it again; tags and labels change
    in place; everything else needs a new VM.
    """

    resource_type = "infra.instance"
    FORCE_NEW = frozenset(
        {"zone", "image", "disk_gb", "network", "subnetwork", "external_ip", "startup_script",
         "instance"}
    )  # fmt: skip
    UPDATABLE = frozenset({"instance_type", "network_tags", "labels"})
    OUTPUTS = frozenset({
        "disk_gb", "external_ip", "image", "instance", "instance_type", "internal_ip", "labels",
        "network", "network_tags", "public_ip", "self_link", "startup_script", "status",
        "subnetwork", "zone"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        name, zone = self.instance_name(spec), self.zone(spec)
        body = self._body(spec, name, zone)
        self.ensure(
            spec.name,
            f"instance {name}",
            lambda: self._get(zone, name),
            lambda rid: self.instances.insert_unary(
                compute_v1.InsertInstanceRequest(
                    project=self.project, zone=zone, request_id=rid, instance_resource=body
                )
            ),
            lambda found: gcplabels.is_ours(self.stack, spec.name, labels_found=found.labels),
        )
        return self.read(self._ref(spec, zone, name))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        zone, name = _zone_and_name(ref.provider_id, self.context.zone)
        with self.errors(ref.name):
            vm = self._get(zone, name)
            boot = _boot(vm)
            disk = self._disk(zone, boot.source) if boot is not None else None
        return self._output_of(ref, vm, disk)

    def read_many(self, refs: Sequence[ResourceRef]) -> dict[str, ResourceOutput | None]:
        """Per zone, the stack's instances listed by its label and the zone's disks (500 a
        page) instead of two GETs per instance; a ref the listings lack (an imported instance
        without the label, or one deleted) is read on its own."""
        by_zone: dict[str, list[tuple[ResourceRef, str]]] = {}
        for ref in refs:
            zone, name = _zone_and_name(ref.provider_id, self.context.zone)
            by_zone.setdefault(zone, []).append((ref, name))
        stack_filter = f'labels.{gcplabels.STACK_LABEL} = "{gcplabels.label_value(self.stack)}"'
        found: dict[str, ResourceOutput | None] = {}
        for zone, members in by_zone.items():
            scope = {"project": self.project, "zone": zone, "max_results": LIST_PAGE}
            with self.errors(f"{len(members)} instances in {zone}"):
                # Listed once per refresh, not once per chunk (providers.shared_reads).
                vms = shared(("gcp instances", id(self), zone), lambda scope=scope: {
                    vm.name: vm for vm in self.instances.list(
                        request=compute_v1.ListInstancesRequest(**scope, filter=stack_filter)
                    )
                })  # fmt: skip
                disks = shared(("gcp disks", id(self), zone), lambda scope=scope: {
                    disk.name: disk for disk in self.compute(compute_v1.DisksClient).list(
                        request=compute_v1.ListDisksRequest(**scope)
                    )
                })  # fmt: skip
            for ref, name in members:
                vm = vms.get(name)
                boot = _boot(vm) if vm is not None else None
                disk = disks.get(last_segment(boot.source)) if boot is not None else None
                if vm is None or (boot is not None and disk is None):
                    found.update(self.read_each([ref]))
                else:
                    found[ref.name] = self._output_of(ref, vm, disk)
        return found

    def _output_of(
        self, ref: ResourceRef, vm: compute_v1.Instance, disk: compute_v1.Disk | None
    ) -> ResourceOutput:
        interface = vm.network_interfaces[0] if vm.network_interfaces else None
        access = interface.access_configs if interface is not None else []
        metadata = {item.key: item.value for item in vm.metadata.items}
        outputs: dict[str, Any] = {
            "instance": vm.name,
            "self_link": vm.self_link,
            "zone": last_segment(vm.zone),
            "instance_type": last_segment(vm.machine_type),
            "image": disk.source_image if disk is not None else "",
            "disk_gb": int(disk.size_gb) if disk is not None else 0,
            "network": last_segment(interface.network) if interface else "",
            "subnetwork": last_segment(interface.subnetwork) if interface else "",
            "internal_ip": interface.network_i_p if interface else "",
            "external_ip": bool(access),
            "public_ip": access[0].nat_i_p if access else "",
            "network_tags": list(vm.tags.items),
            "startup_script": metadata.get("startup-script", ""),
            "labels": gcplabels.user_labels(dict(vm.labels)),
            "status": vm.status,
        }
        status = STATUSES.get(vm.status, ResourceStatus.UNKNOWN)
        return self.output(ref.name, f"{outputs['zone']}/{vm.name}", outputs, status)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        zone, name = _zone_and_name(ref.provider_id, self.context.zone)
        changes = self.updatable_changes(ref, spec)
        with self.errors(spec.name):
            vm = self._get(zone, name)
        if "labels" in changes:
            self._instance_call(spec.name, "setLabels", name, zone, lambda rid: (
                self.instances.set_labels_unary(compute_v1.SetLabelsInstanceRequest(
                    project=self.project, zone=zone, instance=name, request_id=rid,
                    instances_set_labels_request_resource={
                        "labels": self.labels_for(spec),
                        "label_fingerprint": vm.label_fingerprint,
                    },
                ))
            ))  # fmt: skip
        if "network_tags" in changes:
            self._instance_call(spec.name, "setTags", name, zone, lambda rid: (
                self.instances.set_tags_unary(compute_v1.SetTagsInstanceRequest(
                    project=self.project, zone=zone, instance=name, request_id=rid,
                    tags_resource={
                        "items": self._tags(spec), "fingerprint": vm.tags.fingerprint,
                    },
                ))
            ))  # fmt: skip
        if "instance_type" in changes:
            self._change_machine_type(spec, zone, name, vm.status)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        zone, name = _zone_and_name(ref.provider_id, self.context.zone)
        self.remove(
            ref.name,
            f"instance {name}",
            lambda rid: self.instances.delete_unary(
                compute_v1.DeleteInstanceRequest(
                    project=self.project, zone=zone, instance=name, request_id=rid
                )
            ),
        )

    def natural_id(self, provider_id: str) -> str:
        """`zone/name` from a self link or `zone/name`; a bare name is in the provider's zone."""
        zone, name = _zone_and_name(provider_id, self.context.zone)
        return f"{zone}/{name}"

    # -- parts ----------------------------------------------------------------------------

    @property
    def instances(self) -> compute_v1.InstancesClient:
        return self.compute(compute_v1.InstancesClient)

    def instance_name(self, spec: ResourceSpec) -> str:
        given = spec.config.get("instance")
        return gcplabels.valid_name(str(given)) if given else self.gce_name(spec)

    def zone(self, spec: ResourceSpec) -> str:
        return str(spec.config.get("zone") or self.context.zone)

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "instance" in fields:
            fields["instance"] = self.instance_name(spec)
        if "external_ip" in fields:
            fields["external_ip"] = bool(fields["external_ip"])
        return fields

    def same(self, key: str, desired: Any, actual: Any) -> bool:
        if key == "image" and "/family/" in str(desired):
            # The boot disk names the image the family resolved to (debian-12-bookworm-v...).
            family = last_segment(str(desired))
            return last_segment(str(actual)) == family or str(
                last_segment(str(actual))
            ).startswith(f"{family}-")
        return canonical(desired) == canonical(actual)

    def _ref(self, spec: ResourceSpec, zone: str, name: str) -> ResourceRef:
        return ResourceRef(name=spec.name, type=spec.type, provider_id=f"{zone}/{name}")

    def _get(self, zone: str, name: str) -> compute_v1.Instance:
        return self.instances.get(project=self.project, zone=zone, instance=name)

    def _disk(self, zone: str, source: str) -> compute_v1.Disk:
        disks = self.compute(compute_v1.DisksClient)
        return disks.get(project=self.project, zone=zone, disk=last_segment(source))

    def _tags(self, spec: ResourceSpec) -> list[str]:
        return [str(tag) for tag in spec.config.get("network_tags") or []]

    def _body(self, spec: ResourceSpec, name: str, zone: str) -> dict[str, Any]:
        config = spec.config
        machine_type = str(config.get("instance_type") or DEFAULT_MACHINE_TYPE)
        interface: dict[str, Any] = {}
        if config.get("network"):
            interface["network"] = _link(self.project, "global/networks", str(config["network"]))
        if config.get("subnetwork"):
            region = zone.rsplit("-", 1)[0]
            interface["subnetwork"] = _link(
                self.project, f"regions/{region}/subnetworks", str(config["subnetwork"])
            )
        if not interface:
            interface["network"] = f"projects/{self.project}/global/networks/default"
        if config.get("external_ip", True):
            interface["access_configs"] = [{"name": "External NAT", "type_": "ONE_TO_ONE_NAT"}]
        body: dict[str, Any] = {
            "name": name,
            "description": self.description(spec.name),
            "machine_type": f"zones/{zone}/machineTypes/{last_segment(machine_type)}",
            "labels": self.labels_for(spec),
            "tags": {"items": self._tags(spec)},
            "disks": [
                {
                    "boot": True,
                    "auto_delete": True,
                    "initialize_params": {
                        "source_image": str(config.get("image") or DEFAULT_IMAGE),
                        "disk_size_gb": int(config.get("disk_gb") or DEFAULT_DISK_GB),
                    },
                }
            ],
            "network_interfaces": [interface],
        }
        if config.get("startup_script"):
            body["metadata"] = {
                "items": [{"key": "startup-script", "value": str(config["startup_script"])}]
            }
        return body

    def _instance_call(self, name: str, verb: str, instance: str, zone: str, send: Any) -> None:
        self.mutate(name, send, f"{zone}/{instance}", verb)

    def _change_machine_type(self, spec: ResourceSpec, zone: str, name: str, status: str) -> None:
        machine_type = last_segment(str(spec.config.get("instance_type")))
        request = {"project": self.project, "zone": zone, "instance": name}
        if status != "TERMINATED":
            self._instance_call(spec.name, "stop", name, zone, lambda rid: (
                self.instances.stop_unary(compute_v1.StopInstanceRequest(**request, request_id=rid))
            ))  # fmt: skip
        self._instance_call(spec.name, "setMachineType", name, zone, lambda rid: (
            self.instances.set_machine_type_unary(compute_v1.SetMachineTypeInstanceRequest(
                **request, request_id=rid,
                instances_set_machine_type_request_resource={
                    "machine_type": f"zones/{zone}/machineTypes/{machine_type}"
                },
            ))
        ))  # fmt: skip
        self._instance_call(spec.name, "start", name, zone, lambda rid: (
            self.instances.start_unary(compute_v1.StartInstanceRequest(**request, request_id=rid))
        ))  # fmt: skip


def _boot(vm: compute_v1.Instance) -> compute_v1.AttachedDisk | None:
    return next((d for d in vm.disks if d.boot), None)


def _zone_and_name(provider_id: str, default_zone: str) -> tuple[str, str]:
    parts = provider_id.rstrip("/").split("/")
    if "zones" in parts and "instances" in parts:
        return parts[parts.index("zones") + 1], parts[-1]
    if len(parts) == 2:
        return parts[0], parts[1]
    return default_zone, parts[-1]


def _link(project: str, collection: str, value: str) -> str:
    if "/" in value:
        return value
    return f"projects/{project}/{collection}/{value}"
