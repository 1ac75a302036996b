"""step.http_call's egress allow-list and Idempotency-Key, on loopback servers and the real
dev server: a refused host is refused before any connection (had a packet been sent, the
network guard of tests/conftest.py would have made it a retryable connection error), and a
retried POST, even one retried by another worker after a crash, carries one key."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError

from activities.pipeline_catalog import PipelineCatalog
from activities.step_catalog import default_registry
from activities.steps.egress import (
    ENV,
    EgressPolicy,
    EgressRefused,
    configure_egress,
    guarded_transport,
)
from engine.step_registry import StepError
from examples.echo_server import EchoServer, start_in_thread
from tests.pipeline_harness import LOOPBACK, loopback_egress, running_pipelines
from tests.test_step_http_call import call_http
from wfctl.client import PipelineExecutor
from wfctl.dev import worker_environment
from worker import pipeline_worker

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[str, EchoServer]]:
    url, server = start_in_thread()
    yield url, server
    server.stop()


@pytest.fixture
def base(echo: tuple[str, EchoServer]) -> str:
    return echo[0]


@pytest.fixture(autouse=True)
def loopback_allowed() -> Iterator[None]:
    with loopback_egress():
        yield


@pytest.fixture
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker as it starts with no --http-allow and no WFCTL_HTTP_ALLOW."""
    monkeypatch.delenv(ENV, raising=False)
    configure_egress(None)


# ---- egress: refused before any connection is made ----


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/", "169.254.169.254"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "fd00:ec2::254"),
        ("http://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254 (169.254.169.254)"),
        ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe (169.254.169.254)"),
        ("http://[2002:a9fe:a9fe::1]/", "2002:a9fe:a9fe::1 (169.254.169.254)"),
        # A spelling the resolver reads as 169.254.169.254 without asking DNS.
        ("http://2852039166/", "2852039166 (169.254.169.254)"),
        ("http://169.254.10.1:8080/", "169.254.10.1"),
        ("http://[fe80::1]/", "fe80::1"),
        # Refused by name: not even a DNS query leaves the machine.
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal"),
    ],
)
@pytest.mark.parametrize("policy", ["", "loopback", "*,loopback,0.0.0.0/0,::/0"])
async def test_metadata_and_link_local_are_refused(url: str, host: str, policy: str) -> None:
    # Had a packet been sent, the network guard would have turned it into a retryable
    # connection error instead.
    configure_egress(EgressPolicy.parse(policy))
    with pytest.raises(StepError) as caught:
        await call_http({"method": "POST", "url": url, "json": {"steal": True}})
    assert (caught.value.retryable, caught.value.error_type) == (False, "EgressRefused")
    assert str(caught.value) == (
        f"POST {url}: egress to {host} refused: link-local/metadata address"
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "0.0.0.0"])
async def test_loopback_is_refused_unless_configured(unconfigured: None, host: str) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        url = f"http://{host}:{listener.getsockname()[1]}/admin"
        with pytest.raises(StepError) as caught:
            await call_http({"url": url})
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    assert (caught.value.retryable, caught.value.error_type) == (False, "EgressRefused")
    assert "refused: loopback address (allow it with `loopback` in" in str(caught.value)


async def test_configured_loopback_reaches_the_service(base: str, unconfigured: None) -> None:
    configure_egress(EgressPolicy.parse("*,loopback"))
    result = await call_http({"url": base + "/orders/A-1"})
    assert result.output["body"]["id"] == "A-1"


async def test_the_allow_list_comes_from_the_worker_environment(
    base: str, unconfigured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "10.0.0.0/8, loopback")
    assert (await call_http({"url": base + "/echo"})).output["status_code"] == 200
    monkeypatch.setenv(ENV, "10.0.0.0/8")
    with pytest.raises(StepError, match="egress to 127.0.0.1 refused: loopback"):
        await call_http({"url": base + "/echo"})
    monkeypatch.setenv(ENV, "10.0.0.0/33")
    with pytest.raises(StepError) as caught:
        await call_http({"url": base + "/echo"})
    assert caught.value.error_type == "ConfigError"
    assert "'10.0.0.0/33' is not `*`, `loopback`, an address" in str(caught.value)


class _Redirect(ThreadingHTTPServer):
    daemon_threads = True


