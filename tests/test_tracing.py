"""Traces: a pipeline with an http_call and an IaC apply on moto, traced through Temporal's
interceptor into the SDK's in-memory exporter: one trace from the client's start through the
workflows, each step and resource action, down to the SDKs' HTTP calls; no secret in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from examples.echo_server import start_in_thread
from tests.iac_wf_support import iac_worker
from tests.pipeline_harness import running_pipelines
from tests.test_pipeline_iac_moto import AwsStack
from wfctl.connection import ConnectionSettings, connect
from wfctl.tracing import (
    StepAttributes,
    flush_tracing,
    install_tracing,
    run_attributes,
    tracing_configured,
    tracing_interceptors,
    tracing_target,
    uninstall_tracing,
)

pytest_plugins = ["tests.aws_fixtures"]

SECRET = "tok-5ecret-9f3a"

PIPELINE = """
pipelines:
  traced:
    steps:
      - name: notify
        type: step.http_call
        config: {{url: "{url}/status/200?token={secret}"}}
      - name: apply
        type: step.iac_apply
        config: {{stack: stacks/aws.yaml, parallelism: 1}}
"""


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    install_tracing(provider)
    try:
        yield exporter
    finally:
        uninstall_tracing()


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    chain = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


def names(chain: list[ReadableSpan]) -> list[str]:
    return [s.name for s in chain]


def test_no_tracing_without_the_otel_variables() -> None:
    assert not tracing_configured({})
    assert not tracing_configured({"OTEL_TRACES_EXPORTER": "none"})
    assert tracing_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing_interceptors() == []


def test_a_run_span_says_which_pipeline_or_stack_and_phase() -> None:
    assert run_attributes("PipelineWorkflow", "pipeline:release:20260101") == {
        "wfctl.workflow": "PipelineWorkflow", "wfctl.pipeline": "release"
    }
    assert run_attributes("DestroyWorkflow", "stack:orders") == {
        "wfctl.workflow": "DestroyWorkflow", "wfctl.stack": "orders", "wfctl.phase": "destroy"
    }


def untraced_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}, **extra}


def test_without_the_otel_variables_nothing_of_tracing_is_imported() -> None:
    # opentelemetry-api itself comes in with other dependencies; the SDK, exporters,
    # instrumentations and Temporal's interceptor are what tracing would add.
    code = ("import sys, worker, wfctl.cli, wfctl.client, wfctl.serve; "
            "print(sorted(m for m in sys.modules if m.startswith(("
            "'opentelemetry.sdk', 'opentelemetry.exporter', 'opentelemetry.instrumentation', "
            "'temporalio.contrib.opentelemetry'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=untraced_env(), timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_the_worker_refuses_an_unknown_otlp_protocol_in_one_line() -> None:
    env = untraced_env(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318",
                       OTEL_EXPORTER_OTLP_PROTOCOL="carrier-pigeon")
    done = subprocess.run([sys.executable, "worker.py", "--config", "examples"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "worker: cannot trace: OTEL_EXPORTER_OTLP_PROTOCOL='carrier-pigeon': use grpc or "
        "http/protobuf"
    ]


def test_wfctl_refuses_an_unknown_traces_exporter_in_one_line() -> None:
    wfctl = str(Path(sys.executable).with_name("wfctl"))
    done = subprocess.run([wfctl, "pipeline", "list"], capture_output=True, text=True,
                          env=untraced_env(OTEL_TRACES_EXPORTER="zipkin"), timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "cannot trace: OTEL_TRACES_EXPORTER='zipkin': use otlp, console or none"
    ]


def test_wfctl_exports_its_start_span_before_it_exits(client: Client) -> None:
    # wfctl ends with os._exit (wfctl.script), which skips the exporter's atexit flush.
    wfctl = str(Path(sys.executable).with_name("wfctl"))
    env = untraced_env(OTEL_TRACES_EXPORTER="console",
                       TEMPORAL_ADDRESS=client.service_client.config.target_host)
    done = subprocess.run([wfctl, "pipeline", "run", "hello", "--no-wait", "--data",
                           '{"name": "Ada"}'], capture_output=True, text=True, env=env,
                          timeout=60, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert '"name": "StartWorkflow:PipelineWorkflow"' in done.stdout, done.stdout
    assert '"wfctl.pipeline": "hello"' in done.stdout, done.stdout


class _OtlpReceiver(ThreadingHTTPServer):
    """An OTLP/HTTP endpoint on loopback that keeps what it is sent."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_the_otel_variables_send_spans_over_otlp_http_with_the_service_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = _OtlpReceiver()
    threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{receiver.server_port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "wfctl-traced-test")
    try:
        assert tracing_configured()
        [tracer, attributes] = tracing_interceptors()
        assert isinstance(attributes, StepAttributes)
        with tracer.tracer.start_as_current_span("probe"):
            pass
        flush_tracing()
    finally:
        uninstall_tracing()
        receiver.shutdown()
        receiver.server_close()
    [(path, body)] = receiver.posts
    assert path == "/v1/traces"
    assert b"wfctl-traced-test" in body and b"probe" in body


