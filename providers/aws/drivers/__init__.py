"""The AWS resource drivers, by resource type. A new driver is one module and one entry here."""

from __future__ import annotations

from providers.aws.base import AwsDriver

DRIVERS: dict[str, type[AwsDriver]] = {}
