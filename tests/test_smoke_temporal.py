"""The dev server fixture works and the network guard refuses non-loopback addresses."""

import socket

import pytest
from temporalio.client import Client

from tests.network_guard import NonLoopbackConnection


async def test_dev_server_answers(client: Client) -> None:
    info = await client.service_client.workflow_service.get_system_info(
        __import__("temporalio.api.workflowservice.v1", fromlist=["x"]).GetSystemInfoRequest()
    )
    assert info.server_version


def test_network_guard_refuses_public_address() -> None:
    s = socket.socket()
    try:
        with pytest.raises(NonLoopbackConnection):
            s.connect(("93.184.216.34", 80))
    finally:
        s.close()
