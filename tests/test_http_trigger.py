"""HTTP trigger: `wfctl serve` routes requests to pipeline runs on the real dev server; a run
started over HTTP is a pipeline run like any other (wfctl pipeline list, the web UI's API)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.pipeline_catalog import PipelineCatalog
from activities.step_catalog import default_registry
from engine.pipeline_config import load_pipelines, parse_pipelines_text
from interfaces.errors import ConfigError
from tests.conftest import temporal_binary
from tests.pipeline_harness import EXAMPLES, running_pipelines
from wfctl.client import PipelineExecutor
from wfctl.request_guard import MAX_DEPTH, ServeOptions, parse_size
from wfctl.serve import build_app
from worker import pipeline_worker
from workflows import search_attributes

ROOT = Path(__file__).resolve().parent.parent
JSON = {"Content-Type": "application/json"}

PIPELINES = """
pipelines:
  echo:
    trigger: {type: http, method: put, path: "/things/{kind}/{id}"}
    steps:
      - name: out
        type: step.pipeline_output
        config:
          values:
            request: "{{ request }}"
            colour: "{{ colour }}"
  leaky:
    trigger: {type: http, path: /leaky}
    steps:
      - {name: boom, type: step.fail, config: {message: "dsn postgres://admin:hunter2@db"}}
  slow:
    trigger: {type: http, path: /slow, timeout: 200ms}
    steps:
      - {name: wait, type: step.sleep, config: {duration: 3s}}
