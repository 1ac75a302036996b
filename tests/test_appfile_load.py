"""Application files (the spec engine's dialect): detection, metadata, imports, modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.appfile import is_application_file, load_application
from engine.appfile.loader import MAX_IMPORT_DEPTH
from interfaces.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "appfile"
DSL = FIXTURES / "dsl-reference"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_detection_tells_the_dialects_apart() -> None:
    assert is_application_file({"modules": []})
    assert is_application_file({"imports": ["a.yaml"]})
    assert is_application_file({"requires": {"plugins": []}})
    # The spec's pipelines-only snippet: its trigger is {type, config}.
    assert is_application_file(
        {"pipelines": {"p": {"trigger": {"type": "http", "config": {"path": "/x"}}}}}
    )
    # A native pipeline file and a stack file are not.
    assert not is_application_file(
        {"pipelines": {"p": {"trigger": {"type": "http", "path": "/x"}, "steps": []}}}
    )
    assert not is_application_file({"stack": "s", "resources": []})


def test_metadata_of_the_dsl_reference_application_example() -> None:
    app = load_application(DSL / "application.yaml")
    assert (app.name, app.version) == ("order-api", "2.1.0")
    assert app.description.startswith("REST API for order management")
    assert [p["name"] for p in app.requires["plugins"]] == [
        "workflow-plugin-http", "workflow-plugin-authz"]
    assert app.requires["capabilities"] == ["authorization", "http-serving"]


def test_http_server_address_and_the_port_alias(tmp_path: Path) -> None:
    assert load_application(FIXTURES / "infra-api.yaml").http_address == ":8094"
    path = write(tmp_path, "app.yaml", "modules:\n  - name: web\n    type: http.server\n"
                 "    config: {port: 9090}\n")
    assert load_application(path).http_address == ":9090"


def test_unknown_module_types_are_named_with_file_and_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_application(DSL / "modules.yaml")
    assert len(caught.value.problems) == 2
    assert caught.value.problems[0].startswith(
        f'{DSL / "modules.yaml"}:12: module "db": type "database.workflow" is not supported')
    assert f'{DSL / "modules.yaml"}:18: module "auth-jwt": type "auth.jwt"' in (
        caught.value.problems[1])
    app = load_application(DSL / "modules.yaml", skip_unknown=True)
    assert app.unsupported_modules == [("db", "database.workflow"), ("auth-jwt", "auth.jwt")]


def test_imports_merge_as_the_spec_documents() -> None:
    app = load_application(DSL / "main.yaml", skip_unknown=True)
    # Modules: the main file first, then each import in order.
    assert [m["name"] for m in app.modules] == ["app-server", "db", "event-broker"]
    assert app.sources["modules.db"] == DSL / "infrastructure" / "modules.yaml"
    assert app.lines["modules.event-broker"] == 8
    # Pipelines: the first definition wins (routes.yaml is imported before webhooks.yaml).
    assert app.pipelines["list-orders"]["trigger"]["config"]["path"] == "/orders"


def test_imports_dedupe_plugins_and_deep_merge_workflows(tmp_path: Path) -> None:
    write(tmp_path, "extra.yaml", "requires:\n  plugins: [{name: a}, {name: b}]\n"
          "workflows:\n  http:\n    server: other\n    routes: [{path: /b}]\n")
    main = write(tmp_path, "main.yaml", "imports: [extra.yaml]\nrequires:\n  plugins: "
                 "[{name: a, version: '>=1'}]\nworkflows:\n  http:\n    server: api\n")
    app = load_application(main, skip_unknown=True)
    assert app.requires["plugins"] == [{"name": "a", "version": ">=1"}, {"name": "b"}]
    assert app.workflows == {"http": {"server": "api", "routes": [{"path": "/b"}]}}


def test_a_module_name_twice_across_files_is_refused_with_both_places(tmp_path: Path) -> None:
    write(tmp_path, "infra.yaml", "modules:\n  - name: web\n    type: http.router\n")
    main = write(tmp_path, "main.yaml", "imports: [infra.yaml]\nmodules:\n"
                 "  - name: web\n    type: http.server\n    config: {address: ':1'}\n")
    with pytest.raises(ConfigError, match=r'infra.yaml:2: module "web": already declared at '
                       r'.*main.yaml:3'):
        load_application(main)


def test_a_cycle_of_imports_is_refused_with_its_chain(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "imports: [b.yaml]\nmodules: []\n")
    write(tmp_path, "b.yaml", "imports: [a.yaml]\n")
    with pytest.raises(ConfigError) as caught:
        load_application(tmp_path / "a.yaml")
    (problem,) = caught.value.problems
    a, b = (tmp_path / "a.yaml").resolve(), (tmp_path / "b.yaml").resolve()
    assert problem == f"{tmp_path / 'b.yaml'}: imports a.yaml: circular import: {a} -> {b} -> {a}"


def test_imports_nested_too_deep_are_refused(tmp_path: Path) -> None:
    for depth in range(MAX_IMPORT_DEPTH + 2):
        write(tmp_path, f"f{depth}.yaml", f"imports: [f{depth + 1}.yaml]\n")
    write(tmp_path, f"f{MAX_IMPORT_DEPTH + 2}.yaml", "modules: []\n")
    with pytest.raises(ConfigError, match=f"imports nest deeper than {MAX_IMPORT_DEPTH}"):
        load_application(tmp_path / "f0.yaml")


def test_a_missing_import_names_the_file_that_imports_it(tmp_path: Path) -> None:
    main = write(tmp_path, "main.yaml", "imports: [gone.yaml]\n")
    with pytest.raises(ConfigError, match=r"gone.yaml: cannot read application file.*"
                       r"\(imported from .*main.yaml\)"):
        load_application(main)


def test_a_module_without_a_type_says_where(tmp_path: Path) -> None:
    main = write(tmp_path, "main.yaml", "name: x\nmodules:\n  - name: web\n")
    with pytest.raises(ConfigError, match=r'main.yaml:3: module "web": needs a `type`'):
        load_application(main)


@pytest.mark.parametrize(("module", "said"), [
    ("config: [1, 2]", "config: a mapping of key to value"),
    ("dependsOn: 3", "dependsOn: a list of module names"),
    ("environments: prod",
     "environments: a mapping of environment name to {config: ...} or null"),
    ("environments: {prod: {config: [x]}}", "environments.prod: {config: {...}} or null"),
])
def test_a_misshapen_module_says_what_and_where(tmp_path: Path, module: str, said: str) -> None:
    main = write(tmp_path, "main.yaml", f"modules:\n  - name: db\n    type: infra.database\n"
                 f"    {module}\n")
    with pytest.raises(ConfigError) as caught:
        load_application(main)
    assert caught.value.problems == [f'{main}:2: module "db": {said}']


def test_lines_of_pipelines_and_their_steps() -> None:
    app = load_application(FIXTURES / "infra-api.yaml")
    text = (FIXTURES / "infra-api.yaml").read_text().splitlines()
    assert text[app.lines["pipelines.apply-infra"] - 1] == "  apply-infra:"
    assert text[app.lines["pipelines.apply-infra.steps.respond"] - 1].strip() == (
        "- name: respond")
    assert app.lines["pipelines.apply-infra.steps.respond"] > app.lines[
        "pipelines.apply-infra.steps.apply"]
