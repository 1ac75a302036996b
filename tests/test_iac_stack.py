"""Stack documents: parsing, validation messages, references."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.iac.references import (
    UnresolvedReference,
    find_references,
    resolve_known,
    resolve_references,
)
from engine.iac.stack import (
    StackDocument,
    load_stack_file,
    parse_stack,
    validate_stack,
)
from interfaces.errors import ConfigError
from interfaces.iac import CapabilityDeclaration, Size

ISSUE_EXAMPLE = """\
stack: shop-prod
state: {backend: sqlite, path: .data/state.db}   # or {backend: postgres, dsn_env: WFCTL_STATE_DSN}
providers:
  aws: {type: aws, region: eu-west-1}             # provider config; never credentials
resources:
  - name: net
    type: infra.vpc
    provider: aws
    config: {cidr: 10.0.0.0/16}
  - name: orders-db
    type: infra.database
    provider: aws
    size: m
    hints: {storage: 200Gi}
    config: {engine: postgres, version: "16", vpc_id: "${net.outputs.vpc_id}"}
    depends_on: [net]          # references like ${net.outputs.x} add the edge too
    protected: true            # replace/delete refused unless explicitly allowed
    lifecycle: {create_before_destroy: false, ignore_changes: [tags]}
"""

CAPABILITIES = {
    "aws": [
        CapabilityDeclaration(resource_type="infra.vpc"),
        CapabilityDeclaration(resource_type="infra.database"),
    ]
}


def stack(*resources: dict[str, Any], **top: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "stack": "shop",
        "providers": {"aws": {"type": "aws", "region": "eu-west-1"}},
        "resources": list(resources),
    }
    document.update(top)
    return document


def res(name: str, type_: str = "infra.vpc", **fields: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "provider": "aws", **fields}


def problems_of(data: dict[str, Any], capabilities: Any = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate_stack(parse_stack(data, "shop.yaml"), capabilities or CAPABILITIES, "shop.yaml")
    return caught.value.problems


def test_issue_example_parses_and_validates(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(ISSUE_EXAMPLE)
    doc = load_stack_file(path)
    validate_stack(doc, CAPABILITIES, str(path))
    assert doc.stack == "shop-prod"
    assert doc.state.backend == "sqlite"
    assert doc.providers["aws"].type == "aws"
    assert doc.providers["aws"].model_extra == {"region": "eu-west-1"}
    db = doc.resource("orders-db")
    assert db.size is Size.M
    assert db.hints is not None and db.hints.storage == "200Gi"
    assert db.protected is True
    assert db.lifecycle.ignore_changes == ["tags"]
    assert db.config["vpc_id"] == "${net.outputs.vpc_id}"
    assert list(doc.by_name) == ["net", "orders-db"]


def test_json_input_has_the_same_shape(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(ISSUE_EXAMPLE)
    doc = load_stack_file(path)
    round_tripped = StackDocument.model_validate_json(doc.model_dump_json())
    assert round_tripped == doc
    json_file = tmp_path / "shop.json"
    json_file.write_text(json.dumps(json.loads(doc.model_dump_json())))
    assert load_stack_file(json_file) == doc
    assert "by_name" not in doc.model_dump()


def test_parse_accepts_a_document_as_is() -> None:
    doc = parse_stack(stack(res("net")))
    assert parse_stack(doc) is doc


def test_single_provider_is_the_default() -> None:
    doc = parse_stack(stack({"name": "net", "type": "infra.vpc"}))
    assert doc.resource("net").provider == "aws"


def test_resource_lookup_names_the_missing_resource() -> None:
    doc = parse_stack(stack(res("net")))
    with pytest.raises(KeyError, match='no resource "nope"'):
        doc.resource("nope")


def test_unknown_size_names_resource_and_lists_sizes() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_stack(stack(res("orders-db", "infra.database", size="huge")), "shop.yaml")
    assert caught.value.problems == [
        'shop.yaml: resource "orders-db": unknown size "huge" (xs, s, m, l, xl)'
    ]


def test_shape_problems_are_all_collected_and_named() -> None:
    data = stack(
        res("a", size="huge"),
        {"name": "b", "type": "infra.vpc", "provider": "aws", "depend_on": ["a"]},
        {"type": "infra.vpc", "provider": "aws"},
        res("c", hints={"storge": "1Gi"}),
        res("d", lifecycle={"ignore_changes": "tags"}),
    )
    with pytest.raises(ConfigError) as caught:
        parse_stack(data, "shop.yaml")
    problems = caught.value.problems
    assert 'shop.yaml: resource "a": unknown size "huge" (xs, s, m, l, xl)' in problems
    assert 'shop.yaml: resource "b": depend_on: unknown field' in problems
    assert "shop.yaml: resource #3: name: Field required" in problems
    assert 'shop.yaml: resource "c": unknown hint "storge" (cpu, memory, storage)' in problems
    assert any(p.startswith('shop.yaml: resource "d": lifecycle.ignore_changes:') for p in problems)
    assert len(problems) == 5


def test_provider_credentials_are_refused() -> None:
    data = stack(
        providers={
            "aws": {"type": "aws", "region": "eu-west-1", "secret_access_key": "x"},
            "do": {"type": "digitalocean", "auth": {"api-token": "y"}},
        }
    )
    with pytest.raises(ConfigError) as caught:
        parse_stack(data, "shop.yaml")
    aws, do = caught.value.problems
    assert aws.startswith('shop.yaml: provider "aws": secret_access_key looks like a credential')
    assert "credential chain" in aws
    assert do.startswith('shop.yaml: provider "do": auth.api-token looks like a credential')


def test_postgres_state_needs_a_dsn() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_stack(stack(state={"backend": "postgres"}), "shop.yaml")
    assert caught.value.problems == [
        "shop.yaml: state: backend postgres needs dsn_env (preferred) or dsn"
    ]
    doc = parse_stack(stack(state={"backend": "postgres", "dsn_env": "WFCTL_STATE_DSN"}))
    assert doc.state.dsn_env == "WFCTL_STATE_DSN"


@pytest.mark.parametrize("dsn", [
    "postgresql://app:pw-4711@db/state",
    "postgres://app@db/state?sslmode=require&password=pw-4711",
    "host=db user=app password=pw-4711 dbname=state",
])
def test_a_state_dsn_with_a_password_is_refused(dsn: str) -> None:
    """The stack document travels as a workflow input: the password would be in history."""
    with pytest.raises(ConfigError) as caught:
        parse_stack(stack(state={"backend": "postgres", "dsn": dsn}), "shop.yaml")
    [problem] = caught.value.problems
    assert problem.startswith("shop.yaml: state: dsn holds a password")
    assert "dsn_env" in problem and "pw-4711" not in problem


def test_a_password_less_state_dsn_is_accepted() -> None:
    dsn = "postgresql://app@db/state?sslmode=require"
    assert parse_stack(stack(state={"backend": "postgres", "dsn": dsn})).state.dsn == dsn


def test_not_a_mapping() -> None:
    with pytest.raises(ConfigError, match=r"shop.yaml: a stack document is a mapping, got list"):
        parse_stack([], "shop.yaml")


def test_unknown_provider_key() -> None:
    problems = problems_of(stack(res("net", provider="gcp")))
    assert problems == ['shop.yaml: resource "net": unknown provider "gcp" (declared: aws)']


def test_unsupported_resource_type() -> None:
    problems = problems_of(stack(res("q", "infra.queue")))
    assert problems == [
        'shop.yaml: resource "q": type "infra.queue" is not supported by provider "aws" '
        "(aws; supported: infra.database, infra.vpc)"
    ]


def test_a_spec_type_the_cloud_lacks_is_not_offered_by_it() -> None:
    problems = problems_of(stack(res("edge", "infra.cdn"), res("key", "infra.secret")))
    assert problems == [
        'shop.yaml: resource "edge": infra.cdn is not offered by aws (provider "aws"; it '
        "offers: infra.database, infra.vpc)",
        'shop.yaml: resource "key": infra.secret is not offered by aws (provider "aws"; it '
        "offers: infra.database, infra.vpc)",
    ]


def test_provider_without_capabilities_is_not_type_checked() -> None:
    validate_stack(parse_stack(stack(res("q", "infra.queue"))), {})


def test_duplicate_names() -> None:
    problems = problems_of(stack(res("net"), res("db", "infra.database"), res("net")))
    assert problems == ['shop.yaml: resource "net": duplicate name (resources #1 and #3)']


def test_bad_resource_and_stack_names() -> None:
    problems = problems_of(stack(res("a.b"), stack="Shop Prod"))
    assert problems[0].startswith('shop.yaml: stack name "Shop Prod" must be lowercase')
    assert problems[1].startswith('shop.yaml: resource "a.b": name must be letters')


def test_unknown_dependencies_and_references() -> None:
    problems = problems_of(
        stack(res("db", "infra.database", depends_on=["nett"], config={"vpc": "${net.outputs.id}"}))
    )
    assert problems == [
        'shop.yaml: resource "db": depends_on names unknown resource "nett"',
        'shop.yaml: resource "db": reference ${net.outputs.id} names unknown resource "net"',
    ]


def test_self_dependency() -> None:
    problems = problems_of(stack(res("net", depends_on=["net"], config={"x": "${net.outputs.y}"})))
    assert problems == [
        'shop.yaml: resource "net": depends on itself',
        'shop.yaml: resource "net": reference ${net.outputs.y} points at itself',
    ]


def test_cycle_is_named() -> None:
    problems = problems_of(
        stack(
            res("a", depends_on=["b"]),
            res("b", config={"x": "${c.outputs.id}"}),
            res("c", depends_on=["a"]),
            res("d"),
        )
    )
    assert problems == ["shop.yaml: dependency cycle: a -> b -> c -> a"]


def test_every_cycle_is_named_once() -> None:
    problems = problems_of(
        stack(
            res("a", depends_on=["b"]),
            res("b", depends_on=["a"]),
            res("c", depends_on=["d"]),
            res("d", depends_on=["c", "a"]),
        )
    )
    assert problems == [
        "shop.yaml: dependency cycle: a -> b -> a",
        "shop.yaml: dependency cycle: c -> d -> c",
    ]


def test_load_reports_invalid_yaml_with_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("stack: shop\nresources:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"^{path}:4:1: invalid YAML: "):
        load_stack_file(path)


def test_load_refuses_duplicate_keys(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("stack: shop\nproviders: {}\nstack: other\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3:1: invalid YAML: found duplicate key"):
        load_stack_file(path)


def test_load_reports_an_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match=rf"^{missing}: cannot read stack file"):
        load_stack_file(missing)


# --- references ------------------------------------------------------------------------------

OUTPUTS = {
    "net": {"vpc_id": "vpc-1", "subnets": ["s-1", "s-2"], "port": 5432},
    "db": {"endpoint": {"host": "db.local", "port": 5432}, "dotted.key": "yes"},
}


def test_find_references_in_nested_config() -> None:
    config = {
        "vpc": "${net.outputs.vpc_id}",
        "urls": ["postgres://${db.outputs.endpoint.host}:${db.outputs.endpoint.port}/x"],
        "nested": {"deeper": [{"v": "${ net.outputs.subnets }"}]},
        "shell": "echo ${HOME}",
        "n": 3,
    }
    assert find_references(config) == {
        ("net", "vpc_id"),
        ("db", "endpoint.host"),
        ("db", "endpoint.port"),
        ("net", "subnets"),
    }


def test_whole_value_reference_keeps_native_type() -> None:
    config = {"subnets": "${net.outputs.subnets}", "port": "${net.outputs.port}"}
    assert resolve_references(config, OUTPUTS) == {"subnets": ["s-1", "s-2"], "port": 5432}


def test_embedded_reference_is_rendered_into_the_string() -> None:
    config = {
        "url": "postgres://${db.outputs.endpoint.host}:${db.outputs.endpoint.port}/app",
        "list": "subnets=${net.outputs.subnets}",
        "first": "${net.outputs.subnets.0}",
        "dotted": "${db.outputs.dotted.key}",
    }
    assert resolve_references(config, OUTPUTS) == {
        "url": "postgres://db.local:5432/app",
        "list": 'subnets=["s-1", "s-2"]',
        "first": "s-1",
        "dotted": "yes",
    }


def test_resolve_leaves_the_input_alone() -> None:
    config = {"a": ["${net.outputs.vpc_id}"]}
    resolved = resolve_references(config, OUTPUTS)
    assert resolved == {"a": ["vpc-1"]}
    assert config == {"a": ["${net.outputs.vpc_id}"]}


def test_missing_output_names_resource_and_key() -> None:
    with pytest.raises(UnresolvedReference) as caught:
        resolve_references({"x": "id=${net.outputs.nope}"}, OUTPUTS)
    assert (caught.value.resource, caught.value.key) == ("net", "nope")
    assert str(caught.value) == 'reference ${net.outputs.nope}: resource "net" has no output "nope"'
    assert isinstance(caught.value, ConfigError)
    with pytest.raises(UnresolvedReference, match='resource "cache" has no recorded outputs'):
        resolve_references("${cache.outputs.url}", OUTPUTS)


def test_resolve_known_keeps_unknown_references() -> None:
    config = {
        "vpc": "${net.outputs.vpc_id}",
        "later": "${cache.outputs.url}",
        "mixed": "${net.outputs.vpc_id}/${cache.outputs.url}",
    }
    assert resolve_known(config, OUTPUTS) == {
        "vpc": "vpc-1",
        "later": "${cache.outputs.url}",
        "mixed": "vpc-1/${cache.outputs.url}",
    }


def test_a_misspelt_reference_is_named() -> None:
    problems = problems_of(
        stack(
            res("net"),
            res("db", config={"vpc": "${net.output.vpc_id}", "shell": "echo ${HOME} ${x.y}"}),
        )
    )
    assert problems == [
        'shop.yaml: resource "db": ${net.output.vpc_id} is not a valid reference '
        "(the form is ${<resource>.outputs.<key>})"
    ]


def test_by_name_follows_a_replaced_resource_list() -> None:
    doc = parse_stack(stack(res("net")))
    assert list(doc.by_name) == ["net"]
    more = [*doc.resources, *parse_stack(stack(res("db"))).resources]
    copied = doc.model_copy(update={"resources": more})
    assert list(copied.by_name) == ["net", "db"]
    assert list(doc.by_name) == ["net"]
    doc.resources = []
    assert doc.by_name == {}
