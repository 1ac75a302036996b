"""The Azure resource drivers, by resource type. A new driver is one module and one entry here."""

from __future__ import annotations

from providers.azure.base import ArmDriver
from providers.azure.drivers.cache import CacheDriver
from providers.azure.drivers.container_service import ContainerServiceDriver
from providers.azure.drivers.database import DatabaseDriver
from providers.azure.drivers.dns import DnsDriver
from providers.azure.drivers.firewall import FirewallDriver
from providers.azure.drivers.iam_role import IamRoleDriver
from providers.azure.drivers.load_balancer import LoadBalancerDriver
from providers.azure.drivers.registry import RegistryDriver
from providers.azure.drivers.secret import SecretDriver
from providers.azure.drivers.storage import StorageDriver
from providers.azure.drivers.vpc import VpcDriver

DRIVERS: dict[str, type[ArmDriver]] = {
    driver.resource_type: driver
    for driver in (
        VpcDriver,
        FirewallDriver,
        DatabaseDriver,
        CacheDriver,
        ContainerServiceDriver,
        LoadBalancerDriver,
        DnsDriver,
        RegistryDriver,
        StorageDriver,
        IamRoleDriver,
        SecretDriver,
    )
}
