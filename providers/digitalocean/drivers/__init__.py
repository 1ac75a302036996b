"""Resource type -> DigitalOcean driver class."""

from __future__ import annotations

from providers.digitalocean.base import DoDriver
from providers.digitalocean.drivers.cache import CacheDriver
from providers.digitalocean.drivers.cdn import CdnDriver
from providers.digitalocean.drivers.certificate import CertificateDriver
from providers.digitalocean.drivers.container_service import ContainerServiceDriver
from providers.digitalocean.drivers.database import DatabaseDriver
from providers.digitalocean.drivers.dns import DnsDriver
from providers.digitalocean.drivers.droplet import DropletDriver
from providers.digitalocean.drivers.firewall import FirewallDriver
from providers.digitalocean.drivers.load_balancer import LoadBalancerDriver
from providers.digitalocean.drivers.registry import RegistryDriver
from providers.digitalocean.drivers.volume import VolumeDriver
from providers.digitalocean.drivers.vpc import VpcDriver

DRIVERS: dict[str, type[DoDriver]] = {
    driver.resource_type: driver
    for driver in (
        VpcDriver,
        FirewallDriver,
        DropletDriver,
        VolumeDriver,
        DatabaseDriver,
        CacheDriver,
        LoadBalancerDriver,
        DnsDriver,
        RegistryDriver,
        ContainerServiceDriver,
        CertificateDriver,
        CdnDriver,
    )
}
