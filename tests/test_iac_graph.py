"""The dependency graph: edges, cycles, orders, closure, critical path."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.iac.graph import (
    closure,
    critical_path_length,
    dependencies,
    dependents,
    find_cycle,
    find_cycles,
    reverse_order,
    topological_order,
)
from interfaces.errors import ConfigError
from interfaces.iac import ResourceSpec


def spec(name: str, *depends_on: str, **config: object) -> ResourceSpec:
    return ResourceSpec(name=name, type="infra.vpc", depends_on=list(depends_on), config=config)


def test_dependencies_join_depends_on_and_references() -> None:
    deps = dependencies(
        [
            spec("net"),
            spec("sg", "net"),
            spec("db", "net", subnet="${net.outputs.subnet}", rules=["${sg.outputs.id}"]),
        ]
    )
    assert deps == {"net": set(), "sg": {"net"}, "db": {"net", "sg"}}
    assert list(deps) == ["net", "sg", "db"]


def test_dependents_invert_edges() -> None:
    assert dependents({"a": set(), "b": {"a"}, "c": {"a", "b"}}) == {
        "a": {"b", "c"},
        "b": {"c"},
        "c": set(),
    }


def test_topological_order_breaks_ties_by_declaration() -> None:
    deps = {"z": {"m"}, "a": set(), "m": set(), "b": {"a"}}
    assert topological_order(deps) == ["a", "m", "z", "b"]


def test_edges_outside_the_graph_are_ignored() -> None:
    assert topological_order({"a": {"gone"}, "b": {"a"}}) == ["a", "b"]


def test_reverse_order_puts_dependents_first() -> None:
    deps = {"net": set(), "sg": {"net"}, "db": {"net", "sg"}, "cache": {"net"}}
    assert reverse_order(deps) == ["db", "sg", "cache", "net"]


def test_topological_order_refuses_a_cycle_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"dependency cycle: a -> b -> a"):
        topological_order({"a": {"b"}, "b": {"a"}, "c": set()})


def test_find_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    assert find_cycle({"x": set(), "b": {"c"}, "c": {"d"}, "d": {"b"}}) == ["b", "c", "d", "b"]


def test_find_cycles_reports_one_per_component() -> None:
    deps = {"a": {"b"}, "b": {"a", "c"}, "c": {"b"}, "d": {"d"}, "e": {"a"}}
    assert find_cycles(deps) == [["a", "b", "a"], ["d", "d"]]


def test_a_long_chain_needs_no_recursion() -> None:
    count = 20_000
    deps = {f"r{i}": ({f"r{i - 1}"} if i else set()) for i in range(count)}
    assert find_cycle(deps) is None
    assert topological_order(deps)[-1] == f"r{count - 1}"
    deps["r0"] = {f"r{count - 1}"}
    cycle = find_cycle(deps)
    assert cycle is not None and len(cycle) == count + 1


def test_closure_is_targets_plus_their_dependencies() -> None:
    deps = {"net": set(), "sg": {"net"}, "db": {"sg"}, "app": {"db"}, "other": set()}
    assert closure(deps, ["db"]) == {"db", "sg", "net"}
    assert closure(deps, ["other", "sg"]) == {"other", "sg", "net"}
    assert closure(deps, []) == set()


def test_critical_path_length() -> None:
    deps = {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}, "e": set()}
    cost = {"a": 1.0, "b": 5.0, "c": 2.0, "d": 1.0, "e": 6.0}
    assert critical_path_length(deps, cost) == 7.0
    assert critical_path_length(deps, {}) == 0.0
    assert critical_path_length({}, {}) == 0.0


@st.composite
def dags(draw: st.DrawFn) -> dict[str, set[str]]:
    """Random DAGs: node i may only depend on nodes before it, declared in a shuffled order."""
    count = draw(st.integers(min_value=0, max_value=30))
    names = [f"n{i}" for i in range(count)]
    deps = {
        name: set(draw(st.lists(st.sampled_from(names[:i]), max_size=4))) if i else set()
        for i, name in enumerate(names)
    }
    declared = draw(st.permutations(names))
    return {name: deps[name] for name in declared}


@settings(max_examples=200, deadline=None)
@given(dags())
def test_every_dependency_comes_first(deps: dict[str, set[str]]) -> None:
    order = topological_order(deps)
    assert sorted(order) == sorted(deps)
    position = {name: i for i, name in enumerate(order)}
    for name, needs in deps.items():
        assert all(position[need] < position[name] for need in needs)
    reverse = {name: i for i, name in enumerate(reverse_order(deps))}
    for name, needs in deps.items():
        assert all(reverse[need] > reverse[name] for need in needs)
    assert find_cycle(deps) is None


@settings(max_examples=100, deadline=None)
@given(dags(), st.data())
def test_an_added_back_edge_is_found_as_a_real_cycle(
    deps: dict[str, set[str]], data: st.DataObject
) -> None:
    order = topological_order(deps)
    if len(order) < 2:
        return
    i = data.draw(st.integers(min_value=0, max_value=len(order) - 2))
    j = data.draw(st.integers(min_value=i + 1, max_value=len(order) - 1))
    first, last = order[i], order[j]
    # `last` may depend on `first`; making first depend on last then closes a cycle.
    deps[first] = deps[first] | {last}
    cycle = find_cycle(deps)
    if cycle is None:
        topological_order(deps)  # still acyclic: must not raise
        return
    assert cycle[0] == cycle[-1]
    with pytest.raises(ConfigError, match=" -> ".join(cycle)):
        topological_order(deps)
    for name, need in zip(cycle, cycle[1:], strict=False):
        assert need in deps[name]
