"""The AWS provider: boto3 drivers for twelve resource types, sizing and import."""

from __future__ import annotations

from typing import Any

from providers.aws import sizing
from providers.aws.base import AwsContext, AwsDriver
from providers.aws.drivers import DRIVERS
from providers.aws.session import AwsSession
from providers.driver_registry import DriverRegistryProvider


class AwsProvider(DriverRegistryProvider[AwsContext, AwsDriver]):
    """`initialize` takes the stack's provider block plus `"stack": <stack name>`.

    Recognised keys: region, profile, endpoint_url, tags (added to every resource),
    poll_interval and wait_timeout (seconds, for resources becoming ready or gone),
    dependency_timeout (seconds a delete retries a DependencyViolation),
    max_attempts, connect_timeout, read_timeout (the SDK's own retry and timeouts).

    `import_resource` reads a live resource by its natural id (vpc-..., sg-..., db identifier,
    replication group id, bucket name, hosted zone id) or ARN.
    """

    name = "aws"
    version = "0.1.0"
    DRIVERS = DRIVERS
    resolve_sizing = staticmethod(sizing.resolve_sizing)

    def initialize(self, config: dict[str, Any]) -> None:
        stack = self.stack_of(config)
        tags = self.tags_of(config)
        self.use_context(
            AwsContext(
                session=AwsSession.from_config(config),
                stack=stack,
                tags=tags,
                poll_interval=float(config.get("poll_interval", 5.0)),
                wait_timeout=float(config.get("wait_timeout", 1800.0)),
                dependency_timeout=float(config.get("dependency_timeout", 300.0)),
            )
        )

    def close_context(self, context: AwsContext) -> None:
        context.session.close()
