"""OpenTelemetry traces of runs, steps, resource actions and the cloud calls inside them.

Off unless configured: with neither OTEL_EXPORTER_OTLP_ENDPOINT nor OTEL_TRACES_EXPORTER set
(and no provider given by `install_tracing`), nothing of OpenTelemetry is imported and
`connect` installs no interceptor, so an untraced service pays nothing. OpenTelemetry comes
from the `tracing` extra (`pip install 'wfctl[tracing]'`).

When on, every client `connect` makes (wfctl, the Python API, `wfctl serve`, the worker)
carries Temporal's TracingInterceptor, which propagates the trace context through workflow
and activity headers: one trace runs from the client's StartWorkflow through the workflow,
its child workflows and activities. `StepAttributes` names the spans' wfctl parts
(wfctl.step.name, wfctl.resource, ...), and the botocore / httpx instrumentations make the
SDK's HTTP calls children of the activity that makes them, with their URLs redacted as log
lines are (engine.redaction).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import temporalio.activity
import temporalio.client
import temporalio.worker

from engine.redaction import redact_text

if TYPE_CHECKING:
    from opentelemetry.trace import Span, TracerProvider

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
EXPORTER_ENV = "OTEL_TRACES_EXPORTER"
PROTOCOL_ENV = "OTEL_EXPORTER_OTLP_PROTOCOL"
SERVICE_ENV = "OTEL_SERVICE_NAME"
DEFAULT_SERVICE = "wfctl"
TRACER_NAME = "wfctl"
# Span attributes that hold a URL (old and current HTTP semantic conventions).
URL_ATTRIBUTES = ("http.url", "url.full", "http.target", "url.query")

_provider: TracerProvider | None = None


class TracingConfigError(ValueError):
    """The OTEL_* variables ask for tracing that cannot be set up; str() is one line."""


def tracing_configured(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    exporter = env.get(EXPORTER_ENV, "").strip().lower()
    if exporter == "none":
        return False
    return bool(exporter or env.get(ENDPOINT_ENV) or env.get(TRACES_ENDPOINT_ENV))


def install_tracing(provider: TracerProvider | None = None) -> TracerProvider:
    """Trace with `provider` (tests pass one with an in-memory exporter), or with an OTLP
    exporter built from the OTEL_* variables (TracingConfigError when they cannot be
    followed). Idempotent; the SDK HTTP instrumentations are
    installed once per process, on the first provider."""
    global _provider
    if _provider is not None and (provider is None or provider is _provider):
        return _provider
    first = _provider is None
    if provider is None:
        try:
            provider = _provider_from_env()
        except ImportError as exc:
            raise TracingConfigError(
                f"{exc.name or exc} is not installed; tracing needs the tracing extra "
                "(pip install 'wfctl[tracing]'), or unset the OTEL_* variables"
            ) from None
    _provider = provider
    if first:
        _instrument_http(_provider)
    return _provider


def tracing_target() -> str:
    """Where spans go, for the worker's start line: "OTLP grpc at http://...", redacted."""
    service = os.environ.get(SERVICE_ENV) or DEFAULT_SERVICE
    # Read as _exporter reads them, so the line names the exporter really used.
    if _exporter_name() == "console":
        return f"console (spans as JSON on stdout) as service {service}"
    endpoint = os.environ.get(TRACES_ENDPOINT_ENV) or os.environ.get(ENDPOINT_ENV)
    where = redact_text(endpoint) if endpoint else "the exporter's default endpoint"
    return f"{_exporter_name()} ({_protocol()}) at {where} as service {service}"


