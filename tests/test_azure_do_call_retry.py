"""Per-call retries on Azure and DigitalOcean (both azure-core pipelines): a throttled call
waits for the server's Retry-After / ratelimit-reset and goes again inside the activity; final
errors are not retried. Real SDK clients over real HTTP to the fakes in tests/fakes/.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import pytest

from interfaces import ResourceSpec
from interfaces.errors import ProviderError
from providers.azure import AzureProvider
from providers.digitalocean import DigitalOceanProvider
from providers.retry_after import MAX_CALL_WAIT
from tests.fakes.azure import ArmFake, provider_config, serving
from tests.fakes.digitalocean import DigitalOceanFake

TOKEN_ENV = "WFCTL_TEST_DO_RETRY_TOKEN"


@pytest.fixture(scope="module")
def arm() -> Iterator[ArmFake]:
    yield from serving(polls=1)


@pytest.fixture
def azure(arm: ArmFake) -> Iterator[Callable[..., AzureProvider]]:
    made: list[AzureProvider] = []

    def make(**extra: Any) -> AzureProvider:
        provider = AzureProvider()
        config = provider_config(arm, **extra)
        config.pop("retry_total")  # the default a user gets
        provider.initialize({**config, **extra, "stack": f"az-{uuid.uuid4().hex[:8]}"})
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture(scope="module")
def do_fake() -> Iterator[DigitalOceanFake]:
    server = DigitalOceanFake(token="retry-token").start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TOKEN_ENV, "retry-token")
        yield server
    server.stop()


@pytest.fixture
def digitalocean(do_fake: DigitalOceanFake) -> Iterator[Callable[..., DigitalOceanProvider]]:
    made: list[DigitalOceanProvider] = []

    def make(**extra: Any) -> DigitalOceanProvider:
        provider = DigitalOceanProvider()
        config = do_fake.provider_config(TOKEN_ENV)
        config.pop("max_retries")  # the default a user gets
        provider.initialize({**config, **extra, "stack": f"do-{uuid.uuid4().hex[:8]}"})
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def registry(name: str) -> ResourceSpec:
    return ResourceSpec(name=name, type="infra.registry")


# -- Azure -------------------------------------------------------------------------------


def test_a_throttled_arm_call_waits_out_retry_after_and_goes_again(
    azure: Callable[..., AzureProvider], arm: ArmFake
) -> None:
    provider = azure()
    group = provider.context.resource_group
    throttle = arm.fail(429, "TooManyRequests", method="PUT", contains=f"{group}/providers/",
                        times=2, retry_after=2)  # fmt: skip
    created = provider.resource_driver("infra.registry").create(registry("images"))
    assert created.provider_id and arm.get(created.provider_id) is not None
    puts = arm.requests("PUT", f"{group}/providers/")
    assert len(throttle.hits) == 2 and len(puts) == 3
    # Each retry waited at least the server's 2 s (a lower bound on our own sleep).
    assert all(later.at - earlier.at >= 2.0 for earlier, later in pairwise(puts))


@pytest.mark.parametrize(("status", "code"), [(503, "ServiceUnavailable"), (500, "InternalError")])
def test_transient_arm_errors_retry_per_call(
    azure: Callable[..., AzureProvider], arm: ArmFake, status: int, code: str
) -> None:
    provider = azure()
    group = provider.context.resource_group
    failing = arm.fail(status, code, method="PUT", contains=f"{group}/providers/", times=2)
    provider.resource_driver("infra.registry").create(registry("images"))
    assert len(failing.hits) == 2


@pytest.mark.parametrize(("status", "code"), [(409, "Conflict"), (409, "QuotaExceeded"),
                                              (403, "AuthorizationFailed"),
                                              (400, "InvalidTemplate")])  # fmt: skip
def test_final_arm_errors_are_not_retried_even_with_a_retry_after(
    azure: Callable[..., AzureProvider], arm: ArmFake, status: int, code: str
) -> None:
    provider = azure()
    group = provider.context.resource_group
    failing = arm.fail(status, code, method="PUT", contains=f"{group}/providers/", times=3,
                       retry_after=1)  # fmt: skip
    with pytest.raises(ProviderError) as caught:
        provider.resource_driver("infra.registry").create(registry("images"))
    assert caught.value.code == code and not caught.value.retryable
    assert len(failing.hits) == 1
    arm.injections.remove(failing)


def test_an_arm_retry_after_longer_than_a_call_waits_goes_to_the_activity_retry(
    azure: Callable[..., AzureProvider], arm: ArmFake
) -> None:
    provider = azure()
    group = provider.context.resource_group
    wait = MAX_CALL_WAIT + 60
    failing = arm.fail(429, "TooManyRequests", method="PUT", contains=f"{group}/providers/",
                       retry_after=wait)  # fmt: skip
    with pytest.raises(ProviderError) as caught:
        provider.resource_driver("infra.registry").create(registry("images"))
    assert caught.value.retryable and caught.value.retry_after == wait
    assert len(failing.hits) == 1


def test_arm_retry_total_0_turns_per_call_retries_off(
    azure: Callable[..., AzureProvider], arm: ArmFake
) -> None:
    provider = azure(retry_total=0)
    group = provider.context.resource_group
    failing = arm.fail(429, "TooManyRequests", method="PUT", contains=f"{group}/providers/")
    with pytest.raises(ProviderError) as caught:
        provider.resource_driver("infra.registry").create(registry("images"))
    assert caught.value.retryable and len(failing.hits) == 1


# -- DigitalOcean ------------------------------------------------------------------------


def test_a_rate_limited_do_create_waits_for_the_reset_and_goes_again(
    digitalocean: Callable[..., DigitalOceanProvider], do_fake: DigitalOceanFake
) -> None:
    provider = digitalocean()
    # A POST: azure-core alone never retries a throttled POST, nor reads ratelimit-reset.
    do_fake.inject_rate_limit("POST", r"/v2/vpcs", reset_in=2)
    before = len(do_fake.calls("POST", r"/v2/vpcs"))
    created = provider.resource_driver("infra.vpc").create(
        ResourceSpec(name="net", type="infra.vpc")
    )
    assert created.provider_id
    posts = do_fake.calls("POST", r"/v2/vpcs")[before:]
    assert [p.status for p in posts] == [429, 201]
    # ratelimit-reset is a whole Unix second at least 2 s after the 429 was sent.
    assert posts[1].at - posts[0].at >= 1.5


@pytest.mark.parametrize("status", [500, 503])
def test_transient_do_errors_retry_per_call(
    digitalocean: Callable[..., DigitalOceanProvider], do_fake: DigitalOceanFake, status: int
) -> None:
    provider = digitalocean()
    do_fake.inject("GET", r"/v2/vpcs", status, times=2)
    before = len(do_fake.calls("GET", r"/v2/vpcs"))
    provider.resource_driver("infra.vpc").create(ResourceSpec(name="net", type="infra.vpc"))
    gets = do_fake.calls("GET", r"/v2/vpcs")[before:]
    assert [g.status for g in gets[:3]] == [status, status, 200]


@pytest.mark.parametrize("status", [422, 403, 401, 409])
def test_final_do_errors_are_not_retried(
    digitalocean: Callable[..., DigitalOceanProvider], do_fake: DigitalOceanFake, status: int
) -> None:
    provider = digitalocean()
    do_fake.inject("POST", r"/v2/vpcs", status, headers={"retry-after": "1"}, times=1)
    before = len(do_fake.calls("POST", r"/v2/vpcs"))
    with pytest.raises(ProviderError) as caught:
        provider.resource_driver("infra.vpc").create(ResourceSpec(name="net", type="infra.vpc"))
    assert not caught.value.retryable
    assert len(do_fake.calls("POST", r"/v2/vpcs")) - before == 1


def test_do_max_retries_0_turns_per_call_retries_off(
    digitalocean: Callable[..., DigitalOceanProvider], do_fake: DigitalOceanFake
) -> None:
    provider = digitalocean(max_retries=0)
    do_fake.inject_rate_limit("POST", r"/v2/vpcs", reset_in=1)
    with pytest.raises(ProviderError) as caught:
        provider.resource_driver("infra.vpc").create(ResourceSpec(name="net", type="infra.vpc"))
    assert caught.value.retryable and caught.value.code == "too_many_requests"