"""


@pytest.fixture
async def api(client: Client) -> AsyncIterator[tuple[httpx.AsyncClient, PipelineExecutor]]:
    """The examples plus PIPELINES behind the app, served by an in-process worker."""
    registry = default_registry()
    config = {**load_pipelines(EXAMPLES, registry),
              **parse_pipelines_text(PIPELINES, "<test>", registry)}
    queue = f"test-http-{uuid.uuid4().hex[:8]}"
    executor = PipelineExecutor(client, task_queue=queue)
    transport = httpx.ASGITransport(app=build_app(config, executor))
    async with (
        pipeline_worker(client, PipelineCatalog(config), registry, queue),
        httpx.AsyncClient(transport=transport, base_url="http://wfctl") as http,
    ):
        yield http, executor


async def test_sync_route_answers_with_the_output_and_sees_the_request(api: Any) -> None:
    http, _ = api
    response = await http.put(
        "/things/box/7?size=s&tag=a&tag=b",
        json={"colour": "red"},
        headers={"Authorization": "Bearer s3cret", "Cookie": "sid=1", "X-Trace": "t-1"},
    )
    assert response.status_code == 200, response.text
    output = response.json()
    assert output["colour"] == "red"
    request = output["request"]
    assert request["method"] == "PUT" and request["path"] == "/things/box/7"
    assert request["path_params"] == {"kind": "box", "id": "7"}
    assert request["query"] == {"size": "s", "tag": ["a", "b"]}
    assert request["body"] == {"colour": "red"}
    assert request["headers"]["x-trace"] == "t-1"
    assert "s3cret" not in response.text and "sid=1" not in response.text


async def test_example_routes_201_400_and_202(api: Any, client: Client) -> None:
    http, _ = api
    created = await http.post("/orders", json={"order_id": "A-1", "amount": 250})
    assert created.status_code == 201
    assert created.json() == {"order_id": "A-1", "decision": "needs_review"}
    # The run's validation step refuses it: 400 with the step's own message.
    refused = await http.post("/orders", json={"order_id": "A-2", "amount": 0})
    assert refused.status_code == 400
    assert refused.json()["step"] == "check"
    assert refused.json()["error"].startswith("validation failed (1 problem): $.amount")
    # The request schema refuses it before any run starts.
    bad = await http.post("/orders", json={"order_id": "A-3"})
    assert bad.status_code == 400 and "'amount' is a required property" in bad.json()["error"]
    assert "workflow_id" not in bad.json()
    not_json = await http.post("/orders", content=b"{nope", headers=JSON)
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    started = await http.post("/orders/A-1/recheck")
    assert started.status_code == 202
    workflow_id = started.json()["workflow_id"]
    assert workflow_id.startswith("pipeline:recheck-order:")
    result = await client.get_workflow_handle(workflow_id).result()
    assert result["order_id"] == "A-1" and result["rechecked"] is True


async def test_failures_answer_500_without_internals_and_slow_runs_504(api: Any) -> None:
    http, _ = api
    failed = await http.post("/leaky", json={})
    assert failed.status_code == 500
    assert failed.json()["error"] == "the pipeline run failed"
    assert "hunter2" not in failed.text and "boom" not in failed.text
    assert failed.json()["workflow_id"].startswith("pipeline:leaky:")
    slow = await http.post("/slow")
    assert slow.status_code == 504 and slow.json()["workflow_id"].startswith("pipeline:slow:")


async def test_openapi_lists_every_route_with_its_schema(api: Any) -> None:
    http, _ = api
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert set(paths) == {"/orders", "/orders/{order_id}/recheck", "/things/{kind}/{id}",
                          "/leaky", "/slow"}
    create = paths["/orders"]["post"]
    assert create["summary"] == "Run pipeline create-order"
    schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["order_id", "amount"]
    recheck = paths["/orders/{order_id}/recheck"]["post"]
    assert [p["name"] for p in recheck["parameters"]] == ["order_id"]
    assert "202" in recheck["responses"] and "requestBody" not in recheck
    assert [p["name"] for p in paths["/things/{kind}/{id}"]["put"]["parameters"]] == ["kind", "id"]


@pytest.mark.parametrize(
    ("trigger", "problem"),
    [
        ("{type: http, path: orders}", "String should match pattern"),
        ("{type: http, path: /docs}", "reserved"),
        ("{type: http, path: /a, method: FETCH}", "method"),
        ("{type: http, path: /a, request_schema: {type: nope}}", "not a valid JSON Schema"),
        ('{type: http, path: "/a/{x}/{x}"}', "repeats a parameter"),
        ("{type: http, path: /a, auth: {type: bearer, token: s3cr3t}}", "give `token_env`"),
        ("{type: http, path: /a, auth: {type: hmac, secret: s3cr3t}}", "give `secret_env`"),
        ("{type: http, path: /a, auth: {type: bearer, token_env: 'my token'}}", "token_env"),
        ("{type: http, path: /a, auth: {type: basic}}", "does not match"),
        ("{type: http, path: /a, cors_origins: ['https://x/path']}", "cors_origins"),
    ],
)
def test_invalid_http_triggers_are_refused_at_load(trigger: str, problem: str) -> None:
    text = f"pipelines:\n  p:\n    trigger: {trigger}\n    steps: [{{name: s, type: step.log}}]\n"
    with pytest.raises(ConfigError) as refused:
        parse_pipelines_text(text, "t.yaml", default_registry())
    assert any(problem in p and 'pipeline "p"' in p for p in refused.value.problems)
    assert "s3cr3t" not in str(refused.value)


def test_two_pipelines_on_one_route_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        'pipelines:\n  a:\n    trigger: {type: http, path: "/o/{id}"}\n'
        "    steps: [{name: s, type: step.set, config: {values: {x: 1}}}]\n")
    (tmp_path / "b.yaml").write_text(
        'pipelines:\n  b:\n    trigger: {type: http, path: "/o/{key}", method: post}\n'
        "    steps: [{name: s, type: step.set, config: {values: {x: 1}}}]\n")
    with pytest.raises(ConfigError) as refused:
        load_pipelines(tmp_path, default_registry())
    assert refused.value.problems == [
        f'{tmp_path / "b.yaml"}: pipeline "b": trigger: POST /o/{{key}} is already the route of '
        'pipeline "a"'
    ]


# ---- what a request must pass before a run starts ----

GUARDED = """
pipelines:
  guarded:
    trigger:
      type: http
      path: /guarded
      auth:
        - {type: bearer, token_env: TEST_SERVE_TOKEN}
        - {type: hmac, secret_env: TEST_SERVE_HMAC, header: X-Hub-Signature-256}
    steps:
      - {name: out, type: step.pipeline_output, config: {values: {n: "{{ n }}"}}}
  open:
    trigger: {type: http, path: /open}
    steps:
      - {name: out, type: step.pipeline_output, config: {values: {n: "{{ n | default(0) }}"}}}
  touch:
    trigger: {type: http, path: "/touch/{id}", async: true}
    steps:
      - {name: out, type: step.pipeline_output, config: {values: {ok: true}}}
  partner:
    trigger: {type: http, path: /partner, cors_origins: ["https://partner.example"]}
    steps:
      - {name: out, type: step.pipeline_output, config: {values: {ok: true}}}
