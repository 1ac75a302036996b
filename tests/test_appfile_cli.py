"""`wfctl validate` and `wfctl convert` on application files, the DSL reference's among them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.iac.stack import load_stack_file
from wfctl.appfile_cli import _unknown_step_types
from wfctl.cli import app

FIXTURES = Path(__file__).parent / "fixtures" / "appfile"
DSL = FIXTURES / "dsl-reference"
# The spec's steps that the pipeline converter brings (engine.appfile.pipelines): until it is
# in the build, validate names them; nothing else of the DSL reference may be unknown.
CONVERTER_STEPS = {"step.json_response", "step.response", "step.request_parse", "step.gate"}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(("snippet", "unsupported"), [
    ("application.yaml", []),
    ("typed-iac.yaml", []),
    ("iac-provider.yaml", []),
    # Its event trigger has no source in wfctl (--skip-unknown-types: the pipeline stays,
    # untriggered).
    ("triggers.yaml", ['pipeline "on-user-created": trigger type event: no event source']),
    ("modules.yaml", ['module "db": type "database.workflow"',
                      'module "auth-jwt": type "auth.jwt"']),
    ("main.yaml", ['module "db": type "database.workflow"',
                   'module "event-broker": type "messaging.broker"']),
    ("workflows-http.yaml", ["workflows.http ", "workflows.messaging ", "workflows.statemachine "]),
    ("workflows-http-2.yaml", ["workflows.http "]),
    ("workflows-messaging.yaml", ["workflows.messaging "]),
    ("workflows-statemachine.yaml", ["workflows.statemachine "]),
    ("workflows-events.yaml", ["workflows.event "]),
    ("config-reference.yaml", []),
    ("config-provider.yaml", ['module "app-config": type "config.provider"',
                              'module "db": type "database.workflow"',
                              'module "auth-jwt": type "auth.jwt"']),
    *((name, []) for name in (
        "platform.yaml", "ci.yaml", "environments.yaml", "secret-stores.yaml",
        "secrets-multi-store.yaml", "secrets.yaml", "services.yaml", "mesh.yaml",
        "networking.yaml", "security.yaml")),
])
def test_validate_on_the_dsl_reference_snippets(snippet: str, unsupported: list[str]) -> None:
    code, output = run("validate", str(DSL / snippet))
    errors = [line for line in output.splitlines() if line.startswith("error:")
              and "step type" not in line]
    assert len(errors) == len(unsupported), output
    for error, expected in zip(errors, unsupported, strict=True):
        assert expected in error
    if not unsupported and not [line for line in output.splitlines() if "step type" in line]:
        assert code == 0, output
        return
    code, output = run("validate", "--skip-unknown-types", str(DSL / snippet))
    assert code == 0, output


def test_the_dsl_reference_uses_no_step_type_wfctl_lacks_but_the_converters() -> None:
    from engine.appfile import load_application

    found: set[str] = set()
    for snippet in sorted(DSL.glob("*.yaml")):
        found |= set(_unknown_step_types(load_application(snippet, skip_unknown=True)))
    assert found <= CONVERTER_STEPS


def test_validate_prints_stacks_resources_pipelines_and_notes() -> None:
    code, output = run("validate", "--skip-unknown-types", str(FIXTURES / "infra-api.yaml"))
    assert code == 0, output
    assert "application infra-api 1.0.0" in output
    assert "http server on :8094" in output
    assert ("stack infra-api: 3 resources: network (infra.vpc), orders-db (infra.database), "
            "orders-svc (infra.container_service)") in output
    assert "4 pipelines: plan-infra, apply-infra, infra-status, destroy-infra" in output
    assert "note: orders-db placed in network network (the stack's only infra.vpc)" in output


def test_validate_env_names_the_stack_of_the_environment() -> None:
    code, output = run("validate", "--env", "prod", str(FIXTURES / "multi-env.yaml"))
    assert code == 0, output
    assert "stack bmw-prod: 4 resources" in output


def test_validate_names_a_type_the_provider_does_not_have(tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text("modules:\n  - name: do\n    type: iac.provider\n    config: {provider: "
                    "digitalocean}\n  - name: keys\n    type: infra.spaces_key\n")
    code, output = run("validate", str(path))
    assert code == 1
    assert (f'{path}:5: stack "app": resource "keys": type "infra.spaces_key" is not supported '
            'by provider "do"') in output


def test_convert_writes_a_stack_file_with_each_dropped_key_as_a_comment(tmp_path: Path) -> None:
    code, output = run("convert", str(FIXTURES / "every-key.yaml"), "--out", str(tmp_path))
    assert code == 0, output
    written = tmp_path / "every-key-stack.yaml"
    text = written.read_text()
    lines = text.splitlines()
    comment = lines.index("# dropped: healthCheck: an ECS service here has no health check of "
                          "its own; give the infra.load_balancer in front of it `healthCheck: "
                          "{path}`")
    assert lines[comment + 1] == "- name: app"
    doc = load_stack_file(written)
    assert [r.name for r in doc.resources][:3] == ["net", "web-fw", "db"]
    assert doc.resource("db").config["multi_az"] is True


def test_convert_refuses_a_native_file(tmp_path: Path) -> None:
    code, output = run("convert", "examples/hello.yaml", "--out", str(tmp_path))
    assert code == 2 and "is not an application file" in output


def test_the_readmes_before_and_after_agree(tmp_path: Path) -> None:
    import re

    import yaml

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Coming from GoCodeAlone/workflow"):]
    before, after = re.findall(r"```yaml\n(.*?)```", section, re.S)[:2]
    (tmp_path / "app.yaml").write_text(before)
    code, output = run("convert", str(tmp_path / "app.yaml"), "--out", str(tmp_path / "out"))
    assert code == 0, output
    written = (tmp_path / "out" / "shop-stack.yaml").read_text()
    assert yaml.safe_load(written) == yaml.safe_load(after)
    assert after.splitlines()[0] in written


def test_validate_names_an_iac_step_acting_on_what_is_no_resource(tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    text = (FIXTURES / "infra-api.yaml").read_text().replace("platform: orders-db",
                                                             "platform: api-server")
    path.write_text(text)
    code, output = run("validate", "--skip-unknown-types", str(path))
    assert code == 1
    # The line of the step, not of its pipeline (74).
    assert (f'{path}:81: pipeline "plan-infra": step "plan": step.iac_plan: platform '
            "'api-server' is not an infra.* module") in output


def test_sections_wfctl_does_not_read_are_named() -> None:
    code, output = run("validate", str(DSL / "platform.yaml"))
    assert code == 0, output
    for section in ("platform", "infrastructure", "sidecars"):
        assert f"warning: top-level section {section} is not read by wfctl" in output
    code, output = run("validate", "--env", "staging", str(DSL / "environments.yaml"))
    assert code == 0, output
    assert ("warning: environments.staging: exposure, secretsPrefix, secretsProvider not read "
            "by wfctl (it reads provider and region)") in output


def test_every_dsl_reference_snippet_is_covered() -> None:
    covered = {"application.yaml", "typed-iac.yaml", "iac-provider.yaml", "triggers.yaml",
               "pipelines.yaml", "modules.yaml", "main.yaml"}
    covered |= {p.name for p in DSL.glob("workflows-*.yaml")}
    covered |= {"config-reference.yaml", "config-provider.yaml", "platform.yaml", "ci.yaml",
                "environments.yaml", "secret-stores.yaml", "secrets-multi-store.yaml",
                "secrets.yaml", "services.yaml", "mesh.yaml", "networking.yaml",
                "security.yaml"}
    assert {p.name for p in DSL.glob("*.yaml")} == covered
