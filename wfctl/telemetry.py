"""Prometheus metrics of a worker process: the Temporal SDK's own and the spec's run metrics.

A Temporal Runtime is process-wide, and every client and worker made after
`install_prometheus` uses it; the workflows' `workflow.metric_meter()` records into it too.
"""

from __future__ import annotations

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from workflows import metrics

DEFAULT_HOST = "127.0.0.1"


def prometheus_runtime(port: int, host: str = DEFAULT_HOST) -> Runtime:
    """A Runtime serving http://HOST:PORT/metrics (port 0 is refused: scrapers need to know it)."""
    if not 0 < port < 65536:
        raise ValueError(f"metrics port must be between 1 and 65535, got {port}")
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"{host}:{port}",
                durations_as_seconds=True,
                histogram_bucket_overrides=dict(metrics.HISTOGRAM_BUCKETS),
            ),
        )
    )


def install_prometheus(port: int, host: str = DEFAULT_HOST) -> None:
    """Make the Prometheus runtime the default before any client connects."""
    Runtime.set_default(prometheus_runtime(port, host), error_if_already_set=True)
