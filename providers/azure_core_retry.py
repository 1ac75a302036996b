"""azure-core's retry policy made to fit an activity: shared by the Azure (azure-mgmt) and
DigitalOcean (pydo, generated on azure-core) clients.

azure-core already retries a call by itself and honours Retry-After (and retry-after-ms), but
it sleeps without heartbeating, sends any 4xx that carries a Retry-After again (a 422, a
quota 409: final errors), never retries a throttled POST, and would wait out a Retry-After of
any length. Here: 408, 429 and 5xx only (what the providers' errors call
retryable); a 429 for any method, since a throttled request was not processed; the wait
through `pause`, heartbeating; and a Retry-After beyond MAX_CALL_WAIT left to the activity's
retry (the error carries it to Temporal's next_retry_delay).
"""

from __future__ import annotations

from typing import Any

from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import RetryPolicy

from providers.retry_after import MAX_CALL_WAIT, call_delay, pause

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class CallRetryPolicy(RetryPolicy):  # type: ignore[type-arg]
    """`retry_total` tries after the first (0: none), for answers and dropped connections."""

    def __init__(self, retry_total: int) -> None:
        super().__init__(
            retry_total=retry_total,
            retry_connect=retry_total,
            retry_read=retry_total,
            retry_status=retry_total,
        )

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        status = response.http_response.status_code
        if not settings["total"] or status not in RETRY_STATUSES:
            return False
        server_delay = self.get_retry_after(response)
        if server_delay is not None and server_delay > MAX_CALL_WAIT:
            return False
        if status == 429:
            return True
        return self._is_method_retryable(settings, response.http_request, response.http_response)

    def sleep(
        self,
        settings: dict[str, Any],
        transport: Any,
        response: PipelineResponse[Any, Any] | None = None,
    ) -> None:
        server_delay = self.get_retry_after(response) if response is not None else None
        delay = call_delay(len(settings["history"]), server_delay) or 0.0
        request = settings["history"][-1].http_request if settings["history"] else None
        what = f"{request.method} {request.url.split('?')[0]}" if request is not None else "call"
        pause(delay, f"waiting {delay:.1f} s to retry {what}")
