"""The worker's log: an expected failure is one line naming the run and the step or resource;
a traceback only for a bug.

worker.py runs as a subprocess, as `make run` runs it, with a third-party step type installed
through a real `wfctl.steps` entry point (a dist-info folder on PYTHONPATH)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities.iac import iac_activities
from tests.iac_wf_support import Stack, start
from wfctl.client import PipelineExecutor
from wfctl.input_guard import guarded_worker
from wfctl.worker_logging import FailureLogInterceptor, OneLineFailures
from workflows.iac import IAC_WORKFLOWS

ROOT = Path(__file__).resolve().parent.parent
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")

PIPELINES = """
pipelines:
  checked:
    steps:
      - name: check
        type: step.validate
        config: {strategy: required_fields, required_fields: [order_id]}
  forgiving:
    steps:
      - name: check
        type: step.validate
        on_error: continue
        config: {strategy: required_fields, required_fields: [order_id]}
      - name: done
        type: step.set
        config: {values: {done: true}}
  buggy:
    steps:
      - name: explode
        type: test.explode
        retry: {max_attempts: 2, initial_interval: 100ms}
        config: {}
"""

PLUGIN = '''
from pydantic import BaseModel

from engine.step_registry import StepType


class Config(BaseModel):
    pass


async def execute(config, call):
    return {"half": 1 / 0}


EXPLODE = StepType(name="test.explode", config_model=Config, execute=execute, io=True)
'''


def install_plugin(folder: Path) -> None:
    """A third-party step type, registered as an installed package registers it."""
    (folder / "explode_plugin.py").write_text(PLUGIN)
    info = folder / "explode_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: explode-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[wfctl.steps]\nexplode = explode_plugin:EXPLODE\n")


@pytest.fixture
def worker_log(client: Client, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    queue = f"log-lines-{uuid.uuid4().hex[:8]}"
    (tmp_path / "pipelines.yaml").write_text(PIPELINES)
    install_plugin(tmp_path)
    log = tmp_path / "worker.log"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    with log.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py"), "--config", str(tmp_path / "pipelines.yaml"),
             "--address", client.service_client.config.target_host, "--task-queue", queue,
             "--no-iac", "--reload-interval", "0"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
        )  # fmt: skip
    try:
        yield queue, log
    finally:
        worker.terminate()
        worker.wait(30)


async def failed(executor: PipelineExecutor, name: str, data: dict[str, Any]) -> str:
    handle = await executor.start_pipeline(name, data)
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    return handle.id


def records(log: Path) -> list[str]:
    """The log's records: a line with a timestamp and whatever lines follow it (a traceback)."""
    found: list[str] = []
    for line in log.read_text().splitlines():
        if STAMP.match(line) or not found:
            found.append(line)
        else:
            found[-1] += "\n" + line
    return found


def of_run(log: Path, workflow_id: str) -> list[str]:
    return [record for record in records(log) if workflow_id in record]


async def test_expected_failures_are_one_line_and_a_bug_keeps_its_traceback(
    client: Client, worker_log: tuple[str, Path]
) -> None:
    queue, log = worker_log
    executor = PipelineExecutor(client, queue)
    # A step refusing its input fails the pipeline.
    checked = await failed(executor, "checked", {})
    # The same failure handled by on_error: continue.
    forgiving = await executor.start_pipeline("forgiving", {})
    assert (await forgiving.result())["done"] is True
    # Input that is not a pipeline run's.
    bad_input = f"pipeline:checked:{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        "PipelineWorkflow", {"data": {"order_id": 1}}, id=bad_input, task_queue=queue
    )
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    # A bug in a third-party step.
    buggy = await failed(executor, "buggy", {})

    refused = "ValidationFailed: validation failed (1 problem): missing required field 'order_id'"
    assert of_run(log, checked) == [
        AnyStamp(f'{checked}: step "check" (step.validate) failed: {refused}')
    ], records(log)
    assert of_run(log, forgiving.id) == [
        AnyStamp(f'{forgiving.id}: step "check" (step.validate) failed: {refused}')
    ], records(log)
    assert of_run(log, bad_input) == [
        AnyStamp(f"{bad_input}: PipelineWorkflow failed: InvalidInput: invalid PipelineWorkflow "
                 'input (pipeline: Field required); expected {"pipeline": NAME, "data": {...}}')
    ], records(log)
    bug = [record for record in of_run(log, buggy) if "Traceback" in record]
    assert len(bug) == 2, records(log)  # one per attempt
    assert all(
        'explode_plugin.py", line 12, in execute' in record
        and record.endswith("ZeroDivisionError: division by zero")
        for record in bug
    ), bug
    assert sum("Traceback" in record for record in records(log)) == 2, records(log)


async def test_a_cloud_refusing_a_create_is_one_line_naming_the_resource(
    client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stack = Stack(tmp_path, fail={"db": "quota exceeded for databases"}).add("db", "test.database")
    sdk_logger = logging.getLogger("temporalio.activity")
    one_line = OneLineFailures()
    sdk_logger.addFilter(one_line)
    queue = f"log-lines-{uuid.uuid4().hex[:8]}"
    try:
        with ThreadPoolExecutor(4) as executor:
            async with guarded_worker(
                client, task_queue=queue, workflows=IAC_WORKFLOWS,
                activities=iac_activities(client), activity_executor=executor,
                interceptors=[FailureLogInterceptor()],
            ):  # fmt: skip
                handle = await start(client, "ApplyWorkflow", queue, stack.document(
                    auto_approve=True))
                assert (await handle.result()).status == "failed"
    finally:
        sdk_logger.removeFilter(one_line)
    about = [r for r in caplog.records if handle.id in r.getMessage()]
    assert [(r.getMessage(), r.exc_info, r.exc_text) for r in about] == [(
        f'{handle.id}: stack "{stack.name}" resource "db" failed: ValidationError: '
        "create test.database db (test): ValidationError: quota exceeded for databases",
        None, None,
    )]


class AnyStamp(str):
    """A record equal to this text after its timestamp and logger name."""

    def __eq__(self, record: object) -> bool:
        return isinstance(record, str) and "\n" not in record and STAMP.sub("", record).split(
            " ", 1
        )[-1] == str(self)

    __hash__ = str.__hash__


def test_the_one_line_is_redacted_as_every_log_line_is() -> None:
    error = ApplicationError(
        "GET http://ada:hunter2@api.internal/x?token=s3cr3t 403", type="HttpError",
        non_retryable=True,
    )
    try:
        raise error
    except ApplicationError:
        record = logging.LogRecord("temporalio.activity", logging.WARNING, __file__, 1,
                                   "Completing activity as failed ({...})", None, sys.exc_info())
    record.temporal_activity = {"workflow_id": "pipeline:p:1", "attempt": 1}
    assert OneLineFailures().filter(record)
    assert record.getMessage() == (
        "pipeline:p:1 failed: HttpError: GET http://***@api.internal/x?token=*** 403"
    )
    assert record.exc_info is None and record.exc_text is None
