"""The dependency graph of a stack: edges, cycles, orders, closures.

A graph is `deps: dict[name, set[name]]`, read "name depends on each of these". The dict's
key order is the declaration order; every list this module returns breaks ties by it, so the
results do not depend on set iteration order (which changes with PYTHONHASHSEED from one
worker process to the next -- fatal to a Temporal replay). Edges to names that are not keys of
`deps` are ignored by the orders (they are outside the graph being walked).
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Mapping

from engine.iac.references import find_references
from interfaces.errors import ConfigError
from interfaces.iac import ResourceSpec


def resource_dependencies(resource: ResourceSpec) -> set[str]:
    """The names one resource depends on: its depends_on plus every resource it references."""
    found = set(resource.depends_on)
    found.update(name for name, _ in find_references(resource.config))
    return found


def dependencies(resources: Iterable[ResourceSpec]) -> dict[str, set[str]]:
    """name -> names it depends on, keys in declaration order."""
    return {resource.name: resource_dependencies(resource) for resource in resources}


def dependents(deps: Mapping[str, Collection[str]]) -> dict[str, set[str]]:
    """name -> names that depend on it (only names that are keys of `deps`)."""
    result: dict[str, set[str]] = {name: set() for name in deps}
    for name, needs in deps.items():
        for need in needs:
            if need in result:
                result[need].add(name)
    return result


def find_cycle(deps: Mapping[str, Collection[str]]) -> list[str] | None:
    """One dependency cycle as a closed path (`[a, b, c, a]`: a depends on b ...), or None."""
    cycles = find_cycles(deps)
    return cycles[0] if cycles else None


def find_cycles(deps: Mapping[str, Collection[str]]) -> list[list[str]]:
    """One closed path per strongly connected component that holds a cycle.

    Each path starts at the component's first-declared member; a self-dependency is `[a, a]`.
    """
    index = {name: i for i, name in enumerate(deps)}
    components = _strong_components(deps, index)
    cycles = []
    for component in components:
        first = min(component, key=index.__getitem__)
        if len(component) == 1 and first not in deps[first]:
            continue
        cycles.append(_cycle_within(deps, index, component, first))
    cycles.sort(key=lambda cycle: index[cycle[0]])
    return cycles


def topological_order(deps: Mapping[str, Collection[str]]) -> list[str]:
    """Every name after all of its dependencies; ties in declaration order.

    Raises ConfigError naming a cycle when there is one.
    """
    index = {name: i for i, name in enumerate(deps)}
    waiting = {name: sum(1 for need in set(needs) if need in index) for name, needs in deps.items()}
    users = dependents(deps)
    ready = [index[name] for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    names = list(deps)
    order: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        order.append(name)
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, index[user])
    if len(order) < len(names):
        cycle = find_cycle(deps) or []
        raise ConfigError(f"dependency cycle: {' -> '.join(cycle)}")
    return order


def reverse_order(deps: Mapping[str, Collection[str]]) -> list[str]:
    """Every name before all of its dependencies (the order to delete in); ties by declaration."""
    return topological_order(dependents(deps))


def closure(deps: Mapping[str, Collection[str]], targets: Iterable[str]) -> set[str]:
    """The targets plus everything they depend on, transitively."""
    seen: set[str] = set()
    pending = list(targets)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        pending.extend(need for need in deps.get(name, ()) if need not in seen)
    return seen


def critical_path_length(deps: Mapping[str, Collection[str]], cost: Mapping[str, float]) -> float:
    """The costliest chain of dependencies (sum of `cost` along it; a missing cost counts 0).

    With unlimited parallelism an apply cannot finish faster than this.
    """
    finish: dict[str, float] = {}
    for name in topological_order(deps):
        start = max((finish[need] for need in deps[name] if need in finish), default=0.0)
        finish[name] = start + cost.get(name, 0.0)
    return max(finish.values(), default=0.0)


def _strong_components(
    deps: Mapping[str, Collection[str]], index: Mapping[str, int]
) -> list[list[str]]:
    """Tarjan's algorithm, iterative (a 10,000-deep chain must not hit the recursion limit)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in deps:
        if root in order:
            continue
        work = [(root, iter(_sorted_needs(deps, index, root)))]
        order[root] = low[root] = len(order)
        stack.append(root)
        on_stack.add(root)
        while work:
            name, needs = work[-1]
            advanced = False
            for need in needs:
                if need not in order:
                    order[need] = low[need] = len(order)
                    stack.append(need)
                    on_stack.add(need)
                    work.append((need, iter(_sorted_needs(deps, index, need))))
                    advanced = True
                    break
                if need in on_stack:
                    low[name] = min(low[name], order[need])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
            if low[name] == order[name]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == name:
                        break
                components.append(component)
    return components


def _cycle_within(
    deps: Mapping[str, Collection[str]],
    index: Mapping[str, int],
    component: list[str],
    start: str,
) -> list[str]:
    """A shortest closed path from `start` back to itself inside one strong component."""
    members = set(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for name in frontier:
            for need in _sorted_needs(deps, index, name):
                if need not in members:
                    continue
                if need == start:
                    path = [name]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if need not in came_from:
                    came_from[need] = name
                    following.append(need)
        frontier = following
    raise AssertionError("a strong component with a cycle always closes")


def _sorted_needs(
    deps: Mapping[str, Collection[str]], index: Mapping[str, int], name: str
) -> list[str]:
    return sorted((need for need in deps[name] if need in index), key=index.__getitem__)