def flush_tracing() -> None:
    """Export the spans still buffered; for processes that end without running atexit
    handlers (the worker ends with os._exit)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=5000)  # a collector that is down delays no exit long


def uninstall_tracing() -> None:
    """Stop tracing new clients and SDK calls (tests that install a provider end with it)."""
    global _provider
    if _provider is None:
        return
    _provider = None
    for module, name in (
        ("opentelemetry.instrumentation.botocore", "BotocoreInstrumentor"),
        ("opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"),
    ):
        try:
            instrumentor = getattr(__import__(module, fromlist=[name]), name)
        except ImportError:
            continue
        instrumentor().uninstrument()


def tracing_interceptors() -> list[Any]:
    """The client interceptors `connect` adds: none when tracing is off.

    They are worker interceptors too, so every worker built on that client traces as well."""
    if _provider is None:
        if not tracing_configured():
            return []
        install_tracing()
    from wfctl.tracing_workflow import WfctlTracingInterceptor

    assert _provider is not None
    return [WfctlTracingInterceptor(_provider.get_tracer(TRACER_NAME)), StepAttributes()]


def _provider_from_env() -> TracerProvider:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    service = os.environ.get(SERVICE_ENV) or DEFAULT_SERVICE
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(_exporter()))
    return provider


def _exporter_name() -> str:
    return os.environ.get(EXPORTER_ENV, "").strip().lower() or "otlp"


def _protocol() -> str:
    return os.environ.get(PROTOCOL_ENV, "").strip().lower() or "http/protobuf"


def _exporter() -> Any:
    exporter = _exporter_name()
    if exporter == "console":  # spans as JSON on stdout: a look without a collector
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if exporter != "otlp":
        raise TracingConfigError(f"{EXPORTER_ENV}={exporter!r}: use otlp, console or none")
    return _otlp_exporter()


def _otlp_exporter() -> Any:
    """OTLP over gRPC or HTTP as OTEL_EXPORTER_OTLP_PROTOCOL says (HTTP when unset, as the
    exporters' own default); the exporter reads endpoint, headers and TLS from OTEL_*."""
    protocol = _protocol()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    elif protocol in ("http/protobuf", "http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    else:
        raise TracingConfigError(f"{PROTOCOL_ENV}={protocol!r}: use grpc or http/protobuf")
    return OTLPSpanExporter()


def _instrument_http(provider: TracerProvider) -> None:
    """botocore and httpx calls become spans, each instrumentation where it is installed."""
    try:
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    except ImportError:
        pass
    else:
        BotocoreInstrumentor().instrument(tracer_provider=provider)
    try:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    except ImportError:
        pass
    else:
        HTTPXClientInstrumentor().instrument(
            tracer_provider=provider,
            request_hook=_redact_request_span,
            async_request_hook=_async_redact_request_span,
        )


def _redact_request_span(span: Span, request: Any) -> None:
    """Overwrite the URL attributes the instrumentation set from the raw URL (which may hold
    a token in its query or user info) with their redacted text."""
    attributes = getattr(span, "attributes", None) or {}
    for key in URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            span.set_attribute(key, redact_text(value))


async def _async_redact_request_span(span: Span, request: Any) -> None:
    _redact_request_span(span, request)


def step_attributes(activity_type: str, args: Any) -> dict[str, Any]:
    """The wfctl attributes of an activity's span, read from its input: a pipeline step's
    StepInput or a stack's ActionRequest, decoded or (dynamic step activities) as a dict."""
    info = temporalio.activity.info()
    found: dict[str, Any] = {
        "wfctl.activity": activity_type,
        "wfctl.attempt": info.attempt,
    }
    first = args[0] if args else None
    if isinstance(first, list | tuple):  # a dynamic activity's one argument: its raw args
        first = first[0] if first else None
    if first is not None and hasattr(first, "payload"):  # a RawValue
        try:
            first = temporalio.activity.payload_converter().from_payload(first.payload)
        except Exception:  # noqa: BLE001 - not ours to fail; the activity reports it
            return found
    data = first.model_dump(mode="json") if hasattr(first, "model_dump") else first
    if not isinstance(data, dict):
        return found
    step = data.get("step")
    if isinstance(step, dict):
        found["wfctl.pipeline"] = data.get("pipeline")
        found["wfctl.step.name"] = data.get("path") or step.get("name")
        found["wfctl.step.type"] = step.get("type")
    target = data.get("target")
    if isinstance(target, dict) and "action" in data:
        found["wfctl.stack"] = target.get("stack") or target.get("name")
        found["wfctl.resource"] = data.get("name")
        found["wfctl.resource.type"] = data.get("type")
        found["wfctl.provider"] = data.get("provider_type") or data.get("provider")
        found["wfctl.action"] = data.get("action")
    return {key: value for key, value in found.items() if isinstance(value, str | int)}


def run_attributes(workflow: str, workflow_id: str) -> dict[str, str]:
    """What a started run is, from its meaningful id: `pipeline:<name>:<run>`, `stack:<name>`."""
    found = {"wfctl.workflow": workflow}
    kind, _, rest = workflow_id.partition(":")
    if kind == "pipeline":
        found["wfctl.pipeline"] = rest.rsplit(":", 1)[0]
    elif kind == "stack":
        found["wfctl.stack"] = rest
        found["wfctl.phase"] = workflow.removesuffix("Workflow").lower()
    return found


def _set_on_current_span(attributes: Mapping[str, Any]) -> None:
    from opentelemetry import trace

    trace.get_current_span().set_attributes(dict(attributes))


class StepAttributes(temporalio.client.Interceptor, temporalio.worker.Interceptor):
    """Names the spans TracingInterceptor opens: placed after it, it runs inside them."""

    def intercept_client(
        self, next: temporalio.client.OutboundInterceptor
    ) -> temporalio.client.OutboundInterceptor:
        return _ClientAttributes(next)

    def intercept_activity(
        self, next: temporalio.worker.ActivityInboundInterceptor
    ) -> temporalio.worker.ActivityInboundInterceptor:
        return _ActivityAttributes(next)


class _ClientAttributes(temporalio.client.OutboundInterceptor):
    async def start_workflow(
        self, input: temporalio.client.StartWorkflowInput
    ) -> temporalio.client.WorkflowHandle[Any, Any]:
        _set_on_current_span(run_attributes(input.workflow, input.id))
        return await super().start_workflow(input)


class _ActivityAttributes(temporalio.worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: temporalio.worker.ExecuteActivityInput) -> Any:
        _set_on_current_span(step_attributes(temporalio.activity.info().activity_type, input.args))
        return await super().execute_activity(input)
