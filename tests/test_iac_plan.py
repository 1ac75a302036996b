"""Plan computation: every kind of action, ordering, targets, protection, scale."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.iac.plan import (
    Rediff,
    action_dependencies,
    compute_plan,
    config_hash,
    desired_specs,
    needs_driver_diff,
    plan_counts,
    protected_violations,
)
from engine.iac.schedule import plan_steps
from engine.iac.sizing import apply_sizing
from engine.iac.stack import StackDocument, parse_stack
from interfaces.errors import ConfigError
from interfaces.iac import (
    DiffResult,
    FieldChange,
    Plan,
    ProviderSizing,
    ResourceSpec,
    ResourceState,
)

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent


def res(name: str, type_: str = "infra.vpc", **fields: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "provider": "aws", **fields}


def doc_of(*resources: dict[str, Any]) -> StackDocument:
    return parse_stack(
        {"stack": "shop", "providers": {"aws": {"type": "aws"}}, "resources": list(resources)}
    )


def state(
    name: str,
    config: dict[str, Any] | None = None,
    type_: str = "infra.vpc",
    dependencies: list[str] | None = None,
    outputs: dict[str, Any] | None = None,
) -> ResourceState:
    config = config or {}
    return ResourceState(
        id=f"id-{name}",
        name=name,
        type=type_,
        provider="aws",
        provider_id=f"cloud-{name}",
        config_hash=config_hash(config),
        applied_config=config,
        outputs=outputs or {},
        dependencies=dependencies or [],
        created_at=WHEN,
        updated_at=WHEN,
    )


def plan_for(
    doc: StackDocument,
    states: list[ResourceState] = (),  # type: ignore[assignment]
    diffs: dict[str, DiffResult | None] | None = None,
    targets: tuple[str, ...] = (),
) -> Plan:
    recorded = {s.name: s for s in states}
    outputs = {s.name: s.outputs for s in recorded.values()}
    desired = desired_specs(doc, {}, outputs)
    return compute_plan(
        doc,
        desired,
        recorded,
        diffs or {},
        plan_id="plan-1",
        created_at=WHEN,
        state_serial=7,
        targets=targets,
    )


def kinds(plan: Plan) -> list[tuple[str, str]]:
    return [(a.action, a.resource.name) for a in plan.actions]


def test_config_hash_is_canonical_json_sha256() -> None:
    expected = hashlib.sha256(b'{"a":1,"b":[2,"x"],"c":{"d":null}}').hexdigest()
    assert config_hash({"c": {"d": None}, "b": [2, "x"], "a": 1}) == expected
    assert config_hash({"when": WHEN}) == config_hash({"when": str(WHEN)})


def test_create_when_there_is_no_state() -> None:
    plan = plan_for(doc_of(res("net", config={"cidr": "10.0.0.0/16"})))
    assert kinds(plan) == [("create", "net")]
    action = plan.actions[0]
    assert action.current is None
    assert action.resource.config == {"cidr": "10.0.0.0/16"}
    assert type(action.resource) is ResourceSpec
    assert (plan.id, plan.created_at, plan.stack, plan.state_serial) == ("plan-1", WHEN, "shop", 7)


def test_no_change_when_the_hash_matches() -> None:
    doc = doc_of(res("net", config={"cidr": "10.0.0.0/16"}))
    plan = plan_for(doc, [state("net", {"cidr": "10.0.0.0/16"})])
    assert plan.actions == []


def test_update_by_hash_lists_structural_changes() -> None:
    doc = doc_of(res("net", config={"cidr": "10.1.0.0/16", "tags": {"env": "prod"}, "dns": True}))
    recorded = state("net", {"cidr": "10.0.0.0/16", "tags": {"env": "dev", "old": "x"}, "dns": 1})
    plan = plan_for(doc, [recorded])
    assert kinds(plan) == [("update", "net")]
    action = plan.actions[0]
    assert action.current == recorded
    assert [(c.path, c.old, c.new, c.force_new) for c in action.changes] == [
        ("config.cidr", "10.0.0.0/16", "10.1.0.0/16", False),
        ("config.dns", 1, True, False),
        ("config.tags.env", "dev", "prod", False),
        ("config.tags.old", "x", None, False),
    ]


def test_lists_compare_whole() -> None:
    doc = doc_of(res("net", config={"zones": ["a", "b", "c"]}))
    plan = plan_for(doc, [state("net", {"zones": ["a", "b"]})])
    assert [(c.path, c.old, c.new) for c in plan.actions[0].changes] == [
        ("config.zones", ["a", "b"], ["a", "b", "c"])
    ]


def test_ignore_changes_suppresses_a_hash_update() -> None:
    lifecycle = {"ignore_changes": ["tags"]}
    doc = doc_of(res("net", config={"cidr": "x", "tags": {"a": "2"}}, lifecycle=lifecycle))
    plan = plan_for(doc, [state("net", {"cidr": "x", "tags": {"a": "1"}})])
    assert plan.actions == []


def test_update_by_driver_diff() -> None:
    doc = doc_of(res("net", config={"cidr": "x", "dns": True}))
    diff = DiffResult(needs_update=True, changes=[FieldChange(path="dns", old=False, new=True)])
    # The driver's verdict wins over the (here equal) hash.
    plan = plan_for(doc, [state("net", {"cidr": "x", "dns": True})], {"net": diff})
    assert kinds(plan) == [("update", "net")]
    changes = plan.actions[0].changes
    assert [(c.path, c.old, c.new) for c in changes] == [("config.dns", False, True)]


def test_driver_diff_without_changes_is_no_action() -> None:
    doc = doc_of(res("net", config={"cidr": "y"}))
    # The hash differs, but the driver looked at the live resource and found nothing to do.
    plan = plan_for(doc, [state("net", {"cidr": "x"})], {"net": DiffResult()})
    assert plan.actions == []


def test_replace_by_force_new_change() -> None:
    doc = doc_of(res("net", config={"cidr": "10.1.0.0/16"}))
    diff = DiffResult(
        needs_update=True,
        changes=[
            FieldChange(path="config.cidr", old="10.0.0.0/16", new="10.1.0.0/16", force_new=True)
        ],
    )
    plan = plan_for(doc, [state("net", {"cidr": "10.0.0.0/16"})], {"net": diff})
    assert kinds(plan) == [("replace", "net")]
    assert plan.actions[0].changes[0].path == "config.cidr"


def test_replace_by_needs_replace() -> None:
    doc = doc_of(res("net", config={"cidr": "x"}))
    plan = plan_for(doc, [state("net", {"cidr": "x"})], {"net": DiffResult(needs_replace=True)})
    assert kinds(plan) == [("replace", "net")]


def test_replace_when_the_type_changes() -> None:
    doc = doc_of(res("store", "infra.bucket"))
    plan = plan_for(doc, [state("store", type_="infra.volume")])
    assert kinds(plan) == [("replace", "store")]
    change = plan.actions[0].changes[0]
    assert (change.path, change.old, change.new, change.force_new) == (
        "type",
        "infra.volume",
        "infra.bucket",
        True,
    )


def test_ignore_changes_suppresses_a_driver_diff() -> None:
    doc = doc_of(res("db", config={"tags": {"a": "2"}}, lifecycle={"ignore_changes": ["tags"]}))
    diff = DiffResult(
        needs_update=True,
        needs_replace=True,
        changes=[FieldChange(path="tags.a", old="1", new="2", force_new=True)],
    )
    plan = plan_for(doc, [state("db", {"tags": {"a": "1"}})], {"db": diff})
    assert plan.actions == []


def test_ignore_changes_keeps_the_rest_and_judges_it_alone() -> None:
    doc = doc_of(res("db", lifecycle={"ignore_changes": ["config.engine"]}))
    diff = DiffResult(
        needs_update=True,
        needs_replace=True,
        changes=[
            FieldChange(path="engine", old="mysql", new="postgres", force_new=True),
            FieldChange(path="backup_days", old=1, new=7),
            FieldChange(path="engine_version", old="1", new="2"),
        ],
    )
    plan = plan_for(doc, [state("db")], {"db": diff})
    assert kinds(plan) == [("update", "db")]
    # `config.engine` covers config.engine.x but not config.engine_version.
    paths = [c.path for c in plan.actions[0].changes]
    assert paths == ["config.backup_days", "config.engine_version"]


def test_delete_what_is_no_longer_declared() -> None:
    recorded = state("old", {"cidr": "x"}, dependencies=["net"])
    plan = plan_for(doc_of(res("net")), [state("net"), recorded])
    assert kinds(plan) == [("delete", "old")]
    action = plan.actions[0]
    assert action.current == recorded
    assert action.resource == ResourceSpec(
        name="old", type="infra.vpc", config={"cidr": "x"}, depends_on=["net"]
    )


def test_order_is_topological_then_deletes_dependents_first() -> None:
    doc = doc_of(
        res("app", depends_on=["db"]),
        res("db", config={"vpc": "${net.outputs.id}"}),
        res("cache", depends_on=["net"]),
        res("net"),
    )
    gone = [
        state("old-net"),
        state("old-db", dependencies=["old-net"]),
        state("old-app", dependencies=["old-db", "old-net"]),
        state("old-bucket"),
    ]
    plan = plan_for(doc, gone)
    assert kinds(plan) == [
        ("create", "net"),
        ("create", "db"),
        ("create", "app"),
        ("create", "cache"),
        ("delete", "old-app"),
        ("delete", "old-db"),
        ("delete", "old-net"),
        ("delete", "old-bucket"),
    ]


def test_references_resolve_from_recorded_outputs() -> None:
    config = {"vpc": "${net.outputs.id}", "x": "${cache.outputs.url}"}
    doc = doc_of(res("net"), res("db", config=config))
    plan = plan_for(doc, [state("net", outputs={"id": "vpc-9"})])
    (create,) = plan.actions
    assert create.resource.config == {"vpc": "vpc-9", "x": "${cache.outputs.url}"}


def test_resolved_references_keep_their_edges() -> None:
    # db's reference is resolved (net is recorded) yet db still orders after net.
    doc = doc_of(res("db", config={"vpc": "${net.outputs.id}"}), res("net", config={"v": 2}))
    plan = plan_for(doc, [state("net", {"v": 1}, outputs={"id": "vpc-9"})])
    assert kinds(plan) == [("update", "net"), ("create", "db")]
    assert action_dependencies(plan, doc, {}) == {"net": set(), "db": {"net"}}


def test_targets_limit_to_their_dependency_closure() -> None:
    doc = doc_of(
        res("net"),
        res("sg", depends_on=["net"]),
        res("db", depends_on=["sg"]),
        res("app", depends_on=["db"]),
        res("other"),
    )
    gone = [state("old"), state("older", dependencies=["old"]), state("unrelated")]
    assert kinds(plan_for(doc, gone, targets=("db",))) == [
        ("create", "net"),
        ("create", "sg"),
        ("create", "db"),
    ]
    # A delete happens only when targeted, after its recorded dependents that are gone too.
    assert kinds(plan_for(doc, gone, targets=("old", "other"))) == [
        ("create", "other"),
        ("delete", "older"),
        ("delete", "old"),
    ]


def test_unknown_target_is_refused() -> None:
    with pytest.raises(ConfigError, match='target "nope" is neither declared in stack "shop"'):
        plan_for(doc_of(res("net")), [], targets=("nope",))


def test_needs_driver_diff_lists_recorded_desired_resources() -> None:
    doc = doc_of(res("a"), res("b"), res("c"))
    desired = desired_specs(doc, {}, {})
    recorded = {"c": state("c"), "a": state("a"), "gone": state("gone")}
    assert needs_driver_diff(desired, recorded) == ["a", "c"]


def test_sizing_merges_with_explicit_config_winning() -> None:
    doc = doc_of(res("db", "infra.database", size="m", config={"storage": "500Gi", "engine": "pg"}))
    sizing = ProviderSizing(instance_type="db.m5.large", specs={"storage": "100Gi", "cpu": "2"})
    desired = desired_specs(doc, {"db": sizing}, {})
    assert desired["db"].config == {
        "storage": "500Gi",
        "cpu": "2",
        "instance_type": "db.m5.large",
        "engine": "pg",
    }
    assert desired["db"].size == "m"
    explicit = ResourceSpec(name="x", type="t", config={"instance_type": "custom"})
    assert apply_sizing(explicit, sizing).config["instance_type"] == "custom"
    assert apply_sizing(explicit, None) is explicit
    assert doc.resource("db").config == {"storage": "500Gi", "engine": "pg"}


def test_plan_counts() -> None:
    doc = doc_of(res("a"), res("b", config={"v": 2}), res("c"))
    diffs = {"c": DiffResult(needs_replace=True)}
    plan = plan_for(doc, [state("b", {"v": 1}), state("c"), state("d")], diffs)
    assert plan_counts(plan) == {"create": 1, "update": 1, "replace": 1, "delete": 1}
    assert plan_counts(Plan(id="empty")) == {"create": 0, "update": 0, "replace": 0, "delete": 0}


def test_action_dependencies_walk_through_unchanged_resources() -> None:
    doc = doc_of(
        res("net", config={"v": 2}),
        res("sg", depends_on=["net"]),
        res("db", depends_on=["sg"]),
        res("app", depends_on=["db", "net"], config={"v": 2}),
        res("lone"),
    )
    recorded = [
        state("net", {"v": 1}),
        state("sg", dependencies=["net"]),
        state("old-net"),
        state("old-db", dependencies=["old-net"]),
        state("app", {"v": 1}, dependencies=["db", "old-net"]),
    ]
    plan = plan_for(doc, recorded)
    assert kinds(plan) == [
        ("update", "net"),
        ("create", "db"),
        ("update", "app"),
        ("create", "lone"),
        ("delete", "old-db"),
        ("delete", "old-net"),
    ]
    waits = action_dependencies(plan, doc, {s.name: s for s in recorded})
    assert waits == {
        "net": set(),
        "db": {"net"},  # through sg, which has no action
        "app": {"db", "net"},
        "lone": set(),
        "old-db": set(),
        # after the delete that used it and the action on app, whose recorded state used it
        "old-net": {"old-db", "app"},
    }
    assert list(waits) == [name for _, name in kinds(plan)]


def test_protected_violations() -> None:
    doc = doc_of(
        res("db", protected=True, config={"v": 2}),
        res("vault", protected=True),
        res("net", config={"v": 2}),
    )
    recorded = [state("db", {"v": 1}), state("vault"), state("net", {"v": 1})]
    diffs = {"db": DiffResult(needs_replace=True), "net": DiffResult(needs_replace=True)}
    plan = plan_for(doc, recorded, diffs)
    assert kinds(plan) == [("replace", "db"), ("replace", "net")]
    assert protected_violations(plan, doc, []) == [
        'resource "db" is protected: refusing to replace it '
        "(name it in allow_replace to allow this)"
    ]
    assert protected_violations(plan, doc, ["db"]) == []
    update = plan_for(doc, recorded)
    assert kinds(update) == [("update", "db"), ("update", "net")]
    assert protected_violations(update, doc, []) == []
    # Destroy plans delete resources the document still declares: checked by name.
    destroy = plan_for(doc_of(), recorded)
    assert protected_violations(destroy, doc.by_name, []) == [
        f'resource "{name}" is protected: refusing to delete it '
        "(name it in allow_replace to allow this)"
        for name in ("db", "vault")
    ]
    assert protected_violations(destroy, {"net"}, ["vault"]) == [
        'resource "net" is protected: refusing to delete it '
        "(name it in allow_replace to allow this)"
    ]


def test_plan_is_json_round_trippable() -> None:
    doc = doc_of(res("net", config={"cidr": "x"}), res("db", depends_on=["net"]))
    plan = plan_for(doc, [state("net", {"cidr": "y"}), state("gone")])
    assert Plan.model_validate_json(plan.model_dump_json()) == plan


PLAN_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.test_iac_plan import big_stack_plan
plan, _ = big_stack_plan(400)
print(plan.model_dump_json())
"""


