"""AWS test fixtures: one moto server per test run, initialized providers, a throttling proxy.

Use with `pytest_plugins = ["tests.aws_fixtures"]` (or `from tests.aws_fixtures import *`).
Everything talks real HTTP on loopback; no SDK is patched.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from random import Random
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from providers.aws import AwsProvider
from providers.aws.sandbox import start_sandbox

__all__ = [
    "AwsRequest",
    "ThrottlingProxy",
    "aws_env",
    "aws_provider",
    "moto_endpoint",
    "throttling_proxy",
]

FAST_POLL = {"poll_interval": 0.05, "wait_timeout": 20.0}


@pytest.fixture(scope="session")
def aws_env() -> Iterator[None]:
    """Dummy credentials in the environment (moto accepts any), nothing from ~/.aws."""
    wanted = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def moto_endpoint(aws_env: None) -> Iterator[str]:
    url, stop = start_sandbox()
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def aws_provider(moto_endpoint: str) -> Iterator[Callable[..., AwsProvider]]:
    """Factory: `aws_provider(**overrides)` -> an initialized AwsProvider on moto.

    Each call gets a unique stack name (override with stack=...), tiny poll intervals and
    no SDK-level retries, so retries seen in tests are Temporal's.
    """
    made: list[AwsProvider] = []

    def make(**overrides: Any) -> AwsProvider:
        config: dict[str, Any] = {
            "type": "aws",
            "region": "us-east-1",
            "endpoint_url": moto_endpoint,
            "stack": f"test-{uuid.uuid4().hex[:8]}",
            "max_attempts": 1,
            **FAST_POLL,
        }
        config.update(overrides)
        provider = AwsProvider()
        provider.initialize(config)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@dataclass(frozen=True)
class AwsRequest:
    """What the proxy saw of one API call."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def action(self) -> str:
        """The API operation: Query `Action=`, JSON `X-Amz-Target`, else METHOD path."""
        target = self.headers.get("x-amz-target", "")
        if target:
            return target.rsplit(".", 1)[-1]
        form = parse_qs(self.body.decode("utf-8", "replace")) if self.body else {}
        query = parse_qs(urlsplit(self.path).query)
        action = (form.get("Action") or query.get("Action") or [""])[0]
        return action or f"{self.method} {urlsplit(self.path).path}"


def mutations(requests: list[AwsRequest]) -> Counter[str]:
    """The mutating calls that reached moto, by operation: Query/JSON actions other than
    reads, and REST (S3, Route53) PUT/POST/DELETEs with ids and names in the path as `*`."""
    found: Counter[str] = Counter()
    for request in requests:
        method, _, path = request.action.partition(" ")
        if path and method in ("PUT", "POST", "DELETE", "PATCH"):
            words = [w if re.fullmatch("[a-z]+", w) else "*" for w in path.split("/") if w]
            found[f"{method} /{'/'.join(words)}"] += 1
        elif not path and not request.action.startswith(("Describe", "List", "Get")):
            found[request.action] += 1
    return found


@dataclass
class ThrottlingProxy:
    """A proxy in front of moto answering matching calls with an error: the first `times`
    of them, or (with `rate`) each one with that probability, drawn from a seeded generator
    so that a storm is the same storm on every run."""

    url: str
    times: int
    match: Callable[[AwsRequest], bool]
    status: int = 400
    code: str = "Throttling"
    retry_after: str | None = None
    rate: float | None = None
    seed: int = 0
    throttled: list[AwsRequest] = field(default_factory=list)
    forwarded: list[AwsRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    random: Random = field(init=False)

    def __post_init__(self) -> None:
        self.random = Random(self.seed)

    def should_throttle(self, request: AwsRequest) -> bool:
        with self.lock:
            if self.match(request) and self._draw():
                self.throttled.append(request)
                return True
            self.forwarded.append(request)
            return False

    def _draw(self) -> bool:
        if self.rate is not None:
            return self.random.random() < self.rate
        return len(self.throttled) < self.times

    def error_body(self, request: AwsRequest) -> tuple[str, bytes]:
        message = "Rate exceeded"
        if "x-amz-target" in request.headers or "json" in request.headers.get(
            "content-type", ""
        ):
            return "application/x-amz-json-1.1", json.dumps(
                {"__type": self.code, "message": message}
            ).encode()
        if b"Version=2016-11-15" in request.body:  # EC2's own error shape
            xml = (
                f"<Response><Errors><Error><Code>{self.code}</Code><Message>{message}"
                "</Message></Error></Errors><RequestID>proxy</RequestID></Response>"
            )
        elif b"Action=" in request.body or request.path.startswith("/2013-04-01"):
            xml = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{self.code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>proxy</RequestId>"
                "</ErrorResponse>"
            )
        else:  # S3
            xml = f"<Error><Code>{self.code}</Code><Message>{message}</Message></Error>"
        return "text/xml", xml.encode()


class ProxyServer(ThreadingHTTPServer):
    """The proxy's listener: a listen backlog for a refresh's 16 reader threads connecting
    at once (the standard library's 5 overflowed under load, and the kernel reset
    connections a test then counted as calls retried)."""

    request_queue_size = 128
    daemon_threads = True


def _handler(proxy: ThrottlingProxy, upstream: tuple[str, int]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = AwsRequest(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
            if proxy.should_throttle(request):
                content_type, payload = proxy.error_body(request)
                self.send_response(proxy.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                if proxy.retry_after is not None:
                    self.send_header("Retry-After", proxy.retry_after)
                self.end_headers()
                self.wfile.write(payload)
                return
            conn = http.client.HTTPConnection(*upstream, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            finally:
                conn.close()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

    return Handler


@pytest.fixture
def throttling_proxy(moto_endpoint: str) -> Iterator[Callable[..., ThrottlingProxy]]:
    """Factory: `throttling_proxy(times=2, action="CreateVpc", status=400, code="Throttling",
    retry_after=None)` -> a started proxy; point a provider's endpoint_url at `proxy.url`.

    `action` matches AwsRequest.action; pass `match=` for any other predicate. `rate=0.3,
    seed=7` throttles each matching call with probability 0.3 instead of the first `times`;
    `proxy.rate` can be changed (or set to 0) while the proxy runs.
    """
    servers: list[ProxyServer] = []
    parts = urlsplit(moto_endpoint)
    upstream = (parts.hostname or "127.0.0.1", parts.port or 80)

    def make(
        times: int = 1,
        action: str | None = None,
        *,
        match: Callable[[AwsRequest], bool] | None = None,
        status: int = 400,
        code: str = "Throttling",
        retry_after: str | None = None,
        rate: float | None = None,
        seed: int = 0,
    ) -> ThrottlingProxy:
        predicate = match or (lambda r: action is None or r.action == action)
        proxy = ThrottlingProxy(
            url="", times=times, match=predicate, status=status, code=code,
            retry_after=retry_after, rate=rate, seed=seed,
        )  # fmt: skip
        server = ProxyServer(("127.0.0.1", 0), _handler(proxy, upstream))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
        return proxy

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()
