"""Per-call retries on AWS: a throttled call waits and goes again inside the activity.

Real boto3 over real HTTP to moto, behind the throttling proxy of tests/aws_fixtures.py;
nothing in the SDK is patched.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.testing import ActivityEnvironment

from interfaces.errors import NotFoundError, ProviderError
from providers.aws import AwsProvider
from providers.aws.errors import aws_errors
from providers.aws.session import AwsSession
from providers.retry_after import MAX_CALL_WAIT
from tests.aws_fixtures import ThrottlingProxy, mutations
from tests.iac_wf_support import iac_worker, start, state_block

pytest_plugins = ["tests.aws_fixtures"]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "aws-stack.yaml"


def test_a_throttled_call_retries_itself_by_default(
    aws_env: None, throttling_proxy: Callable[..., ThrottlingProxy]
) -> None:
    proxy = throttling_proxy(times=4, action="DescribeVpcs")
    session = AwsSession.from_config({"region": "us-east-1", "endpoint_url": proxy.url})
    session.client("ec2").describe_vpcs()
    assert len(proxy.throttled) == 4 and [r.action for r in proxy.forwarded] == ["DescribeVpcs"]


@pytest.mark.parametrize(("status", "code"), [(503, "ServiceUnavailable"), (500, "InternalError"),
                                              (429, "TooManyRequestsException")])  # fmt: skip
def test_transient_errors_retry_per_call(
    aws_provider: Callable[..., AwsProvider],
    throttling_proxy: Callable[..., ThrottlingProxy],
    status: int,
    code: str,
) -> None:
    proxy = throttling_proxy(times=2, status=status, code=code)
    session = aws_provider(endpoint_url=proxy.url, max_attempts=5).context.session
    session.client("s3").list_buckets()  # rest-xml
    session.client("secretsmanager").list_secrets()  # json
    assert len(proxy.throttled) == 2 and len(proxy.forwarded) == 2


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "InvalidParameterValue", ProviderError),  # validation
        (403, "UnauthorizedOperation", ProviderError),  # auth
        (400, "VpcLimitExceeded", ProviderError),  # quota
        (400, "InvalidVpcID.NotFound", NotFoundError),
    ],
)
def test_final_errors_are_not_retried_per_call(
    aws_provider: Callable[..., AwsProvider],
    throttling_proxy: Callable[..., ThrottlingProxy],
    status: int,
    code: str,
    kind: type[ProviderError],
) -> None:
    proxy = throttling_proxy(times=5, action="CreateVpc", status=status, code=code)
    ec2 = aws_provider(endpoint_url=proxy.url, max_attempts=10).context.session.client("ec2")
    with pytest.raises(kind) as caught, aws_errors("aws infra.vpc net"):
        ec2.create_vpc(CidrBlock="10.9.0.0/16")
    assert caught.value.code == code and not caught.value.retryable
    assert len(proxy.throttled) == 1 and not proxy.forwarded


def test_max_attempts_1_turns_per_call_retries_off(
    aws_provider: Callable[..., AwsProvider], throttling_proxy: Callable[..., ThrottlingProxy]
) -> None:
    proxy = throttling_proxy(times=1, action="DescribeVpcs")
    ec2 = aws_provider(endpoint_url=proxy.url, max_attempts=1).context.session.client("ec2")
    with pytest.raises(ProviderError) as caught, aws_errors("r"):
        ec2.describe_vpcs()
    assert caught.value.retryable and len(proxy.throttled) == 1 and not proxy.forwarded


def test_a_call_gives_up_after_max_attempts_with_a_retryable_error(
    aws_provider: Callable[..., AwsProvider], throttling_proxy: Callable[..., ThrottlingProxy]
) -> None:
    proxy = throttling_proxy(times=100, action="DescribeVpcs", retry_after="0")
    ec2 = aws_provider(endpoint_url=proxy.url, max_attempts=3).context.session.client("ec2")
    with pytest.raises(ProviderError) as caught, aws_errors("r"):
        ec2.describe_vpcs()
    assert caught.value.retryable and caught.value.code == "Throttling"
    assert len(proxy.throttled) == 3 and not proxy.forwarded


def _in_seconds(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_waited_out_before_the_call_goes_again(
    aws_provider: Callable[..., AwsProvider],
    throttling_proxy: Callable[..., ThrottlingProxy],
    form: str,
) -> None:
    # Without Retry-After the first retry waits at most 0.5 s: a wait of 2 s or more is the
    # server's. (A lower bound on our own sleep, so it cannot flake on a slow machine.)
    header = "3" if form == "seconds" else _in_seconds(4)
    proxy = throttling_proxy(times=1, action="DescribeVpcs", retry_after=header)
    ec2 = aws_provider(endpoint_url=proxy.url, max_attempts=3).context.session.client("ec2")
    started = time.monotonic()
    ec2.describe_vpcs()
    assert time.monotonic() - started >= 2.0
    assert len(proxy.throttled) == 1 and len(proxy.forwarded) == 1


def test_a_retry_after_longer_than_a_call_waits_goes_to_the_activity_retry(
    aws_provider: Callable[..., AwsProvider], throttling_proxy: Callable[..., ThrottlingProxy]
) -> None:
    wait = int(MAX_CALL_WAIT) + 60
    proxy = throttling_proxy(times=1, action="DescribeVpcs", retry_after=str(wait))
    ec2 = aws_provider(endpoint_url=proxy.url, max_attempts=10).context.session.client("ec2")
    with pytest.raises(ProviderError) as caught, aws_errors("r"):
        ec2.describe_vpcs()
    # Temporal schedules the next attempt after the server's delay (next_retry_delay).
    assert caught.value.retryable and caught.value.retry_after == wait
    assert len(proxy.throttled) == 1 and not proxy.forwarded


# -- a whole apply through a storm ----------------------------------------------------------


def example_stack(endpoint: str, tmp_path: Path) -> dict[str, Any]:
    """examples/aws-stack.yaml, on this test's endpoint, state and names, with per-call
    retries at their default (no max_attempts)."""
    document = yaml.safe_load(EXAMPLE.read_text())
    stack = f"storm-{uuid.uuid4().hex[:6]}"
    document["stack"] = stack
    document["state"] = state_block("sqlite", tmp_path)
    document["providers"]["aws"].update(endpoint_url=endpoint, poll_interval=0.05)
    for resource in document["resources"]:
        if resource["type"] == "infra.storage":
            resource["config"]["bucket"] = f"{stack}-assets"
        if resource["type"] == "infra.dns":
            resource["config"]["zone"] = f"{stack}.example.com"
    return document




async def apply_attempts(handle: WorkflowHandle[Any, Any]) -> dict[str, int]:
    """The attempt each resource action's activity finished on, from the history."""
    names: dict[int, str] = {}
    attempts: dict[str, int] = {}
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == "apply_action":
                names[event.event_id] = str(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if started.scheduled_event_id in names:
                attempts[names[started.scheduled_event_id]] = started.attempt
    return attempts


# One call in seven throttled is twenty-odd throttled calls over the example's six creates;
# the soak run throttles one in three (some forty-five, with backoffs of seconds).
@pytest.mark.parametrize(
    "rate",
    # Both in `make soak`, not `make test`: the suite's 15-minute budget on 2 cores.
    [pytest.param(0.15, marks=pytest.mark.soak), pytest.param(0.3, marks=pytest.mark.soak)],
    ids=["storm", "heavy-storm"],
)
async def test_an_apply_through_a_throttling_storm_runs_each_action_once(
    client: Client,
    tmp_path: Path,
    moto_endpoint: str,
    throttling_proxy: Callable[..., ThrottlingProxy],
    rate: float,
) -> None:
    calm = throttling_proxy(rate=0.0)
    # Every call but HEADs, whose answers have no body to carry the code (S3, which is the
    # one API using them, throttles with 503 SlowDown, which the transient test covers).
    storm = throttling_proxy(rate=rate, seed=12, match=lambda r: r.method != "HEAD")
    async with iac_worker(client) as queue:
        outcomes = []
        for proxy, folder in ((calm, "calm"), (storm, "storm")):
            (tmp_path / folder).mkdir()
            document = example_stack(proxy.url, tmp_path / folder)
            handle = await start(client, "ApplyWorkflow", queue,
                                 {**document, "auto_approve": True})  # fmt: skip
            outcome = await handle.result()
            assert outcome.status == "applied", outcome.errors
            outcomes.append((outcome, await apply_attempts(handle)))
    assert len(storm.throttled) > 10, "the storm throttled too little to show anything"
    (calm_outcome, calm_attempts), (storm_outcome, storm_attempts) = outcomes
    assert len(storm_attempts) == len(calm_attempts) == 6
    # No create restarted: every action's activity finished on its first attempt...
    assert set(storm_attempts.values()) == {1}
    # ...and every mutating call reached the cloud as often as in the calm run: once each.
    assert mutations(storm.forwarded) == mutations(calm.forwarded)
    assert mutations(calm.forwarded)["CreateVpc"] == 1
    assert storm_outcome.counts == calm_outcome.counts


async def test_a_cancelled_activity_stops_waiting_between_attempts(
    aws_provider: Callable[..., AwsProvider], throttling_proxy: Callable[..., ThrottlingProxy]
) -> None:
    proxy = throttling_proxy(times=1, action="DescribeVpcs", retry_after="30")
    ec2 = aws_provider(endpoint_url=proxy.url, max_attempts=3).context.session.client("ec2")
    env = ActivityEnvironment()
    heartbeats: list[Any] = []
    env.on_heartbeat = lambda *details: heartbeats.append(details)

    def describe() -> Any:
        return ec2.describe_vpcs()

    waiting = asyncio.create_task(asyncio.to_thread(env.run, describe))
    while not (heartbeats or waiting.done()):  # until the wait between attempts began
        await asyncio.sleep(0.05)
    env.cancel()
    with pytest.raises(CancelledError):
        await waiting
    assert len(proxy.throttled) == 1 and not proxy.forwarded  # never sent again
    assert "DescribeVpcs" in str(heartbeats[0])