async def test_a_traced_pipeline_is_one_trace_down_to_the_sdk_http_calls(
    client: Client, spans: InMemorySpanExporter, tmp_path: Path, moto_endpoint: str,
    aws_provider: Any,
) -> None:
    echo_url, echo = start_in_thread()
    stack = AwsStack(tmp_path, moto_endpoint, aws_provider().context.session)
    (tmp_path / "pipelines.yaml").write_text(PIPELINE.format(url=echo_url, secret=SECRET))
    traced = await connect(
        ConnectionSettings(address=client.service_client.config.target_host)
    )
    try:
        async with iac_worker(traced) as queue, running_pipelines(
            traced, tmp_path / "pipelines.yaml", queue
        ) as runs:
            spans.clear()  # the test's own calls to moto so far
            handle = await runs.start_pipeline("traced")
            result = await handle.result()
    finally:
        echo.stop()
    finished = list(spans.get_finished_spans())
    assert result, result
    assert len(stack.vpcs()) == 1 and stack.stack_buckets() == stack.buckets
    by_id = {s.context.span_id: s for s in finished}
    starts = [s for s in finished if s.name == "StartWorkflow:PipelineWorkflow"]
    assert len(starts) == 1, names(finished)
    [start] = starts
    assert start.parent is None
    assert start.attributes["wfctl.pipeline"] == "traced"
    # Every span of the run is in the trace the client's start opened.
    assert {s.context.trace_id for s in finished} == {start.context.trace_id}

    # The http_call: workflow -> step activity -> httpx's GET, its URL redacted.
    [http] = [s for s in finished if s.attributes.get("wfctl.step.type") == "step.http_call"
              and s.name.startswith("RunActivity")]
    assert http.attributes["wfctl.step.name"] == "notify"
    assert http.attributes["wfctl.pipeline"] == "traced"
    assert http.attributes["wfctl.attempt"] == 1
    # Temporal's interceptor parents a workflow's spans on the context its starter sent:
    # the run and the activities it schedules are siblings under the client's start.
    assert names(ancestors(http, by_id)) == [
        "StartActivity:notify (step.http_call)", "StartWorkflow:PipelineWorkflow"
    ]
    [run] = [s for s in finished if s.name == "RunWorkflow:PipelineWorkflow"]
    assert run.parent is not None and run.parent.span_id == start.context.span_id
    calls = [s for s in finished if s.parent and s.parent.span_id == http.context.span_id]
    assert len(calls) == 1, names(calls)
    url = calls[0].attributes.get("url.full") or calls[0].attributes.get("http.url")
    assert url == f"{echo_url}/status/200?token=***", dict(calls[0].attributes)

    # The apply: child workflow -> resource action -> botocore's calls to moto.
    actions = [s for s in finished if s.attributes.get("wfctl.action") == "create"
               and s.name.startswith("RunActivity")]
    assert {s.attributes["wfctl.resource"] for s in actions} == {"net", "b0"}, names(actions)
    for action in actions:
        assert action.attributes["wfctl.stack"] == stack.name
        assert action.attributes["wfctl.provider"] == "aws"
        assert action.attributes["wfctl.attempt"] == 1
        chain = names(ancestors(action, by_id))
        assert chain == [
            "StartActivity:apply_action", "StartChildWorkflow:ApplyWorkflow", start.name
        ], chain
        sdk = [s for s in finished if s.parent and s.parent.span_id == action.context.span_id]
        assert sdk and all(s.attributes.get("rpc.system") == "aws-api" for s in sdk), names(sdk)
    # The child's workflow spans say which stack and phase, as a client-started run's do.
    child = [s for s in finished if s.name in ("StartChildWorkflow:ApplyWorkflow",
                                               "RunWorkflow:ApplyWorkflow",
                                               "StartActivity:apply_action")]
    assert len(child) == 4, names(child)
    for span in child:
        assert span.attributes.get("wfctl.stack") == stack.name, (span.name, span.attributes)
        assert span.attributes.get("wfctl.phase") == "apply", (span.name, span.attributes)
    assert run.attributes.get("wfctl.pipeline") == "traced", run.attributes
    vpc = next(s for s in actions if s.attributes["wfctl.resource"] == "net")
    assert any(s.name == "EC2.CreateVpc" for s in finished
               if s.parent and s.parent.span_id == vpc.context.span_id)

    # No secret anywhere in the trace: attributes, events, names.
    dump = json.dumps([json.loads(s.to_json()) for s in finished])
    assert SECRET not in dump


def test_the_start_line_names_the_exporter_that_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exporter reads OTEL_* lower-cased and stripped; the worker's start line must too,
    or `Console` is announced as OTLP while spans go to stdout."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", " Console ")
    assert tracing_target().startswith("console (spans as JSON on stdout)")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "OTLP")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "GRPC")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    assert tracing_target() == (
        "otlp (grpc) at http://127.0.0.1:4317 as service "
        + (os.environ.get("OTEL_SERVICE_NAME") or "wfctl")
    )
