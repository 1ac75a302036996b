"""Shared fixtures: the network guard and one real Temporal dev server per test run."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests import network_guard
from wfctl.dev import temporal_binary
from workflows import search_attributes

network_guard.install()

# Cloud SDKs must never find real credentials or regions on a developer's machine.
for _var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "GOOGLE_APPLICATION_CREDENTIALS"):
    os.environ.pop(_var, None)

PG_DSN = os.environ.get("WFCTL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_binary(),
        search_attributes=search_attributes.ALL,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture(autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative SQLite state paths (statestore.factory) land in a folder of the test's own,
    never in the checkout; in-process workers and the CLI share it, as on one machine."""
    monkeypatch.setenv("WFCTL_STATE_DIR", str(tmp_path_factory.mktemp("state")))
