"""Application-file pipelines run as workflows on the real dev server: the spec's steps
(request_parse, gate, json_response), its templates at run time, and its saga."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError

from activities.pipeline_catalog import PipelineCatalog
from activities.step_catalog import default_registry
from engine.pipeline_config import load_pipelines
from tests.pipeline_harness import running_pipelines
from wfctl.client import PipelineExecutor
from wfctl.history import TemporalEventRecorder
from wfctl.serve import build_app
from worker import pipeline_worker

APP = """
name: steps-demo
modules:
  - {name: api, type: http.server, config: {address: ":8081"}}
triggers:
  http: {server: api}
pipelines:
  greet:
    trigger: {type: http, config: {path: "/users/{id}", method: POST}}
    steps:
      - name: parse
        type: step.request_parse
        config:
          path_params: [id]
          query_params: [verbose]
          parse_headers: [X-Tenant]
          parse_body: true
          merge_body: true
      - name: check
        type: step.gate
        config: {type: automated, auto_approve_conditions: ["body.role == admin"]}
      - name: respond
        type: step.json_response
        config:
          status: 202
          headers: {X-Tenant: "{{ .headers.X-Tenant }}", X-Count: "${ 1 + 1 }"}
          body:
            id: '${ steps["parse"]["path_params"]["id"] }'
            verbose: "{{ .query.verbose }}"
            greeting: '${ "hi " + upper(name) }'
            passed: "{{ .steps.check.gate_result.passed }}"
            tags: '{"a": [1, 2]}'
            sent: {_from: steps.parse.body}
  saga:
    on_error: compensate
    steps:
      - {name: reserve, type: step.set, config: {values: {reserved: true}}}
      - {name: charge, type: step.fail, config: {message: "card declined"}}
    compensation:
      - {name: refund, type: step.log, config: {message: "refund after ${ _failed_step }"}}
      - {name: release, type: step.log, config: {message: "release"}}
  gated:
    steps:
      - name: gate
        type: step.gate
        config: {type: manual, approvers: [ada], timeout: 1h}
      - name: done
        type: step.json_response
        config: {status: 200, body: {by: "{{ .approval.approver }}"}}
"""


@pytest.fixture
async def app_file(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(APP)
    return path


@pytest.fixture
async def runs(client: Client, app_file: Path) -> AsyncIterator[PipelineExecutor]:
    async with running_pipelines(client, app_file) as executor:
        yield executor


async def test_an_http_request_answers_with_the_json_response(
    client: Client, app_file: Path
) -> None:
    registry = default_registry()
    pipelines = load_pipelines(app_file, registry)
    queue = f"test-app-{uuid.uuid4().hex[:8]}"
    executor = PipelineExecutor(client, task_queue=queue)
    transport = httpx.ASGITransport(app=build_app(pipelines, executor))
    async with (
        pipeline_worker(client, PipelineCatalog(pipelines), registry, queue),
        httpx.AsyncClient(transport=transport, base_url="http://wfctl") as http,
    ):
        answer = await http.post("/users/u-7?verbose=1", json={"name": "ann", "role": "admin"},
                                 headers={"x-tenant": "t-1"})
        # request_parse's parse_body takes forms too, as the spec's does.
        form = await http.post("/users/u-8", data={"name": "bob", "role": "user"})
    assert answer.status_code == 202, answer.text
    assert answer.headers["x-tenant"] == "t-1" and answer.headers["x-count"] == "2"
    assert answer.json() == {
        "id": "u-7", "verbose": "1", "greeting": "hi ANN", "passed": True,
        # A string holding a JSON object is sent as that object, as the spec does.
        "tags": {"a": [1, 2]}, "sent": {"name": "ann", "role": "admin"},
    }
    assert form.status_code == 202, form.text
    assert {k: form.json()[k] for k in ("id", "greeting", "passed", "sent")} == {
        "id": "u-8", "greeting": "hi BOB", "passed": False,
        "sent": {"name": "bob", "role": "user"}}


async def test_compensation_runs_in_reverse_each_a_recorded_step(
    runs: PipelineExecutor,
) -> None:
    handle = await runs.start_pipeline("saga", {})
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert 'step "charge" failed: card declined' in str(info.value.cause)
    timeline = await TemporalEventRecorder(runs.client).timeline(handle.id)
    assert [(e.step, e.status) for e in timeline] == [
        ("reserve", "completed"), ("charge", "failed"),
        ("release", "completed"), ("refund", "completed")]


async def test_a_manual_gate_waits_durably_for_an_approver(runs: PipelineExecutor) -> None:
    handle = await runs.start_pipeline("gated", {})
    for _ in range(200):
        try:
            pending = await runs.pending_approvals(handle.id)
        except Exception:  # no worker has the run yet
            pending = []
        if pending:
            break
        await asyncio.sleep(0.05)
    assert [(p.step, p.approvers) for p in pending] == [("gate", ["ada"])]
    assert pending[0].deadline is not None  # the spec's timeout, 1h
    await runs.approve(handle.id, "ada", "ok")
    result: dict[str, Any] = await handle.result()
    assert result == {"response_status": 200, "response_body": {"by": "ada"},
                      "response_headers": {}}