class _RedirectHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def test_a_redirect_hop_is_checked_too() -> None:
    server = _Redirect(("127.0.0.1", 0), _RedirectHandler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    try:
        transport = guarded_transport(LOOPBACK)
        async with httpx.AsyncClient(transport=transport, follow_redirects=True) as http:
            with pytest.raises(EgressRefused, match="egress to 169.254.169.254 refused"):
                await http.get(f"http://127.0.0.1:{server.server_address[1]}/go")
    finally:
        server.shutdown()
        server.server_close()


def test_allow_list_entries() -> None:
    def allowed(policy: str, host: str, address: str) -> bool:
        try:
            EgressPolicy.parse(policy).check(host, [ipaddress.ip_address(address)])
        except EgressRefused:
            return False
        return True

    assert allowed("", "example.com", "93.184.216.34")
    assert not allowed("", "localhost", "127.0.0.1")
    assert allowed("loopback", "localhost", "::1")
    assert not allowed("loopback", "example.com", "93.184.216.34")  # a list is exclusive
    assert allowed("api.example.com", "api.example.com", "93.184.216.34")
    assert not allowed("api.example.com", "example.com", "93.184.216.34")
    assert allowed("*.example.com", "a.b.example.com", "93.184.216.34")
    assert allowed("10.0.0.0/8", "db.internal", "10.1.2.3")
    assert not allowed("10.0.0.0/8", "db.internal", "192.168.1.1")
    # A name's addresses are still checked: a DNS answer cannot open loopback or metadata.
    assert not allowed("api.example.com", "api.example.com", "169.254.169.254")
    assert not allowed("*", "rebind.example.com", "127.0.0.1")
    # Only an entry inside a refused range opens it; a metadata address only opens to itself.
    assert allowed("169.254.170.2", "ecs", "169.254.170.2")
    assert not allowed("169.254.0.0/16", "imds", "169.254.169.254")
    assert allowed("169.254.169.254", "imds", "169.254.169.254")
    assert not allowed("0.0.0.0/0", "x", "127.0.0.1")
    # One refused address among a name's answers refuses the name.
    answers = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("169.254.169.254")]
    with pytest.raises(EgressRefused, match=r"egress to two.example \(169.254.169.254\)"):
        EgressPolicy.parse("").check("two.example", answers)
    for bad in ("10.0.0.0/33", "1.2.3.999", "bad host", "http://x"):
        with pytest.raises(ValueError, match="is not `\\*`, `loopback`"):
            EgressPolicy.parse(bad)


# ---- Idempotency-Key ----


async def test_every_request_carries_an_idempotency_key(base: str) -> None:
    first = (await call_http({"method": "POST", "url": base + "/echo"})).output["body"]
    key = first["headers"]["idempotency-key"]
    assert len(key) == 64 and int(key, 16) >= 0
    again = (await call_http({"method": "POST", "url": base + "/echo"})).output["body"]
    assert again["headers"]["idempotency-key"] == key
    other = await call_http(
        {"method": "POST", "url": base + "/echo", "idempotency_key": "{{ order_id }}"},
        order_id="A-1",
    )
    assert other.output["body"]["headers"]["idempotency-key"] not in ("", key)
    own = await call_http(
        {"method": "POST", "url": base + "/echo", "headers": {"idempotency-key": "mine-1"}}
    )
    assert own.output["body"]["headers"]["idempotency-key"] == "mine-1"


