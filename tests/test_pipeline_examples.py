"""The examples run end to end on the real dev server with the results the README shows."""

from temporalio.client import Client

from tests.pipeline_harness import EXAMPLES, running_pipelines


async def test_hello(client: Client) -> None:
    async with running_pipelines(client, EXAMPLES) as executor:
        assert await executor.execute_pipeline("hello", {"name": "Ada"}) == {
            "greeting": "Hello, Ada!"
        }
