"""What every AWS resource driver shares: clients, tags, waiting and errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from interfaces import ResourceSpec
from interfaces.errors import NotFoundError, ProviderError
from providers.aws import tags as awstags
from providers.aws.errors import aws_errors
from providers.aws.session import AwsSession
from providers.driver_base import DriverBase
from providers.waiting import wait_until

T = TypeVar("T")


@dataclass(frozen=True)
class AwsContext:
    """Everything a driver needs from the provider: one per initialized provider."""

    session: AwsSession
    stack: str
    tags: Mapping[str, str] = field(default_factory=dict)
    poll_interval: float = 5.0
    wait_timeout: float = 1800.0
    # How long a delete keeps trying while AWS still reports a dependency (ENIs of a just
    # deleted database release slowly) before the DependencyViolation is final.
    dependency_timeout: float = 300.0


class AwsDriver(DriverBase[AwsContext]):
    """Base of the AWS drivers: boto3 clients, tags, waits and botocore error classification.

    Subclasses implement create, read, update and delete (see DriverBase for the fields).
    """

    CLOUD = "aws"

    # -- plumbing -------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        return self.context.session.client(service)

    def errors(self, name: str) -> AbstractContextManager[None]:
        """Classify botocore failures of calls made for resource `name`."""
        return aws_errors(self.describe(name))

    def tags_for(self, spec: ResourceSpec) -> dict[str, str]:
        return awstags.resource_tags(
            self.stack, spec.name, self.context.tags, spec.config.get("tags")
        )

    def subnet_ids(self, spec: ResourceSpec) -> list[str]:
        """The subnets a database or cache goes in: `subnet_ids`, else every subnet of
        `vpc_id`, else none (the account's default VPC)."""
        subnet_ids = list(spec.config.get("subnet_ids") or [])
        if subnet_ids or not spec.config.get("vpc_id"):
            return subnet_ids
        subnets = self.client("ec2").describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [spec.config["vpc_id"]]}]
        )["Subnets"]
        if not subnets:
            raise self.invalid(spec.name, f"VPC {spec.config['vpc_id']} has no subnets")
        return [s["SubnetId"] for s in subnets]

    def wait(
        self, check: Callable[[], T | None], what: str, *, timeout: float | None = None
    ) -> T:
        return wait_until(
            check,
            timeout=self.context.wait_timeout if timeout is None else timeout,
            interval=self.context.poll_interval,
            describe=what,
        )

    def retry_while(
        self, codes: Iterable[str], action: Callable[[], Any], name: str, what: str
    ) -> None:
        """Run `action` (AWS calls for resource `name`), repeating it while it fails with one
        of `codes`, for at most dependency_timeout; then that error is raised as it is."""
        codes = frozenset(codes)
        last: ProviderError | None = None

        def attempt() -> bool | None:
            nonlocal last
            try:
                with self.errors(name):
                    action()
            except ProviderError as error:
                if error.code not in codes:
                    raise
                last = error
                return None
            return True

        try:
            self.wait(attempt, what, timeout=self.context.dependency_timeout)
        except ProviderError as error:
            if error.code == "WaitTimeout" and last is not None:
                raise last from error
            raise

    def bulk_errors(self, count: int) -> AbstractContextManager[None]:
        """Classify botocore failures of a bulk read of `count` resources."""
        return aws_errors(f"{self.CLOUD} {self.resource_type} ({count} resources)")

    @contextmanager
    def ignoring_missing(self, name: str) -> Iterator[None]:
        """For deletes: a resource that is already gone is what we wanted."""
        try:
            with self.errors(name):
                yield
        except NotFoundError:
            pass

    def natural_id(self, provider_id: str) -> str:
        """The id `read` takes, from what a user pastes: the id itself or an ARN."""
        if provider_id.startswith("arn:"):
            resource = provider_id.split(":", 5)[-1]
            return resource.replace(":", "/").rsplit("/", 1)[-1]
        return provider_id

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "tags" in fields:
            fields["tags"] = awstags.user_tags(self.tags_for(spec))
        return fields


def identifier(text: str, max_length: int) -> str:
    """An RDS/ElastiCache style identifier: lowercase letters, digits and single hyphens,
    starting with a letter, not ending with a hyphen."""
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]+", "-", text.lower())).strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"w-{cleaned}"
    return cleaned[:max_length].rstrip("-")