"""
TOKEN, HMAC_SECRET = "tok-0123456789", "hmac-9876543210"
SECRETS = {"TEST_SERVE_TOKEN": TOKEN, "TEST_SERVE_HMAC": HMAC_SECRET}
APP_ORIGIN = "https://app.example"


@pytest.fixture
async def guarded(client: Client) -> AsyncIterator[httpx.AsyncClient]:
    registry = default_registry()
    config = parse_pipelines_text(GUARDED, "<test>", registry)
    queue = f"test-http-{uuid.uuid4().hex[:8]}"
    options = ServeOptions(cors_origins=(APP_ORIGIN,), max_body=8192, environ=SECRETS)
    app = build_app(config, PipelineExecutor(client, task_queue=queue), options)
    async with (
        pipeline_worker(client, PipelineCatalog(config), registry, queue),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://wfctl") as http,
    ):
        yield http


def signed(body: bytes, secret: str = HMAC_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_a_body_that_is_not_sent_as_json_is_415(guarded: httpx.AsyncClient) -> None:
    # What a cross-site <form enctype="text/plain"> sends: no preflight, so it must not run.
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": content_type} if content_type else {}
        answer = await guarded.post("/open", content=b'{"n": 1}', headers=headers)
        assert answer.status_code == 415, (content_type, answer.text)
        assert "Content-Type: application/json" in answer.json()["error"]
    for content_type in ("application/json", "application/json; charset=utf-8",
                         "application/merge-patch+json"):
        answer = await guarded.post("/open", content=b'{"n": 1}',
                                    headers={"Content-Type": content_type})
        assert (answer.status_code, answer.json()) == (200, {"n": 1}), content_type
    # No body, no content type (curl -XPOST): fine.
    assert (await guarded.post("/touch/1")).status_code == 202


async def test_other_origins_cannot_start_runs_and_get_no_cors(
    guarded: httpx.AsyncClient,
) -> None:
    evil = {"Origin": "https://evil.example"}
    # fetch(url, {method: "POST", mode: "no-cors"}) sends no body and no content type.
    for path in ("/touch/1", "/open"):
        answer = await guarded.post(path, headers=evil)
        assert answer.status_code == 403, answer.text
        assert "requests from origin https://evil.example are not allowed" in answer.json()["error"]
        assert "access-control-allow-origin" not in answer.headers
    # An <img src> to a route sends no Origin, but the browser marks it cross-site.
    answer = await guarded.post("/touch/1", headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 403
    preflight = await guarded.options("/open", headers={
        **evil, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 403 and "access-control-allow-origin" not in preflight.headers
    # The server's own pages and non-browser clients are not affected.
    for own in ("http://wfctl", "https://wfctl"):  # https: through a TLS-terminating proxy
        assert (await guarded.post("/touch/1", headers={"Origin": own})).status_code == 202
    assert (await guarded.post("/touch/1", headers={"Origin": "http://wfctl.evil"})
            ).status_code == 403
    assert (await guarded.post("/touch/1", headers={"Sec-Fetch-Site": "same-origin"})
            ).status_code == 202


async def test_configured_origins_get_cors(guarded: httpx.AsyncClient) -> None:
    preflight = await guarded.options("/open", headers={
        "Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
    assert preflight.headers["access-control-allow-methods"] == "POST"
    assert "Content-Type" in preflight.headers["access-control-allow-headers"]
    answer = await guarded.post("/open", json={"n": 2}, headers={"Origin": APP_ORIGIN})
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == APP_ORIGIN
    # A trigger's own cors_origins hold for its route only.
    partner = {"Origin": "https://partner.example"}
    assert (await guarded.post("/partner", json={}, headers=partner)).status_code == 200
    assert (await guarded.post("/open", json={}, headers=partner)).status_code == 403
    wrong_method = await guarded.options("/open", headers={
        "Origin": APP_ORIGIN, "Access-Control-Request-Method": "DELETE"})
    assert wrong_method.status_code == 403


async def test_bearer_and_hmac_auth(guarded: httpx.AsyncClient) -> None:
    body = json.dumps({"n": 7}).encode()
    good = {**JSON, "Authorization": f"Bearer {TOKEN}", "X-Hub-Signature-256": signed(body)}
    cases = {
        "no credentials": JSON,
        "wrong token": {**good, "Authorization": "Bearer tok-0123456780"},
        "basic instead": {**good, "Authorization": f"Basic {TOKEN}"},
        "no signature": {k: v for k, v in good.items() if k != "X-Hub-Signature-256"},
        "signature of another body": {**good, "X-Hub-Signature-256": signed(b'{"n": 8}')},
        "signature under another secret": {**good, "X-Hub-Signature-256": signed(body, "x")},
    }
    for case, headers in cases.items():
        answer = await guarded.post("/guarded", content=body, headers=headers)
        assert answer.status_code == 401, (case, answer.text)
        assert "www-authenticate" in answer.headers
        assert TOKEN not in answer.text and HMAC_SECRET not in answer.text
    answer = await guarded.post("/guarded", content=body, headers=good)
    assert (answer.status_code, answer.json()) == (200, {"n": 7})
    bare_hex = {**good, "X-Hub-Signature-256": signed(body).removeprefix("sha256=")}
    assert (await guarded.post("/guarded", content=body, headers=bare_hex)).status_code == 200


def test_a_secret_missing_from_the_environment_stops_serve() -> None:
    config = parse_pipelines_text(GUARDED, "<test>", default_registry())
    with pytest.raises(ConfigError) as refused:
        build_app(config, None, ServeOptions(environ={"TEST_SERVE_TOKEN": TOKEN}))  # type: ignore[arg-type]
    assert refused.value.problems == [
        'pipeline "guarded": trigger: auth hmac: the environment variable TEST_SERVE_HMAC is '
        "not set"
    ]


async def test_a_body_over_max_body_is_413(guarded: httpx.AsyncClient) -> None:
    big = json.dumps({"n": 1, "pad": "x" * 9000}).encode()
    answer = await guarded.post("/open", content=big, headers=JSON)
    assert answer.status_code == 413
    assert answer.json() == {"error": "the body is larger than 8192 bytes"}

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(100):
            yield b" " * 100

    answer = await guarded.post("/open", content=chunks(), headers=JSON)
    assert answer.status_code == 413
    assert (await guarded.post("/open", content=b'{"n": 3}' + b" " * 1000,
                               headers=JSON)).status_code == 200


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"n": "\xff"}', "the body is not UTF-8: invalid start byte at byte 7"),
        (b'{"n": "\\ud800"}', "$.n: a lone surrogate (\\ud800), which is not Unicode text"),
        (b'{"\\udfff": 1}', "$: a key holds a lone surrogate (\\udfff)"),
        (b"[" * 3000 + b"]" * 3000, f"nested more than {MAX_DEPTH} levels deep"),
        (b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1),
         f"nested more than {MAX_DEPTH} levels deep"),
        (b'{"n": NaN}', "NaN is not a JSON number"),
        (b'{"n": 1', "the body is not JSON"),
    ],
)
async def test_undecodable_bodies_are_a_structured_400(
    guarded: httpx.AsyncClient, body: bytes, problem: str
) -> None:
    answer = await guarded.post("/open", content=body, headers=JSON)
    assert answer.status_code == 400, answer.text
    assert problem in answer.json()["error"]


def test_serve_refuses_bad_options_and_missing_secrets_before_serving(tmp_path: Path) -> None:
    config = tmp_path / "guarded.yaml"
    config.write_text(GUARDED)
    wfctl = [sys.executable, "-m", "wfctl", "--address", "127.0.0.1:1", "serve"]
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    cases = [
        (["--config", str(config)], 1,
         "error: pipeline \"guarded\": trigger: auth bearer: the environment variable "
         "TEST_SERVE_TOKEN is not set"),
        (["--config", str(config), "--cors-origin", "evil.example"], 2,
         "error: --cors-origin 'evil.example' is not an origin"),
        (["--config", str(config), "--max-body", "huge"], 2, "error: --max-body: 'huge'"),
    ]
    for flags, code, message in cases:
        done = subprocess.run([*wfctl, *flags], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == code and done.stderr.startswith(message), done.stderr


def test_parse_size() -> None:
    assert parse_size("1MiB") == parse_size("1m") == 1024 * 1024
    assert parse_size("512KiB") == 512 * 1024 and parse_size("100") == 100
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


# ---- the Done-when check: wfctl serve on a real port, the run in wfctl and the web UI ----


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
async def ui_env() -> AsyncIterator[tuple[WorkflowEnvironment, int]]:
    """A dev server of its own with the web UI on (about a second to start)."""
    ui_port = free_port()
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_binary(),
        search_attributes=search_attributes.ALL,
        ui=True,
        ui_port=ui_port,
    )
    try:
        yield env, ui_port
    finally:
        await env.shutdown()


async def wait_for_http(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(150):
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered 200")


async def test_a_run_started_over_http_is_listed_by_wfctl_and_the_web_ui(
    ui_env: tuple[WorkflowEnvironment, int],
) -> None:
    env, ui_port = ui_env
    address = env.client.service_client.config.target_host
    port = free_port()
    wfctl = [sys.executable, "-m", "wfctl", "--address", address]
    async with running_pipelines(env.client, EXAMPLES) as executor:
        server = await asyncio.create_subprocess_exec(
            *wfctl, "serve", "--config", str(EXAMPLES), "--port", str(port),
            "--task-queue", executor.task_queue, "--max-body", "1KiB",
            "--cors-origin", "https://app.example", cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            await wait_for_http(f"{base}/openapi.json")
            async with httpx.AsyncClient(base_url=base) as http:
                answer = await http.post("/orders", json={"order_id": "W-1", "amount": 5},
                                         headers={"Origin": "https://app.example"})
                too_big = await http.post("/orders", json={"order_id": "W" * 1100, "amount": 5})
                text = await http.post("/orders", content=b'{"order_id": "W-2", "amount": 5}',
                                       headers={"Content-Type": "text/plain"})
        finally:
            server.kill()
            await server.wait()
    assert answer.status_code == 201
    assert answer.json() == {"order_id": "W-1", "decision": "approved"}
    assert answer.headers["access-control-allow-origin"] == "https://app.example"
    assert (too_big.status_code, text.status_code) == (413, 415)

    listed = await asyncio.create_subprocess_exec(
        *wfctl, "pipeline", "list", "--pipeline", "create-order", "--json", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(listed.communicate(), 60)
    assert listed.returncode == 0, err.decode()
    rows = [json.loads(line) for line in out.decode().splitlines()]
    assert [(r["pipeline"], r["status"]) for r in rows] == [("create-order", "Completed")]
    workflow_id = rows[0]["workflow_id"]

    # The web UI's own API (what its workflow list page calls), on the UI port.
    url = f"http://127.0.0.1:{ui_port}/api/v1/namespaces/default/workflows"
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            response = await http.get(url, params={"query": f"WorkflowId = '{workflow_id}'"})
            executions = response.json().get("executions") if response.status_code == 200 else None
            if executions:
                break
            await asyncio.sleep(0.1)
    assert executions, response.text
    fields = executions[0]["searchAttributes"]["indexedFields"]
    assert json.loads(base64.b64decode(fields["PipelineName"]["data"])) == "create-order"
    assert executions[0]["type"]["name"] == "PipelineWorkflow"
