"""The GCP resource drivers, by resource type. A new driver is one module and one entry here."""

from __future__ import annotations

from providers.gcp.base import GcpDriver
from providers.gcp.drivers.cache import CacheDriver
from providers.gcp.drivers.certificate import CertificateDriver
from providers.gcp.drivers.database import DatabaseDriver
from providers.gcp.drivers.firewall import FirewallDriver
from providers.gcp.drivers.instance import InstanceDriver
from providers.gcp.drivers.load_balancer import LoadBalancerDriver
from providers.gcp.drivers.network import NetworkDriver
from providers.gcp.drivers.secret import SecretDriver

DRIVERS: dict[str, type[GcpDriver]] = {
    driver.resource_type: driver
    for driver in (
        NetworkDriver,
        FirewallDriver,
        InstanceDriver,
        LoadBalancerDriver,
        CertificateDriver,
        DatabaseDriver,
        CacheDriver,
        SecretDriver,
    )
}
