"""The AWS provider's frame: error classification, sizing, session, capabilities, waiting."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

from interfaces import ResourceHints, Size
from interfaces.errors import (
    ConfigError,
    NotFoundError,
    ProviderError,
    UnsupportedOperationError,
)
from providers.aws import AwsProvider
from providers.aws.errors import aws_errors, classify
from providers.aws.session import AwsSession
from providers.aws.sizing import resolve_sizing
from providers.quantities import storage_gb
from providers.waiting import wait_until

if TYPE_CHECKING:
    from tests.aws_fixtures import ThrottlingProxy

pytest_plugins = ["tests.aws_fixtures"]

ALL_TYPES = {
    "infra.vpc",
    "infra.firewall",
    "infra.database",
    "infra.cache",
    "infra.container_service",
    "infra.load_balancer",
    "infra.dns",
    "infra.registry",
    "infra.storage",
    "infra.iam_role",
    "infra.certificate",
    "infra.api_gateway",
    "infra.cdn",
    "infra.secret",
}


def client_error(
    code: str, status: int = 400, headers: dict[str, str] | None = None
) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
        },
        "SomeOperation",
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("Throttling", 400),
        ("ThrottlingException", 400),
        ("RequestLimitExceeded", 503),
        ("TooManyRequestsException", 429),
        ("SlowDown", 503),
        ("InternalError", 500),
        ("SomethingNew", 502),
        ("Whatever", 429),
    ],
)
def test_throttling_and_server_errors_are_retryable(code: str, status: int) -> None:
    error = classify(client_error(code, status), "aws infra.vpc 'net'")
    assert error.retryable and error.code == code
    assert type(error) is ProviderError


@pytest.mark.parametrize(
    "code",
    [
        "ValidationError",
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "AccessDenied",
        "UnauthorizedOperation",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "VpcLimitExceeded",
        "InstanceQuotaExceeded",
        "DependencyViolation",
    ],
)
def test_final_errors_carry_the_aws_code_and_the_resource(code: str) -> None:
    error = classify(client_error(code), "aws infra.vpc 'net'")
    assert not error.retryable and error.code == code
    assert type(error) is ProviderError
    assert code in str(error) and "infra.vpc 'net'" in str(error)


@pytest.mark.parametrize(
    "code",
    [
        "InvalidVpcID.NotFound",
        "InvalidGroup.NotFound",
        "DBInstanceNotFound",
        "ReplicationGroupNotFoundFault",
        "NoSuchBucket",
        "NoSuchHostedZone",
        "ResourceNotFoundException",
    ],
)
def test_not_found_codes_are_not_found_errors(code: str) -> None:
    error = classify(client_error(code, 404), "aws x 'y'")
    assert isinstance(error, NotFoundError) and error.code == code and not error.retryable


def test_retry_after_header_is_honoured() -> None:
    error = classify(client_error("Throttling", 429, {"Retry-After": "7"}), "r")
    assert error.retry_after == 7.0
    dated = classify(
        client_error("SlowDown", 503, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}), "r"
    )
    assert dated.retry_after == 0.0


def test_timeouts_and_connection_failures_are_retryable() -> None:
    timeout = classify(ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), "r")
    refused = classify(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "r")
    assert timeout.retryable and timeout.code == "Timeout"
    assert refused.retryable and refused.code == "ConnectionError"


def test_aws_errors_context_manager_and_decorator() -> None:
    with pytest.raises(ProviderError) as caught, aws_errors("aws infra.dns 'zone'"):
        raise client_error("AccessDenied", 403)
    assert caught.value.code == "AccessDenied" and "infra.dns 'zone'" in str(caught.value)

    @aws_errors("aws infra.storage 'b'")
    def failing() -> None:
        raise client_error("NoSuchBucket", 404)

    with pytest.raises(NotFoundError):
        failing()


def test_throttling_through_the_proxy_is_classified_retryable(
    aws_provider: Callable[..., AwsProvider], throttling_proxy: Callable[..., ThrottlingProxy]
) -> None:
    proxy = throttling_proxy(times=1, action="DescribeVpcs", retry_after="2")
    ec2 = aws_provider(endpoint_url=proxy.url).context.session.client("ec2")
    with pytest.raises(ProviderError) as caught, aws_errors("aws infra.vpc 'net'"):
        ec2.describe_vpcs()
    assert caught.value.retryable and caught.value.code == "Throttling"
    assert caught.value.retry_after == 2.0
    assert ec2.describe_vpcs()["Vpcs"] is not None  # the next call goes through
    assert len(proxy.throttled) == 1


@pytest.mark.parametrize(("status", "code"), [(503, "SlowDown"), (429, "TooManyRequests")])
def test_proxy_errors_in_other_protocols_are_retryable(
    aws_provider: Callable[..., AwsProvider],
    throttling_proxy: Callable[..., ThrottlingProxy],
    status: int,
    code: str,
) -> None:
    proxy = throttling_proxy(times=3, status=status, code=code)
    session = aws_provider(endpoint_url=proxy.url).context.session
    calls: list[Callable[[], Any]] = [
        session.client("s3").list_buckets,  # rest-xml
        session.client("secretsmanager").list_secrets,  # json
        session.client("rds").describe_db_instances,  # query
    ]
    for call in calls:
        with pytest.raises(ProviderError) as caught, aws_errors("r"):
            call()
        assert caught.value.retryable


def test_sdk_retries_follow_max_attempts(
    aws_provider: Callable[..., AwsProvider], throttling_proxy: Callable[..., ThrottlingProxy]
) -> None:
    proxy = throttling_proxy(times=1, action="DescribeVpcs")
    ec2 = aws_provider(endpoint_url=proxy.url, max_attempts=2).context.session.client("ec2")
    ec2.describe_vpcs()  # the second of two tries absorbs one throttle
    assert len(proxy.throttled) == 1 and len(proxy.forwarded) == 1


def test_connection_refused_is_retryable(aws_provider: Callable[..., AwsProvider]) -> None:
    ec2 = aws_provider(endpoint_url="http://127.0.0.1:9", connect_timeout=0.5)
    with pytest.raises(ProviderError) as caught, aws_errors("r"):
        ec2.context.session.client("ec2").describe_vpcs()
    assert caught.value.retryable


@pytest.mark.parametrize(
    ("size", "compute", "database", "cache", "storage"),
    [
        (Size.XS, "t3.micro", "db.t3.micro", "cache.t3.micro", 10),
        (Size.S, "t3.small", "db.t3.small", "cache.t3.small", 50),
        (Size.M, "m5.large", "db.r6g.large", "cache.m5.large", 100),
        (Size.L, "m5.2xlarge", "db.r6g.2xlarge", "cache.r6g.2xlarge", 500),
        (Size.XL, "m5.4xlarge", "db.r6g.4xlarge", "cache.r6g.4xlarge", 1024),
    ],
)
def test_sizing_table(size: Size, compute: str, database: str, cache: str, storage: int) -> None:
    assert resolve_sizing("infra.container_service", size, None).instance_type == compute
    db = resolve_sizing("infra.database", size, None)
    assert db.instance_type == database and db.specs["storage_gb"] == storage
    assert resolve_sizing("infra.cache", size, None).instance_type == cache


def test_hints_override_the_tier() -> None:
    sizing = resolve_sizing(
        "infra.database", Size.M, ResourceHints(cpu="3", memory="5Gi", storage="200Gi")
    )
    assert sizing.instance_type == "db.r6g.large"
    assert sizing.specs == {"cpu": "3", "memory": "5Gi", "storage_gb": 200}
    assert resolve_sizing("infra.cache", Size.S, None).specs["memory"] == "1Gi"


@pytest.mark.parametrize(("text", "gb"), [("10Gi", 10), ("1Ti", 1024), ("50", 50), ("512Mi", 1)])
def test_storage_quantities(text: str, gb: int) -> None:
    assert storage_gb(text) == gb


def test_bad_sizes_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        storage_gb("lots")
    with pytest.raises(ConfigError):
        resolve_sizing("infra.database", "huge", None)  # type: ignore[arg-type]


def test_credentials_in_provider_config_are_refused(aws_env: None) -> None:
    with pytest.raises(ConfigError, match="credentials never go in provider config"):
        AwsProvider().initialize(
            {"stack": "s", "region": "us-east-1", "aws_secret_access_key": "x"}
        )


def test_session_takes_region_profile_and_endpoint_from_config(aws_env: None) -> None:
    session = AwsSession.from_config(
        {"region": "eu-west-1", "endpoint_url": "http://127.0.0.1:1", "max_attempts": 3}
    )
    client = session.client("s3")
    assert session.region == "eu-west-1" and client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:1"
    assert client is session.client("s3")  # cached per service
    # Credentials come from the SDK's chain: here, the environment the fixtures set.
    credentials = client._request_signer._credentials  # noqa: SLF001 - read-only look
    assert credentials.access_key == "testing" and credentials.method == "env"
    with pytest.raises(ConfigError, match="no-such-profile"):
        AwsSession.from_config({"region": "us-east-1", "profile": "no-such-profile"})


def test_provider_needs_a_stack_name(aws_env: None) -> None:
    with pytest.raises(ConfigError, match="stack"):
        AwsProvider().initialize({"region": "us-east-1"})


def test_capabilities_and_drivers(aws_provider: Callable[..., AwsProvider]) -> None:
    provider = aws_provider()
    capabilities = {c.resource_type: c for c in provider.capabilities()}
    assert set(capabilities) == ALL_TYPES
    for resource_type, capability in capabilities.items():
        assert {"create", "read", "update", "delete", "diff", "health_check"} <= set(
            capability.operations
        )
        assert provider.resource_driver(resource_type).resource_type == resource_type
    assert "scale" in capabilities["infra.database"].operations
    assert "scale" not in capabilities["infra.vpc"].operations
    with pytest.raises(UnsupportedOperationError, match="infra.quantum"):
        provider.resource_driver("infra.quantum")


def test_wait_until_returns_the_first_result_and_times_out_retryably() -> None:
    polls: list[float] = []

    def ready_on_third() -> str | None:
        polls.append(time.monotonic())
        return "ready" if len(polls) == 3 else None

    assert wait_until(ready_on_third, timeout=5, interval=0.01, describe="x") == "ready"
    with pytest.raises(ProviderError) as caught:
        wait_until(lambda: None, timeout=0.05, interval=0.01, describe="db 'orders' available")
    assert caught.value.retryable and "db 'orders' available" in str(caught.value)


@activity.defn
def slow_wait_activity(polls_needed: int) -> int:
    polls = 0

    def check() -> int | None:
        nonlocal polls
        polls += 1
        return polls if polls >= polls_needed else None

    return wait_until(check, timeout=10, interval=0.1, describe="something slow")


# Not sandboxed: this module imports botocore, and the workflow itself does no I/O.
@workflow.defn(sandboxed=False)
class SlowWaitWorkflow:
    @workflow.run
    async def run(self, polls_needed: int) -> int:
        return await workflow.execute_activity(
            slow_wait_activity,
            polls_needed,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


async def test_wait_until_heartbeats_inside_an_activity(client: Client) -> None:
    # 1.5 s of polling under a 1 s heartbeat timeout only completes if the wait heartbeats.
    queue = f"aws-frame-{uuid.uuid4()}"
    with ThreadPoolExecutor(2) as pool:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[SlowWaitWorkflow],
            activities=[slow_wait_activity],
            activity_executor=pool,
        ):
            result = await client.execute_workflow(
                SlowWaitWorkflow.run, 15, id=f"aws-frame-{uuid.uuid4()}", task_queue=queue
            )
    assert result == 15
