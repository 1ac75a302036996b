"""Messages that say what to do: where a DigitalOcean token must be, what `--data` reads, the
closest known name to a mistyped resource or step type."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from temporalio.client import Client
from typer.testing import CliRunner

from activities.step_catalog import default_registry
from engine.pipeline_config import load_pipelines
from interfaces.errors import ConfigError
from tests.iac_wf_support import Stack, iac_worker
from tests.test_iac_wf_cli import wfctl
from wfctl.cli import app, parse_data


async def test_a_missing_digitalocean_token_is_the_workers_to_set(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIGITALOCEAN_TOKEN", raising=False)
    stack = {
        "stack": "do-token", "state": {"backend": "sqlite", "path": str(tmp_path / "s.db")},
        "providers": {"do": {"type": "digitalocean", "region": "nyc3"}},
        "resources": [{"name": "net", "type": "infra.vpc", "provider": "do"}],
    }  # fmt: skip
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(stack))
    async with iac_worker(client) as queue:
        planned = await wfctl(client, queue, "plan", "-f", str(path))
    assert planned.exit_code == 1
    assert planned.stderr.strip().splitlines()[-1] == (
        "Error: plan stack do-token: digitalocean provider: no API token in $DIGITALOCEAN_TOKEN "
        "in the worker's environment; set it where the worker runs (the shell of `make run` / "
        "`wfctl dev`, or the worker's container) and restart the worker"
    ), planned.output


def test_data_help_says_json_or_yaml_and_both_are_read(tmp_path: Path) -> None:
    shown = CliRunner().invoke(app, ["pipeline", "run", "--help"], env={"COLUMNS": "200"})
    assert "the run's input: a JSON or YAML object, or @file" in shown.output, shown.output
    assert parse_data('{"name": "Ada"}') == parse_data("name: Ada") == {"name": "Ada"}
    (tmp_path / "order.yaml").write_text("order_id: A-1\namount: 250\n")
    assert parse_data(f"@{tmp_path / 'order.yaml'}") == {"order_id": "A-1", "amount": 250}


async def test_a_mistyped_resource_type_names_the_closest_one(
    client: Client, tmp_path: Path
) -> None:
    stack = Stack(tmp_path).add("db", "test.databse").add("q", "test.queue")
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(stack.document()))
    async with iac_worker(client) as queue:
        planned = await wfctl(client, queue, "plan", "-f", str(path))
    assert planned.exit_code == 1
    supported = "test; supported: test.database, test.network, test.thing"
    assert (
        f'resource "db": type "test.databse" is not supported by provider "main" ({supported}); '
        'did you mean "test.database"?' in planned.stderr
    ), planned.output
    # Nothing close: no guess.
    assert f'resource "q": type "test.queue" is not supported by provider "main" ({supported})'\
        in planned.stderr
    assert 'did you mean "test.' not in planned.stderr.split('resource "q"')[1]


def test_a_mistyped_step_type_names_the_closest_one(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "pipelines:\n  p:\n    steps:\n"
        "      - {name: a, type: step.valdate, config: {}}\n"
        "      - {name: b, type: step.nope, config: {}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_pipelines(path, default_registry())
    first, second = caught.value.problems
    assert first.startswith(
        f'{path}: pipeline "p": step "a": unknown step type "step.valdate"; did you mean '
        '"step.validate"? (known: '
    ), first
    assert second.startswith(f'{path}: pipeline "p": step "b": unknown step type "step.nope" '
                             "(known: "), second
