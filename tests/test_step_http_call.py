"""step.http_call against the example echo server on loopback: real HTTP, no mocks."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from pydantic import ValidationError

from activities.steps import IO_STEP_TYPES
from activities.steps.http_call import HTTP_CALL, retry_after_seconds
from engine.redaction import redact_text, redact_url
from engine.step_registry import StepCall, StepError
from engine.templates import TemplateEngine
from examples.echo_server import EchoServer, start_in_thread
from interfaces import PipelineContext, StepResult
from tests.pipeline_harness import loopback_egress


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[str, EchoServer]]:
    url, server = start_in_thread()
    yield url, server
    server.stop()


@pytest.fixture(autouse=True)
def loopback_allowed() -> Iterator[None]:
    """The echo server is on loopback, which a worker reaches only when configured to."""
    with loopback_egress():
        yield


@pytest.fixture
def base(echo: tuple[str, EchoServer]) -> str:
    return echo[0]


async def call_http(config: dict[str, Any], **current: Any) -> StepResult:
    """Run the step as the activity does: load-time check, render, validate, execute."""
    HTTP_CALL.config_model.model_validate(config)
    ctx = PipelineContext.new(current)
    engine = TemplateEngine()
    rendered = engine.render(config, ctx)
    call = StepCall(
        pipeline="p", step_name="call", context=ctx, render=lambda v: engine.render(v, ctx)
    )
    return await HTTP_CALL.execute(HTTP_CALL.config_model.model_validate(rendered), call)


def test_http_call_is_the_io_step() -> None:
    assert IO_STEP_TYPES == (HTTP_CALL,)
    assert HTTP_CALL.io and HTTP_CALL.name == "step.http_call"


async def test_get_with_query_and_headers(base: str) -> None:
    result = await call_http(
        {
            "url": base + "/echo",
            "query": {"id": "{{ order_id }}", "tags": ["a", "b"], "live": True},
            "headers": {"X-Request-Id": "{{ order_id }}-req", "X-Count": "{{ 3 }}"},
        },
        order_id="o-1",
    )
    assert result.output["status_code"] == 200
    assert result.output["headers"]["content-type"] == "application/json"
    body = result.output["body"]
    assert (body["method"], body["path"]) == ("GET", "/echo")
    assert body["query"] == {"id": "o-1", "tags": ["a", "b"], "live": "true"}
    assert body["headers"]["x-request-id"] == "o-1-req"
    assert body["headers"]["x-count"] == "3"
    assert result.next_step == "" and not result.stop


async def test_post_json_keeps_native_types(base: str) -> None:
    result = await call_http(
        {"method": "post", "url": base + "/echo", "json": {"amount": "{{ amount }}", "n": [1]}},
        amount=12.5,
    )
    body = result.output["body"]
    assert body["method"] == "POST"
    assert body["json"] == {"amount": 12.5, "n": [1]}
    assert body["headers"]["content-type"] == "application/json"


async def test_raw_body_and_text_response(base: str) -> None:
    sent = await call_http(
        {
            "method": "PUT",
            "url": base + "/echo",
            "body": "plain {{ word }}",
            "headers": {"Content-Type": "text/plain"},
        },
        word="text",
    )
    assert sent.output["body"]["body"] == "plain text"
    text = await call_http({"url": base + "/text?body=hello-there"})
    assert text.output["body"] == "hello-there"
    assert text.output["headers"]["content-type"] == "text/plain"


async def test_fake_order_lookup(base: str) -> None:
    result = await call_http({"url": base + "/orders/{{ id }}"}, id="A-1")
    order = result.output["body"]
    assert order["id"] == "A-1" and order["status"] in ("pending", "paid", "shipped")
    assert isinstance(order["amount"], float)


async def test_404_is_not_retryable(base: str) -> None:
    with pytest.raises(StepError) as caught:
        await call_http({"method": "DELETE", "url": base + "/status/404"})
    error = caught.value
    assert (error.retryable, error.error_type) == (False, "HttpError")
    assert f"DELETE {base}/status/404 answered 404" in str(error)
    assert '{"status": 404}' in str(error)


async def test_503_is_retryable_with_retry_after(echo: tuple[str, EchoServer]) -> None:
    base, server = echo
    url = base + "/flaky/svc-a?fail=1&code=503&retry_after=7"
    with pytest.raises(StepError) as caught:
        await call_http({"url": url})
    assert (caught.value.retryable, caught.value.retry_after) == (True, 7.0)
    assert "answered 503" in str(caught.value)
    recovered = await call_http({"url": url})
    assert recovered.output["body"] == {"ok": True, "attempts": 2}
    assert server.request_counts["/flaky/svc-a"] == 2


async def test_429_is_retryable_even_without_error_on_status(base: str) -> None:
    with pytest.raises(StepError) as caught:
        await call_http({"url": base + "/status/429", "error_on_status": False})
    assert caught.value.retryable and caught.value.retry_after is None


async def test_error_on_status_false_returns_4xx_as_output(base: str) -> None:
    config = {"url": base + "/status/404", "error_on_status": "{{ strict }}"}
    result = await call_http(config, strict=False)
    assert result.output["status_code"] == 404
    assert result.output["body"] == {"status": 404}


async def test_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:  # a port nobody listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StepError) as caught:
        await call_http({"url": f"http://127.0.0.1:{port}/x", "timeout": "2s"})
    assert (caught.value.retryable, caught.value.error_type) == (True, "HttpConnectionError")


async def test_timeout_is_retryable(base: str) -> None:
    # A listening socket that never answers: the read times out.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(StepError) as caught:
            await call_http({"url": url, "timeout": "200ms"})
    assert (caught.value.retryable, caught.value.error_type) == (True, "HttpTimeout")


async def test_missing_scheme_is_not_retryable() -> None:
    with pytest.raises(StepError) as caught:
        await call_http({"url": "127.0.0.1/x"})
    assert (caught.value.retryable, caught.value.error_type) == (False, "InvalidUrl")


async def test_secrets_stay_out_of_error_messages(base: str) -> None:
    with pytest.raises(StepError) as caught:
        await call_http(
            {
                "url": base + "/status/403?api_key=k-12345&page=2",
                "headers": {"Authorization": "Bearer s3cr3t-value"},
            }
        )
    message = str(caught.value)
    assert "k-12345" not in message and "s3cr3t-value" not in message
    assert "api_key=***" in message and "page=***" in message


async def test_a_failed_connection_names_no_userinfo_or_query_value() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StepError) as caught:
        await call_http({
            "url": f"http://user:pw-98765@127.0.0.1:{port}/x?code=c-98765",
            "query": {"q": "q-98765"},
        })
    message = str(caught.value)
    assert "98765" not in message
    assert f"GET http://***@127.0.0.1:{port}/x?code=***: ConnectError" in message


def test_config_is_checked_at_load_time() -> None:
    model = HTTP_CALL.config_model
    problems = {
        "url": {},
        "unknown HTTP method": {"url": "http://x", "method": "FETCH"},
        "invalid duration": {"url": "http://x", "timeout": "soon"},
        "not both": {"url": "http://x", "json": {}, "body": "b"},
        "Extra inputs": {"url": "http://x", "header": {}},
        "template": {"url": "http://x", "headers": "Authorization: x"},
    }
    for expected, config in problems.items():
        with pytest.raises(ValidationError, match=expected):
            model.model_validate(config)
    templated = {"url": "{{ u }}", "method": "{{ m }}", "timeout": "{{ t }}", "headers": "{{ h }}"}
    model.model_validate(templated)
    assert model.model_validate({"url": "http://x", "timeout": "1m"}).timeout == 60.0
    assert model.model_validate({"url": "http://x"}).timeout == 30.0


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < (retry_after_seconds(later) or 0) <= 120
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_redact_url() -> None:
    assert redact_url("https://u:pw@h/p?token=t&q=1&bare#k=v") == (
        "https://***@h/p?token=***&q=***&***#k=***"
    )
    assert redact_url("http://h/p") == "http://h/p"
    assert redact_text('GET http://u:pw@h/a?t=1 "200" and /hook?sig=abc host=db password=pw') \
        == 'GET http://***@h/a?t=*** "200" and /hook?sig=*** host=db password=***'
