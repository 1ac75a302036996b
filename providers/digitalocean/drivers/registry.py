"""infra.registry: the account's DigitalOcean Container Registry (one per account).

The registry has no id besides its name, so the name is the provider id.
"""

from __future__ import annotations

from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from interfaces.errors import NotFoundError, ProviderError
from providers.digitalocean.base import DoDriver

DEFAULT_TIER = "basic"


class RegistryDriver(DoDriver):
    """Config: name (default <stack>-<name>, globally unique), subscription_tier (starter |
    basic | professional; basic), region (a registry region such as nyc3, fra1, sfo3)."""

    resource_type = "infra.registry"
    FORCE_NEW = frozenset({"name", "region"})
    UPDATABLE = frozenset({"subscription_tier"})
    OUTPUTS = frozenset({"endpoint", "name", "region", "storage_usage_bytes", "subscription_tier"})

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        name = self.do_name(spec)
        existing = self._registry_or_none(spec.name)
        if existing is None:
            body = {
                "name": name,
                "subscription_tier_slug": str(
                    spec.config.get("subscription_tier") or DEFAULT_TIER
                ),
                "region": self.region(spec),
            }
            self.call(spec.name, self.do.registry.create, body)
        elif existing.get("name") != name:
            raise ProviderError(
                f"{self.describe(spec.name)}: this account already has registry "
                f"{existing.get('name')!r} and can have only one (import it instead)",
                code="RegistryExists",
            )
        self.made(name)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=name))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        registry = self._registry_or_none(ref.name)
        if registry is None or registry.get("name") != ref.provider_id:
            raise NotFoundError(f"{self.describe(ref.name)}: no registry {ref.provider_id!r}")
        subscription = self.call(ref.name, self.do.registry.get_subscription)["subscription"]
        outputs = {
            "name": registry["name"],
            "region": registry.get("region", ""),
            "endpoint": f"registry.digitalocean.com/{registry['name']}",
            "subscription_tier": (subscription.get("tier") or {}).get("slug", ""),
            "storage_usage_bytes": registry.get("storage_usage_bytes", 0),
        }
        return self.output(ref.name, registry["name"], outputs)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        changes = self.updatable_changes(ref, spec)
        if "subscription_tier" in changes:
            body = {"tier_slug": str(changes["subscription_tier"])}
            self.call(spec.name, self.do.registry.update_subscription, body)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        registry = self._registry_or_none(ref.name)
        if registry is not None and registry.get("name") == ref.provider_id:
            with self.ignoring_missing():
                self.call(ref.name, self.do.registry.delete)

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        fields["name"] = self.do_name(spec)
        return fields

    def _registry_or_none(self, name: str) -> dict[str, Any] | None:
        try:
            return self.call(name, self.do.registry.get)["registry"]
        except NotFoundError:
            return None
