"""The Azure provider: ten resource types on azure-mgmt-resource's generic ARM operations."""

from __future__ import annotations

from typing import Any

from interfaces import ResourceRef
from providers.azure import sizing
from providers.azure.base import ArmDriver, AzureContext
from providers.azure.client import ArmClient, ArmSettings
from providers.azure.drivers import DRIVERS
from providers.driver_registry import DriverRegistryProvider


class AzureProvider(DriverRegistryProvider[AzureContext, ArmDriver]):
    """`initialize` takes the stack's provider block plus `"stack": <stack name>`.

    Recognised keys: subscription_id and location (required), resource_group (default
    wfctl-<stack>; created and tagged when missing, removed with the stack's last resource
    only if the stack created it), endpoint (ARM's URL, for a sovereign cloud or a fake),
    tags (added to every resource), poll_interval and wait_timeout (seconds, for
    long-running operations), retry_total (the SDK's own retries, default 0: Temporal
    retries, honouring Retry-After).

    Test-only keys, for a local ARM fake: credential (the name of a credential factory
    registered with providers.azure.credentials.register_credential_factory; production
    always uses azure-identity's DefaultAzureCredential) and allow_http_loopback (bearer
    tokens over plain http, to a loopback endpoint only).
    """

    name = "azure"
    version = "0.1.0"
    DRIVERS = DRIVERS
    resolve_sizing = staticmethod(sizing.resolve_sizing)

    def initialize(self, config: dict[str, Any]) -> None:
        stack = self.stack_of(config)
        tags = self.tags_of(config)
        self.use_context(
            AzureContext(
                arm=ArmClient(ArmSettings.from_config(config), stack),
                stack=stack,
                tags=tags,
            )
        )

    def import_ref(self, driver: ArmDriver, provider_id: str, resource_type: str) -> ResourceRef:
        """An import reads by the ARM id; its name is the id's last segment until the caller
        names it."""
        resource_id = driver.natural_id(provider_id)
        name = resource_id.rstrip("/").rsplit("/", 1)[-1]
        return ResourceRef(name=name, type=resource_type, provider_id=resource_id)

    def close_context(self, context: AzureContext) -> None:
        context.arm.close()
