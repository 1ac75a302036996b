"""infra.container_service: a DigitalOcean App Platform app running one container service.

Every create or update starts a deployment; the driver waits until it is the app's active
deployment.
"""

from __future__ import annotations

from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec, ResourceStatus
from interfaces.errors import ProviderError
from providers.digitalocean.base import DoDriver
from providers.driver_base import BASE_OPERATIONS

DOCR = "registry.digitalocean.com/"
DEFAULT_SIZE = "apps-s-1vcpu-0.5gb"
FAILED_PHASES = frozenset({"ERROR", "CANCELED"})
SERVICE = "web"


class ContainerServiceDriver(DoDriver):
    """Config: image (required: registry.digitalocean.com/<registry>/<repo>:<tag> for the
    account's registry, else a Docker Hub <namespace>/<repo>:<tag>), http_port (8080),
    instance_type (instance size slug from sizing, else apps-s-1vcpu-0.5gb), instance_count
    (1), envs ({NAME: value}), region (an App Platform region such as nyc, ams, fra),
    name (default <stack>-<name>, at most 32 characters).

    scale(replicas) sets instance_count.
    """

    resource_type = "infra.container_service"
    FORCE_NEW = frozenset({"region"})
    UPDATABLE = frozenset({"image", "http_port", "instance_type", "instance_count", "envs"})
    OUTPUTS = frozenset({
        "active_deployment_id", "app_id", "envs", "http_port", "image", "instance_count",
        "instance_type", "name", "region", "url"
    })
    OPERATIONS = (*BASE_OPERATIONS, "scale")

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        if not spec.config.get("image"):
            raise self.invalid(spec.name, "config needs `image`")
        name = self.do_name(spec, 32)
        apps = self.list_all(spec.name, self.do.apps.list, "apps")
        found = next((a for a in apps if (a.get("spec") or {}).get("name") == name), None)
        if found is None:
            found = self.call(spec.name, self.do.apps.create, {"spec": self._app_spec(spec)})[
                "app"
            ]
        self.made(found["id"])
        self._wait_deployed(spec.name, found["id"])
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=found["id"]))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        app = self._get(ref.name, ref.provider_id)
        app_spec = app.get("spec") or {}
        service = next(iter(app_spec.get("services") or []), {})
        outputs = {
            "app_id": app["id"],
            "name": app_spec.get("name", ""),
            "region": app_spec.get("region") or (app.get("region") or {}).get("slug", ""),
            "url": app.get("live_url") or app.get("default_ingress") or "",
            "image": _image_text(service.get("image") or {}),
            "http_port": service.get("http_port"),
            "instance_type": service.get("instance_size_slug", ""),
            "instance_count": service.get("instance_count"),
            "envs": {e["key"]: e.get("value", "") for e in service.get("envs") or []},
            "active_deployment_id": (app.get("active_deployment") or {}).get("id", ""),
        }
        return self.output(ref.name, app["id"], outputs, _status(app))

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        if self.updatable_changes(ref, spec):
            body = {"spec": self._app_spec(spec)}
            self.call(spec.name, self.do.apps.update, ref.provider_id, body)
            self._wait_deployed(spec.name, ref.provider_id)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing():
            self.call(ref.name, self.do.apps.delete, ref.provider_id)

    def scale(self, ref: ResourceRef, replicas: int) -> ResourceOutput:
        if replicas < 1:
            raise self.invalid(ref.name, f"an app runs at least 1 instance, not {replicas}")
        app = self._get(ref.name, ref.provider_id)
        app_spec = dict(app.get("spec") or {})
        app_spec["services"] = [
            {**service, "instance_count": replicas} for service in app_spec.get("services") or []
        ]
        self.call(ref.name, self.do.apps.update, ref.provider_id, {"spec": app_spec})
        self._wait_deployed(ref.name, ref.provider_id)
        return self.read(ref)

    # -- parts ----------------------------------------------------------------------------

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        defaults = {"http_port": 8080, "instance_count": 1, "instance_type": DEFAULT_SIZE}
        for key, value in defaults.items():
            fields.setdefault(key, value)
        if "envs" in fields:
            fields["envs"] = {str(k): str(v) for k, v in (fields["envs"] or {}).items()}
        return fields

    def same(self, key: str, desired: Any, actual: Any) -> bool:
        if key == "image":
            return _image_spec(str(desired)) == _image_spec(str(actual))
        return super().same(key, desired, actual)

    def _app_spec(self, spec: ResourceSpec) -> dict[str, Any]:
        config = spec.config
        service: dict[str, Any] = {
            "name": SERVICE,
            "image": _image_spec(str(config["image"])),
            "http_port": int(config.get("http_port") or 8080),
            "instance_size_slug": str(config.get("instance_type") or DEFAULT_SIZE),
            "instance_count": int(config.get("instance_count") or 1),
            "envs": [
                {"key": str(k), "value": str(v), "scope": "RUN_TIME"}
                for k, v in sorted((config.get("envs") or {}).items())
            ],
        }
        return {"name": self.do_name(spec, 32), "region": self.region(spec), "services": [service]}

    def _get(self, name: str, app_id: str) -> dict[str, Any]:
        return self.call(name, self.do.apps.get, app_id)["app"]

    def _wait_deployed(self, name: str, app_id: str) -> None:
        def deployed() -> bool | None:
            app = self._get(name, app_id)
            latest = app.get("in_progress_deployment") or app.get("pending_deployment")
            phase = (latest or {}).get("phase", "")
            if phase in FAILED_PHASES:
                raise ProviderError(
                    f"{self.describe(name)}: deployment {latest.get('id')} is {phase}",
                    code="DeploymentFailed",
                )
            status = _status(app)
            if status == ResourceStatus.FAILED:
                raise ProviderError(
                    f"{self.describe(name)}: app {app_id} has no active deployment",
                    code="DeploymentFailed",
                )
            return True if status == ResourceStatus.READY else None

        self.wait(deployed, f"app {app_id} of {name} to be deployed")

    def region(self, spec: ResourceSpec) -> str:
        # App Platform regions are data-center families: nyc3 -> nyc.
        return super().region(spec).rstrip("0123456789")


def _status(app: dict[str, Any]) -> ResourceStatus:
    if app.get("in_progress_deployment") or app.get("pending_deployment"):
        return ResourceStatus.UPDATING if app.get("active_deployment") else ResourceStatus.CREATING
    active = app.get("active_deployment") or {}
    return ResourceStatus.READY if active.get("phase") == "ACTIVE" else ResourceStatus.FAILED


def _image_spec(image: str) -> dict[str, Any]:
    reference, tag = image, "latest"
    if ":" in image.rsplit("/", 1)[-1]:
        reference, _, tag = image.rpartition(":")
    if reference.startswith(DOCR):
        repository = reference[len(DOCR) :].split("/", 1)[-1]
        return {"registry_type": "DOCR", "repository": repository, "tag": tag}
    namespace, _, repository = reference.rpartition("/")
    return {
        "registry_type": "DOCKER_HUB",
        "registry": namespace or "library",
        "repository": repository,
        "tag": tag,
    }


def _image_text(image: dict[str, Any]) -> str:
    """The image as the stack writes it (the DOCR registry name is not in the app spec, so
    DOCR images read back as registry.digitalocean.com/<repo>:<tag> and compare by suffix)."""
    tag = image.get("tag") or "latest"
    if image.get("registry_type") == "DOCR":
        return f"{DOCR}{image.get('repository', '')}:{tag}"
    return f"{image.get('registry') or 'library'}/{image.get('repository', '')}:{tag}"