def test_plan_does_not_depend_on_the_hash_seed() -> None:
    # Workers replaying a workflow run with other PYTHONHASHSEEDs: set order must not leak.
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", PLAN_SCRIPT, str(ROOT)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]


def big_stack_plan(count: int) -> tuple[Plan, float]:
    """A `count`-resource stack, a third recorded (some changed), a few undeclared: planned."""
    resources = []
    for i in range(count):
        config: dict[str, Any] = {"index": i, "tags": {"team": f"t{i % 7}"}}
        depends_on = []
        if i >= 10:
            config["parent"] = f"${{r{i // 10}.outputs.id}}"
            depends_on = [f"r{i - 1 - (i * 7919) % min(i, 50)}"]
        resources.append(res(f"r{i}", config=config, depends_on=depends_on))
    doc = doc_of(*resources)
    recorded = {}
    for i in range(0, count, 3):
        config = {"index": i if i % 2 else -1, "tags": {"team": f"t{i % 7}"}}
        recorded[f"r{i}"] = state(f"r{i}", config, outputs={"id": f"id-{i}"})
    for i in range(count // 100):
        recorded[f"gone{i}"] = state(f"gone{i}", dependencies=[f"gone{i - 1}"] if i else [])
    start = time.perf_counter()
    outputs = {name: s.outputs for name, s in recorded.items()}
    desired = desired_specs(doc, {}, outputs)
    plan = compute_plan(
        doc, desired, recorded, {}, plan_id="big", created_at=WHEN, state_serial=1
    )
    action_dependencies(plan, doc, recorded)
    return plan, time.perf_counter() - start


def test_ten_thousand_resources_plan_quickly() -> None:
    plan, seconds = big_stack_plan(10_000)
    counts = plan_counts(plan)
    assert counts["delete"] == 100
    assert counts["create"] == 10_000 - len(range(0, 10_000, 3))
    print(f"\nplan of 10,000 resources (desired_specs + compute_plan + action_dependencies): "
          f"{seconds:.3f}s, {counts}")


def test_references_to_a_replaced_resource_are_reopened() -> None:
    doc = doc_of(
        res("net", config={"cidr": "10.1.0.0/16"}),
        res(
            "subnet",
            config={"vpc": "${net.outputs.id}", "name": "sub-${net.outputs.id}", "zone": "a"},
        ),
        res("sg", config={"vpcs": ["${net.outputs.id}"], "tags": {"v": 1}}, depends_on=["net"]),
        res("quiet", config={"vpc": "${net.outputs.id}"}, lifecycle={"ignore_changes": ["vpc"]}),
        res("other", config={"zone": "a"}, depends_on=["net"]),
    )
    recorded = [
        state("net", {"cidr": "10.0.0.0/16"}, outputs={"id": "vpc-1"}),
        state("subnet", {"vpc": "vpc-1", "name": "sub-vpc-1", "zone": "b"}, dependencies=["net"]),
        state("sg", {"vpcs": ["vpc-1"], "tags": {"v": 1}}, dependencies=["net"]),
        state("quiet", {"vpc": "vpc-1"}, dependencies=["net"]),
        state("other", {"zone": "a"}, dependencies=["net"]),
    ]
    force = FieldChange(path="cidr", old="10.0.0.0/16", new="10.1.0.0/16", force_new=True)
    plan = plan_for(doc, recorded, {"net": DiffResult(needs_replace=True, changes=[force])})
    # Only resources that read the replaced resource's outputs change; depends_on alone does not.
    assert kinds(plan) == [("replace", "net"), ("update", "subnet"), ("update", "sg")]
    subnet, sg = plan.actions[1], plan.actions[2]
    assert subnet.resource.config == {
        "vpc": "${net.outputs.id}",
        "name": "sub-${net.outputs.id}",
        "zone": "a",
    }
    assert [(c.path, c.old, c.new) for c in subnet.changes] == [
        ("config.zone", "b", "a"),
        ("config.vpc", "vpc-1", "${net.outputs.id}"),
        ("config.name", "sub-vpc-1", "sub-${net.outputs.id}"),
    ]
    assert sg.resource.config == {"vpcs": ["${net.outputs.id}"], "tags": {"v": 1}}
    assert [(c.path, c.old, c.new) for c in sg.changes] == [
        ("config.vpcs", ["vpc-1"], ["${net.outputs.id}"])
    ]
    # Without the replacement, the recorded outputs hold and nothing changes.
    assert kinds(plan_for(doc, recorded)) == [("update", "net"), ("update", "subnet")]


def test_destroy_is_a_plan_with_nothing_desired() -> None:
    doc = doc_of(res("net"), res("db", depends_on=["net"]), res("never-made"))
    recorded = {
        "net": state("net"),
        "db": state("db", dependencies=["net"]),
        "extra": state("extra"),
    }

    def destroy(*targets: str) -> Plan:
        return compute_plan(
            doc, {}, recorded, {}, plan_id="d", created_at=WHEN, state_serial=3, targets=targets
        )

    assert kinds(destroy()) == [("delete", "db"), ("delete", "net"), ("delete", "extra")]
    assert kinds(destroy("net")) == [("delete", "db"), ("delete", "net")]
    assert kinds(destroy("never-made")) == []
    assert action_dependencies(destroy(), doc, recorded) == {
        "db": set(),
        "extra": set(),
        "net": {"db"},
    }


def force_new_rediff(recorded: list[ResourceState], fields: set[str]) -> Rediff:
    """A driver's diff against the recorded configs: changed fields, force-new ones in `fields`."""
    configs = {s.name: s.applied_config for s in recorded}

    def rediff(spec: ResourceSpec) -> DiffResult:
        applied = configs[spec.name]
        changes = [
            FieldChange(path=k, old=applied.get(k), new=v, force_new=k in fields)
            for k, v in spec.config.items()
            if applied.get(k) != v
        ]
        return DiffResult(
            needs_update=bool(changes),
            needs_replace=any(c.force_new for c in changes),
            changes=changes,
        )

    return rediff


def test_a_force_new_reference_to_a_replaced_resource_replaces_its_user() -> None:
    doc = doc_of(
        res("net", config={"cidr": "10.1.0.0/16"}),
        res("fw", config={"vpc_id": "${net.outputs.id}"}),
        res("app", config={"fw": "${fw.outputs.id}", "vpc": "${net.outputs.id}"}),
    )
    recorded = [
        state("net", {"cidr": "10.0.0.0/16"}, outputs={"id": "vpc-1"}),
        state("fw", {"vpc_id": "vpc-1"}, dependencies=["net"], outputs={"id": "sg-1"}),
        state("app", {"fw": "sg-1", "vpc": "vpc-1"}, dependencies=["fw", "net"]),
    ]
    rediff = force_new_rediff(recorded, {"vpc_id"})
    force = FieldChange(path="cidr", old="10.0.0.0/16", new="10.1.0.0/16", force_new=True)
    states = {s.name: s for s in recorded}
    plan = compute_plan(
        doc,
        desired_specs(doc, {}, {s.name: s.outputs for s in recorded}),
        states,
        {"net": DiffResult(needs_replace=True, changes=[force])},
        plan_id="p",
        created_at=WHEN,
        state_serial=1,
        rediff=rediff,
    )
    # fw holds the VPC in a force-new field: replaced too; app only updates in place.
    assert kinds(plan) == [("replace", "net"), ("replace", "fw"), ("update", "app")]
    fw, app = plan.actions[1], plan.actions[2]
    assert fw.resource.config == {"vpc_id": "${net.outputs.id}"}
    assert [(c.path, c.old, c.new, c.force_new) for c in fw.changes] == [
        ("config.vpc_id", "vpc-1", "${net.outputs.id}", True)
    ]
    assert app.resource.config == {"fw": "${fw.outputs.id}", "vpc": "${net.outputs.id}"}

    steps = {step.key: step for step in plan_steps(plan, doc, states)}
    # The old firewall goes before the old VPC; the new one comes after the new VPC.
    assert {key: (s.part, s.waits) for key, s in steps.items()} == {
        "net": ("whole", ("fw (old)",)),
        "fw (old)": ("old", ()),
        "fw": ("new", ("fw (old)", "net")),
        "app": ("whole", ("fw", "net")),
    }

    # create_before_destroy on the VPC: new VPC, then its users, then the old VPC.
    cbd = doc_of(
        res("net", config={"cidr": "10.1.0.0/16"}, lifecycle={"create_before_destroy": True}),
        *[r.model_dump(exclude_none=True) | {"provider": "aws"} for r in doc.resources[1:]],
    )
    steps = {step.key: step for step in plan_steps(plan, cbd, states)}
    assert {key: (s.part, s.waits, s.create_before_destroy) for key, s in steps.items()} == {
        "net": ("new", (), True),
        "net (old)": ("old", ("app", "fw", "net"), True),
        "fw": ("whole", ("net",), False),
        "app": ("whole", ("fw", "net"), False),
    }


def test_a_ghost_recreated_reopens_the_references_to_it() -> None:
    # plan_stack leaves a ghost out of the states: its recorded outputs resolved `desired`.
    doc = doc_of(
        res("cache", config={"size": 1}),
        res("dns", config={"target": "${cache.outputs.endpoint}", "ttl": 60}),
        res("gone-too", config={"target": "${cache.outputs.endpoint}"}),
    )
    ghost = state("cache", {"size": 1}, outputs={"endpoint": "old.cache"})
    dns = state("dns", {"target": "old.cache", "ttl": 60}, dependencies=["cache"])
    desired = desired_specs(doc, {}, {"cache": ghost.outputs, "dns": dns.outputs})
    assert desired["dns"].config["target"] == "old.cache"
    rediff = force_new_rediff([dns], set())
    plan = compute_plan(
        doc, desired, {"dns": dns}, {"dns": DiffResult()},
        plan_id="p", created_at=WHEN, state_serial=1, rediff=rediff,
    )  # fmt: skip
    assert kinds(plan) == [("create", "cache"), ("update", "dns"), ("create", "gone-too")]
    assert plan.actions[1].resource.config == {"target": "${cache.outputs.endpoint}", "ttl": 60}
    assert [(c.path, c.old, c.new) for c in plan.actions[1].changes] == [
        ("config.target", "old.cache", "${cache.outputs.endpoint}")
    ]
    assert plan.actions[2].resource.config == {"target": "${cache.outputs.endpoint}"}
