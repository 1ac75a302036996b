"""The AWS resource drivers, by resource type. A new driver is one module and one entry here."""

from __future__ import annotations

from providers.aws.base import AwsDriver
from providers.aws.drivers.api_gateway import ApiGatewayDriver
from providers.aws.drivers.cache import CacheDriver
from providers.aws.drivers.cdn import CdnDriver
from providers.aws.drivers.certificate import CertificateDriver
from providers.aws.drivers.container_service import ContainerServiceDriver
from providers.aws.drivers.database import DatabaseDriver
from providers.aws.drivers.dns import DnsDriver
from providers.aws.drivers.firewall import FirewallDriver
from providers.aws.drivers.iam_role import IamRoleDriver
from providers.aws.drivers.load_balancer import LoadBalancerDriver
from providers.aws.drivers.registry import RegistryDriver
from providers.aws.drivers.secret import SecretDriver
from providers.aws.drivers.storage import StorageDriver
from providers.aws.drivers.vpc import VpcDriver

DRIVERS: dict[str, type[AwsDriver]] = {
    driver.resource_type: driver
    for driver in (
        VpcDriver,
        FirewallDriver,
        StorageDriver,
        DnsDriver,
        DatabaseDriver,
        CacheDriver,
        ContainerServiceDriver,
        LoadBalancerDriver,
        RegistryDriver,
        IamRoleDriver,
        CertificateDriver,
        ApiGatewayDriver,
        CdnDriver,
        SecretDriver,
    )
}
