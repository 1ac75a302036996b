"""The AWS provider on boto3."""

from providers.aws.provider import AwsProvider

__all__ = ["AwsProvider"]
