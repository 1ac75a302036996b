"""Per-call retries on GCP, under both client families (GAPIC REST: compute, Memorystore;
discovery: Cloud SQL): a throttled call waits out Retry-After and goes again inside the
activity; quota, validation and auth errors are not retried. Real SDKs over real HTTP to
tests/fakes/gcp.py.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from interfaces import ResourceSpec
from interfaces.errors import ProviderError
from providers.gcp import GcpProvider
from providers.retry_after import MAX_CALL_WAIT
from tests.fakes.gcp import GcpFake

PROJECT = "retry-project"
NETWORKS = r"/global/networks$"


@pytest.fixture(scope="module")
def fake() -> Iterator[GcpFake]:
    with GcpFake(pending_polls=1) as server:
        yield server


@pytest.fixture
def gcp(fake: GcpFake) -> Iterator[Callable[..., GcpProvider]]:
    made: list[GcpProvider] = []

    def make(**extra: Any) -> GcpProvider:
        provider = GcpProvider()
        provider.initialize({
            "project": PROJECT, "region": "us-central1", "endpoint": fake.url,
            "anonymous_credentials": True, "poll_interval": 0.01, "wait_timeout": 10,
            "stack": f"s{uuid.uuid4().hex[:6]}", **extra,
        })  # fmt: skip
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def spec(type_: str, **config: Any) -> ResourceSpec:
    return ResourceSpec(name=f"r{uuid.uuid4().hex[:6]}", type=type_, config=config)


@pytest.mark.parametrize(("status", "reason"), [(429, "rateLimitExceeded"),
                                                (403, "userRateLimitExceeded"),
                                                (500, "backendError"), (503, "")])  # fmt: skip
def test_a_throttled_compute_insert_retries_itself(
    gcp: Callable[..., GcpProvider], fake: GcpFake, status: int, reason: str
) -> None:
    provider = gcp()
    before = len(fake.calls("POST", NETWORKS))
    fake.fail_next("POST", NETWORKS, status, reason, times=2)
    made = provider.resource_driver("infra.vpc").create(spec("infra.vpc"))
    assert made.provider_id
    assert len(fake.calls("POST", NETWORKS)) - before == 3


def test_retry_after_is_waited_out_before_a_compute_call_goes_again(
    gcp: Callable[..., GcpProvider], fake: GcpFake
) -> None:
    provider = gcp()
    fake.fail_next("POST", NETWORKS, 429, "rateLimitExceeded", retry_after=2)
    started = time.monotonic()
    provider.resource_driver("infra.vpc").create(spec("infra.vpc"))
    # Without Retry-After the first retry waits at most 0.5 s (a lower bound on our sleep).
    assert time.monotonic() - started >= 2.0


@pytest.mark.parametrize(("status", "reason"), [(429, "quotaExceeded"), (403, "quotaExceeded"),
                                                (400, "invalid"), (403, "forbidden")])  # fmt: skip
def test_final_compute_errors_are_not_retried_per_call(
    gcp: Callable[..., GcpProvider], fake: GcpFake, status: int, reason: str
) -> None:
    provider = gcp()
    before = len(fake.calls("POST", NETWORKS))
    fake.fail_next("POST", NETWORKS, status, reason, retry_after=1)  # a retry would succeed
    with pytest.raises(ProviderError) as caught:
        provider.resource_driver("infra.vpc").create(spec("infra.vpc"))
    assert not caught.value.retryable and caught.value.code == reason
    assert len(fake.calls("POST", NETWORKS)) - before == 1


def test_a_retry_after_longer_than_a_call_waits_goes_to_the_activity_retry(
    gcp: Callable[..., GcpProvider], fake: GcpFake
) -> None:
    provider = gcp()
    wait = MAX_CALL_WAIT + 60
    before = len(fake.calls("POST", NETWORKS))
    fake.fail_next("POST", NETWORKS, 429, "rateLimitExceeded", retry_after=wait)
    with pytest.raises(ProviderError) as caught:
        provider.resource_driver("infra.vpc").create(spec("infra.vpc"))
    assert caught.value.retryable and caught.value.retry_after == wait
    assert len(fake.calls("POST", NETWORKS)) - before == 1


def test_max_attempts_1_turns_per_call_retries_off(
    gcp: Callable[..., GcpProvider], fake: GcpFake
) -> None:
    provider = gcp(max_attempts=1)
    fake.fail_next("POST", NETWORKS, 429, "rateLimitExceeded")
    with pytest.raises(ProviderError) as caught:
        provider.resource_driver("infra.vpc").create(spec("infra.vpc"))
    assert caught.value.retryable


def test_throttled_cloud_sql_and_memorystore_calls_retry_themselves(
    gcp: Callable[..., GcpProvider], fake: GcpFake
) -> None:
    provider = gcp()
    sql_path = rf"/v1/projects/{PROJECT}/instances$"
    redis_path = rf"/v1/projects/{PROJECT}/locations/us-central1/instances$"
    sql_before = len(fake.calls("POST", sql_path))
    redis_before = len(fake.calls("POST", redis_path))
    fake.fail_next("POST", sql_path, 429, "rateLimitExceeded", times=2)  # discovery (httplib2)
    fake.fail_next("POST", redis_path, 503, "", times=2)  # GAPIC REST (requests)
    assert provider.resource_driver("infra.database").create(spec("infra.database")).provider_id
    network = provider.resource_driver("infra.vpc").create(spec("infra.vpc")).outputs["network"]
    cache = provider.resource_driver("infra.cache").create(spec("infra.cache", network=network))
    assert cache.provider_id
    assert len(fake.calls("POST", sql_path)) - sql_before == 3
    assert len(fake.calls("POST", redis_path)) - redis_before == 3
