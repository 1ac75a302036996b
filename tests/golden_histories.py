"""Golden histories: representative pipeline runs recorded once into tests/histories/*.json,
replayed by tests/test_pipeline_replay.py so a change that breaks running workflows fails CI.

Each file is {"workflow_id": ..., "history": <the history as JSON>}. Re-record only when a
change to the workflow is meant to be incompatible and the running workflows are handled
(drained, or the change versioned with workflow.patched):

    .venv/bin/python -m tests.golden_histories            # all of them
    .venv/bin/python -m tests.golden_histories named      # only named.json

release, child and recovery were recorded before steps ran as activity types of their own
("check (step.validate)"), when every step was `run_step`: they stand for the runs started
then, which must go on replaying (workflow.patched). Re-recording them would lose that case;
named.json is golden-release as it runs since.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.pipeline_harness import running_pipelines
from wfctl.client import PipelineExecutor
from workflows import search_attributes

HISTORIES = Path(__file__).resolve().parent / "histories"

GOLDEN_PIPELINES = """
pipelines:
  golden-child:
    steps:
      - name: double
        type: step.pipeline_output
        config: {values: {doubled: "{{ n * 2 }}"}}
  golden-release:
    steps:
      - name: regions
        type: step.foreach
        config:
          items: [eu, us, ap]
          item_var: region
          concurrency: 2
          steps:
            - name: plan
              type: step.set
              config: {values: {planned: "{{ region }}"}}
      - name: checks
        type: step.parallel
        config:
          branches:
            lint: [{name: lint, type: step.set, config: {values: {lint: ok}}}]
            db:
              - name: probe
                type: step.db_query
                config: {dsn: "sqlite:///:memory:", query: "SELECT 1 AS one", mode: single}
      - name: child
        type: step.call_pipeline
        config: {pipeline: golden-child, input: {n: 21}, output_mapping: {answer: doubled}}
      - name: gate
        type: step.wait_for_approval
        config: {message: "release?"}
      - name: settle
        type: step.sleep
        config: {duration: 100ms}
      - name: done
        type: step.pipeline_output
        config: {values: {answer: "{{ answer }}", by: "{{ approval.approver }}"}}
  golden-recovery:
    on_error: compensate
    compensation:
      - {name: undo, type: step.log, config: {message: "undo after {{ _failed_step }}"}}
    steps:
      - name: flaky
        type: step.retry_with_backoff
        config:
          max_attempts: 3
          initial_interval: 100ms
          steps:
            - {name: try, type: step.fail, if: "attempt < 2", config: {message: "not yet"}}
      - {name: tolerated, type: step.fail, on_error: continue, config: {message: "ignored"}}
      - {name: risky, type: step.fail, on_error: goto handler, config: {message: "risky"}}
      - {name: skipped, type: step.set, config: {values: {skipped: true}}}
      - name: handler
        type: step.wait_for_approval
        config: {timeout: 200ms, on_timeout: approve}
      - {name: boom, type: step.fail, config: {message: "final failure"}}
"""


async def record_all(client: Client, directory: Path = HISTORIES) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    async with running_pipelines(client, GOLDEN_PIPELINES) as executor:
        release = await executor.start_pipeline("golden-release", {}, run="golden")
        await _approve_when_waiting(executor, release.id)
        await release.result()
        written.append(await _save(client, release.id, directory / "release.json"))
        child_id = "pipeline:golden-child:golden.child"
        written.append(await _save(client, child_id, directory / "child.json"))
        recovery = await executor.start_pipeline("golden-recovery", {}, run="golden")
        try:
            await recovery.result()
        except WorkflowFailureError:
            pass  # it ends in compensation on purpose
        written.append(await _save(client, recovery.id, directory / "recovery.json"))
    return written


async def record_named(client: Client, directory: Path = HISTORIES) -> list[Path]:
    async with running_pipelines(client, GOLDEN_PIPELINES) as executor:
        release = await executor.start_pipeline("golden-release", {}, run="named")
        await _approve_when_waiting(executor, release.id)
        await release.result()
        return [await _save(client, release.id, directory / "named.json")]


async def _approve_when_waiting(executor: PipelineExecutor, run_id: str) -> None:
    for _ in range(200):
        if await executor.pending_approvals(run_id):
            await executor.approve(run_id, "golden", "recorded")
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{run_id} never waited for its approval")


async def _save(client: Client, workflow_id: str, path: Path) -> Path:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    # Replay needs the id too: child workflow ids are derived from the parent's.
    recorded = {"workflow_id": workflow_id, "history": json.loads(history.to_json())}
    path.write_text(json.dumps(recorded, indent=1) + "\n")
    return path


async def _main(only: str) -> None:
    from tests.conftest import temporal_binary

    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_binary(),
        search_attributes=search_attributes.ALL,
    )
    try:
        recording = record_named(env.client) if only == "named" else record_all(env.client)
        for path in await recording:
            print(f"wrote {path}")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    import sys

    asyncio.run(_main(sys.argv[1] if len(sys.argv) > 1 else ""))