class _Recorder(ThreadingHTTPServer):
    """Answers 503 to the first request for a path, 200 after; keeps every request's headers.
    With `hang_first`, the first request gets no answer until `release` is set."""

    daemon_threads = True

    def __init__(self, *, hang_first: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.hang_first = hang_first
        self.release = threading.Event()

    def start(self) -> str:
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


class _RecordingHandler(BaseHTTPRequestHandler):
    server: _Recorder

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            first = all(path != self.path for path, _ in self.server.seen)
            self.server.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        if first and self.server.hang_first:
            self.server.release.wait(60)
        body = json.dumps({"ok": not first}).encode()
        self.send_response(503 if first else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


RETRIED = """
pipelines:
  charge:
    steps:
      - name: pay
        type: step.http_call
        config: {method: POST, url: "{{ base }}/charges/{{ order }}", json: {amount: 5}}
        retry: {max_attempts: 3, initial_interval: 50ms, backoff: 1.0}
      - name: each
        type: step.foreach
        config:
          items: [a, b]
          steps:
            - name: refund
              type: step.http_call
              config: {method: POST, url: "{{ base }}/refunds/{{ order }}/{{ item }}"}
              retry: {max_attempts: 3, initial_interval: 50ms, backoff: 1.0}
"""


async def test_a_retried_post_carries_the_same_idempotency_key(client: Client) -> None:
    server = _Recorder()
    base = server.start()
    try:
        async with running_pipelines(client, RETRIED) as executor:
            await asyncio.gather(
                *(executor.execute_pipeline("charge", {"base": base, "order": order})
                  for order in ("o-1", "o-2"))
            )
    finally:
        server.stop()
    keys: dict[str, list[str]] = {}
    for path, headers in server.seen:
        keys.setdefault(path, []).append(headers["idempotency-key"])
    # Each call was answered 503 once and retried: both attempts carry one key.
    assert sorted(keys) == ["/charges/o-1", "/charges/o-2", "/refunds/o-1/a", "/refunds/o-1/b",
                            "/refunds/o-2/a", "/refunds/o-2/b"]
    for path, sent in keys.items():
        assert len(sent) == 2 and sent[0] == sent[1], (path, sent)
    # ...and distinct calls (another run, another item of a loop) carry distinct keys.
    distinct = {sent[0] for sent in keys.values()}
    assert len(distinct) == len(keys)


CHARGE = """
pipelines:
  charge:
    steps:
      - name: pay
        type: step.http_call
        config: {method: POST, url: "{{ base }}/charges/c-1", json: {amount: 5}}
        retry: {max_attempts: 3, initial_interval: 50ms}
"""


async def test_the_post_retried_after_a_worker_crash_carries_the_same_key(
    client: Client, tmp_path: Path
) -> None:
    config = tmp_path / "charge.yaml"
    config.write_text(CHARGE)
    queue = f"test-crash-{uuid.uuid4().hex[:8]}"
    server = _Recorder(hang_first=True)
    base = server.start()
    crashing = subprocess.Popen(
        [sys.executable, "-m", "worker", "--config", str(config), "--no-iac", "--address",
         client.service_client.config.target_host, "--task-queue", queue,
         "--reload-interval", "0", "--http-allow", "loopback", "--sticky-timeout", "1"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        executor = PipelineExecutor(client, task_queue=queue)
        handle = await executor.start_pipeline("charge", {"base": base})
        for _ in range(600):  # the first attempt reaches the server, which holds it
            if server.seen:
                break
            await asyncio.sleep(0.05)
        crashing.kill()
        crashing.wait(30)
        # Another worker takes the step over once the dead one misses its heartbeats.
        registry = default_registry()
        catalog = PipelineCatalog.load(config, registry)
        async with pipeline_worker(client, catalog, registry, queue):
            await asyncio.wait_for(handle.result(), 60)
    finally:
        if crashing.poll() is None:
            crashing.kill()
        server.stop()
    keys = [headers["idempotency-key"] for _, headers in server.seen]
    assert len(keys) == 2 and keys[0] == keys[1]


LOOKUP = """
pipelines:
  lookup:
    steps:
      - name: fetch
        type: step.http_call
        config: {url: "{{ base }}/orders/A-1"}
        retry: {max_attempts: 1}
      - name: out
        type: step.pipeline_output
        config: {values: {id: "{{ steps.fetch.body.id }}"}}
"""


async def test_worker_flag_and_wfctl_dev_decide_about_loopback(
    client: Client, base: str, tmp_path: Path
) -> None:
    """A worker process as production starts it refuses loopback; `--http-allow loopback` and
    the environment `wfctl dev` gives its worker allow it (README's order-lookup example)."""
    config = tmp_path / "lookup.yaml"
    config.write_text(LOOKUP)
    plain = {k: v for k, v in os.environ.items() if k != ENV}
    address = client.service_client.config.target_host
    setups = {
        "production": ([], plain),
        "--http-allow": (["--http-allow", "loopback"], plain),
        "wfctl dev": ([], worker_environment(plain, 7233, 8233)),
    }
    workers: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
    for name, (flags, env) in setups.items():
        queue = f"test-egress-{uuid.uuid4().hex[:8]}"
        workers[name] = queue, subprocess.Popen(
            [sys.executable, "-m", "worker", "--config", str(config), "--no-iac", "--address",
             address, "--task-queue", queue, "--reload-interval", "0", *flags],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    async def outcome(queue: str) -> str:
        executor = PipelineExecutor(client, task_queue=queue)
        try:
            output = await asyncio.wait_for(executor.execute_pipeline("lookup", {"base": base}), 60)
        except WorkflowFailureError as exc:
            return str(exc.cause)
        return str(output["id"])

    try:
        found = await asyncio.gather(*(outcome(queue) for queue, _ in workers.values()))
    finally:
        for _, worker in workers.values():
            worker.terminate()
            worker.wait(30)
    outcomes = dict(zip(workers, found, strict=True))
    assert outcomes["--http-allow"] == outcomes["wfctl dev"] == "A-1"
    assert "egress to 127.0.0.1 refused: loopback address" in outcomes["production"]


def test_worker_refuses_a_bad_allow_list_at_start() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "worker", "--config", "examples", "--http-allow", "10.0.0.0/33"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(
        "worker: --http-allow: WFCTL_HTTP_ALLOW: '10.0.0.0/33' is not"
    )
