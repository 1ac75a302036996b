"""The pipeline config loader: every problem reported with file, pipeline and step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.step_catalog import default_registry
from engine.pipeline_config import (
    load_pipelines,
    parse_pipelines,
    parse_pipelines_text,
    pipeline_json_schema,
)
from interfaces.errors import ConfigError

REGISTRY = default_registry()
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_pipelines_text(text, "orders.yaml", REGISTRY)
    return info.value.problems


def test_examples_load() -> None:
    pipelines = load_pipelines(EXAMPLES, REGISTRY)
    assert {"hello", "order-intake", "order-lookup"} <= set(pipelines)
    assert pipelines["order-lookup"].io_types == ["step.http_call"]


def test_unknown_step_type_names_file_pipeline_and_step() -> None:
    problems = problems_of(
        "pipelines:\n  p:\n    steps:\n      - {name: a, type: step.nope}\n"
    )
    assert len(problems) == 1
    assert problems[0].startswith('orders.yaml: pipeline "p": step "a": unknown step type')
    assert "step.set" in problems[0]


def test_missing_field_and_bad_duration_are_located() -> None:
    problems = problems_of(
        """
pipelines:
  p:
    steps:
      - {name: a, type: step.set, config: {values: {x: 1}}, timeout: soon}
      - {type: step.set, config: {values: {}}}
"""
    )
    text = "\n".join(problems)
    assert 'pipeline "p": step "a": timeout' in text and "soon" in text
    assert 'pipeline "p": step #2: name: Field required' in text


def test_duplicate_step_names_and_missing_jump_targets() -> None:
    problems = problems_of(
        """
pipelines:
  p:
    steps:
      - {name: a, type: step.set, config: {values: {x: 1}}}
      - {name: a, type: step.set, config: {values: {x: 2}}}
      - name: r
        type: step.conditional
        config: {field: x, routes: {"1": nowhere}, default: a}
"""
    )
    assert 'orders.yaml: pipeline "p": step "a": duplicate step name' in problems
    assert 'orders.yaml: pipeline "p": step "r": jumps to step "nowhere", which does not exist' in (
        problems
    )


def test_step_config_errors_and_template_syntax() -> None:
    problems = problems_of(
        """
pipelines:
  p:
    steps:
      - {name: a, type: step.http_call, config: {method: GET}}
      - {name: b, type: step.set, config: {values: {x: "{{ broken + }}"}}}
      - {name: c, type: step.set, if: "amount >", config: {values: {y: 1}}}
"""
    )
    text = "\n".join(problems)
    assert 'step "a": config.url: Field required' in text
    assert 'step "b": config.values.x' in text
    assert 'step "c": if:' in text


def test_invalid_yaml_reports_the_line() -> None:
    problems = problems_of("pipelines:\n  p:\n    steps: [\n")
    assert problems[0].startswith("orders.yaml:") and "invalid YAML" in problems[0]
    assert "invalid YAML" in problems_of("when: 2020-13-45\n")[0]
    assert "invalid YAML" in problems_of("a: !!python/object:os.system x\n")[0]


def test_duplicate_pipeline_across_files(tmp_path: Path) -> None:
    body = (
        "pipelines:\n  same:\n    steps:\n"
        "      - {name: a, type: step.set, config: {values: {}}}\n"
    )
    (tmp_path / "one.yaml").write_text(body)
    (tmp_path / "two.yaml").write_text(body)
    (tmp_path / "stack.yaml").write_text("stack: not-a-pipeline-file\n")
    with pytest.raises(ConfigError) as info:
        load_pipelines(tmp_path, REGISTRY)
    assert 'two.yaml: pipeline "same" is already defined in' in info.value.problems[0]


def test_json_schema_describes_each_step_type() -> None:
    schema = pipeline_json_schema(REGISTRY)
    text = json.dumps(schema)
    for name in REGISTRY.names():
        assert f'"const": "{name}"' in text
    assert schema["title"] == "wfctl pipelines"


# Documents built from the loader's own vocabulary hit deep paths more often than random text.
KEYS = st.sampled_from(
    ["pipelines", "steps", "name", "type", "config", "values", "timeout", "retry", "if",
     "skip_if", "on_error", "compensation", "routes", "field", "max_attempts", "p", "x"]
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12),
    st.sampled_from(["step.set", "step.conditional", "step.http_call", "10s", "{{ x }}",
                     "{{ bad +", "stop", "skip", "compensate", "-1s"]),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(KEYS, st.integers()), children, max_size=5),
    ),
    max_leaves=30,
)


# `make test` draws a hundred documents per run (new ones each time); the soak run a thousand.
def parses_or_config_error(document: object) -> None:
    try:
        parse_pipelines(document, "random.yaml", REGISTRY)
    except ConfigError:
        pass


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_random_documents_raise_only_config_errors(document: object) -> None:
    parses_or_config_error(document)


@pytest.mark.soak
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_many_random_documents_raise_only_config_errors(document: object) -> None:
    parses_or_config_error(document)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_raises_only_config_errors(text: str) -> None:
    try:
        parse_pipelines_text(text, "random.yaml", REGISTRY)
    except ConfigError:
        pass


def round_trips_or_config_error(document: object) -> None:
    try:
        text = yaml.safe_dump({"pipelines": document})
    except yaml.YAMLError:
        return
    try:
        parse_pipelines_text(text, "random.yaml", REGISTRY)
    except ConfigError:
        pass


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_random_yaml_round_trip_raises_only_config_errors(document: object) -> None:
    round_trips_or_config_error(document)


@pytest.mark.soak
@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_many_random_yaml_round_trips_raise_only_config_errors(document: object) -> None:
    round_trips_or_config_error(document)
