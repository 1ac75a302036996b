"""The steps an apply walks: one per plan action, two for a replace that must be interleaved.

A replace is one step (delete the old instance and create the new one, in the order its
lifecycle says) unless other resources' actions must fall in between. Then it is split into
a "new" step (create the new instance) and an "old" step (delete the old one), as in
Terraform, whose graph holds a destroy node and a create node per replaced resource:

- create_before_destroy false: the old instances of dependents that are replaced go first,
  then the dependency is replaced, then the dependents are created anew:
      old D, old X (delete) -> new X (create) -> new D (create)
  (X's own step deletes and creates; D is split into "old D" and "new D").
- create_before_destroy true: the new dependency is made first, its dependents are moved to
  it (updated or replaced), and only then is its old instance deleted:
      new X -> D's action -> old X
  A resource that a create-before-destroy replacement still uses while it is replaced is
  itself replaced create-before-destroy (Terraform makes the same inference), else its old
  instance would have to go both before and after the dependent's.

A dependent that is only updated follows its dependency's step, which for a plain replace
has already deleted the old instance -- Terraform's order too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from engine.iac.graph import reverse_order, topological_order
from engine.iac.plan import action_dependencies
from engine.iac.stack import StackDocument
from interfaces.iac import Plan, ResourceState

Part = Literal["whole", "new", "old"]


def step_key(name: str, part: Part) -> str:
    """The key of a step: the resource name, or `<name> (old)` for the old instance's delete."""
    return f"{name} (old)" if part == "old" else name


@dataclass(frozen=True)
class Step:
    name: str
    action: str
    part: Part
    waits: tuple[str, ...]  # keys of the steps that must succeed first, sorted
    create_before_destroy: bool

    @property
    def key(self) -> str:
        return step_key(self.name, self.part)


def plan_steps(
    plan: Plan, doc: StackDocument, states: Mapping[str, ResourceState]
) -> list[Step]:
    """The plan's steps in plan order (an old step right before its new one).

    Raises ConfigError naming a cycle if the steps cannot be ordered.
    """
    kinds = {action.resource.name: action.action for action in plan.actions}
    waits = {name: set(found) for name, found in action_dependencies(plan, doc, states).items()}
    recorded = _recorded_dependencies(plan, states)
    users = _users(recorded)
    cbd = _create_before_destroy(kinds, doc, recorded, users)
    replaced_dbd = {name for name, kind in kinds.items() if kind == "replace" and not cbd[name]}
    split_dbd = {
        name for name in replaced_dbd if any(need in replaced_dbd for need in recorded[name])
    }
    split_cbd = {
        name
        for name, kind in kinds.items()
        if kind == "replace" and cbd[name] and any(user in kinds for user in users[name])
    }
    split = split_dbd | split_cbd
    old_waits: dict[str, set[str]] = {name: set() for name in split}

    for name in replaced_dbd:
        # The old instances of replaced dependents go before this one's.
        first = old_waits[name] if name in split else waits[name]
        first.update(step_key(user, "old") for user in users[name] if user in replaced_dbd)
        if name in split:
            waits[name].add(step_key(name, "old"))
    for name in split_cbd:
        # The old instance goes once the new one is made and every user has moved off it.
        old_waits[name].add(name)
        for user in users[name]:
            if user in kinds:
                old_waits[name].add(user)
                if user in split:
                    old_waits[name].add(step_key(user, "old"))
    for name, kind in kinds.items():
        if kind == "delete":
            # A resource goes only after its users are done with it, old instances included.
            waits[name].update(step_key(u, "old") for u in list(waits[name]) if u in split)

    steps = []
    for name, kind in kinds.items():
        create_before_destroy = cbd.get(name, False)
        if name in split:
            steps.append(Step(name, kind, "old", tuple(sorted(old_waits[name])), cbd[name]))
        part: Part = "new" if name in split else "whole"
        steps.append(Step(name, kind, part, tuple(sorted(waits[name])), create_before_destroy))
    # The construction leaves no cycle; checked anyway, as a walk over one would never end.
    topological_order({step.key: step.waits for step in steps})
    return steps


def _recorded_dependencies(
    plan: Plan, states: Mapping[str, ResourceState]
) -> dict[str, set[str]]:
    """name -> what its recorded instance depends on; the plan's own record first, as the
    state moves while the plan is applied (a resumed run computes its steps again)."""
    recorded = {name: set(state.dependencies) for name, state in states.items()}
    for action in plan.actions:
        if action.current is not None:
            recorded[action.resource.name] = set(action.current.dependencies)
    return recorded


def _users(recorded: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """name -> the resources whose recorded instance depends on it (they use its instance)."""
    users: dict[str, set[str]] = {name: set() for name in recorded}
    for name, needs in recorded.items():
        for need in needs:
            if need in users:
                users[need].add(name)
    return users


def _create_before_destroy(
    kinds: Mapping[str, str],
    doc: StackDocument,
    recorded: Mapping[str, set[str]],
    users: Mapping[str, set[str]],
) -> dict[str, bool]:
    """Per planned resource, whether a replace of it creates before it destroys."""
    declared = {
        name: bool(resource.lifecycle.create_before_destroy)
        for name, resource in doc.by_name.items()
    }
    cbd = {name: declared.get(name, False) for name in kinds}
    # Users before what they use, so an inferred create_before_destroy passes on down.
    for name in reverse_order(recorded):
        if kinds.get(name) == "replace" and not cbd[name]:
            cbd[name] = any(
                kinds.get(user) == "replace" and cbd[user] for user in users.get(name, ())
            )
    return cbd
