"""The spec's shared types: JSON field names as the spec has them, and lossless round trips."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

import interfaces as i

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SPEC = i.ResourceSpec(
    name="orders-db",
    type="infra.database",
    config={"engine": "postgres", "version": "16", "nested": {"a": [1, 2]}},
    size=i.Size.M,
    hints=i.ResourceHints(storage="200Gi"),
    depends_on=["net"],
)
STATE = i.ResourceState(
    id="orders-db", name="orders-db", type="infra.database", provider="aws",
    provider_id="db-1", config_hash="abc", applied_config={"engine": "postgres"},
    outputs={"endpoint": "db:5432"}, dependencies=["net"], created_at=NOW, updated_at=NOW,
    last_drift_check=NOW, sensitive=["password_secret_arn"],
)
CHANGE = i.FieldChange(path="config.cidr", old="10.0.0.0/16", new="10.1.0.0/16", force_new=True)

MODELS: list[BaseModel] = [
    i.PipelineContext.new({"a": 1}, {"pipeline": "p"}),
    i.StepResult(output={"x": 1}, next_step="b", stop=True),
    i.SizingDefaults(cpu="1", memory="2Gi", db_storage="50Gi", cache_memory="1Gi"),
    i.ResourceHints(cpu="2", memory="4Gi", storage="100Gi"),
    SPEC,
    i.ResourceRef(name="net", type="infra.vpc", provider_id="vpc-1"),
    STATE,
    i.ResourceOutput(name="net", type="infra.vpc", provider_id="vpc-1",
                     outputs={"vpc_id": "vpc-1"}, status=i.ResourceStatus.CREATING),
    CHANGE,
    i.DiffResult(needs_update=True, needs_replace=True, changes=[CHANGE]),
    i.PlanAction(action="replace", resource=SPEC, current=STATE, changes=[CHANGE]),
    i.Plan(id="plan-1", actions=[i.PlanAction(action="create", resource=SPEC)], created_at=NOW,
           stack="shop", state_serial=7),
    i.ApplyResult(plan_id="plan-1", resources=[], errors=[
        i.ActionError(resource="orders-db", action="create", error="boom")]),
    i.DestroyResult(destroyed=["net"], errors=[]),
    i.ActionError(resource="a", action="delete", error="DependencyViolation"),
    i.DriftResult(name="net", type="infra.vpc", drifted=True, expected={"cidr": "a"},
                  actual={"cidr": "b"}, fields=["cidr"]),
    i.HealthResult(healthy=False, message="starting"),
    i.ProviderSizing(instance_type="db.r6g.large", specs={"cpu": "2", "memory": "4Gi"}),
    i.CapabilityDeclaration(resource_type="infra.vpc", tier=1, operations=["create", "read"]),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
def test_round_trip_through_json(model: BaseModel) -> None:
    assert type(model).model_validate_json(model.model_dump_json()) == model


def test_spec_field_names() -> None:
    assert set(i.ResourceSpec.model_fields) == {
        "name", "type", "config", "size", "hints", "depends_on"}
    assert {"id", "name", "type", "provider", "provider_id", "config_hash", "applied_config",
            "outputs", "dependencies", "created_at", "updated_at",
            "last_drift_check"} <= set(i.ResourceState.model_fields)
    assert set(i.PlanAction.model_fields) == {"action", "resource", "current", "changes"}
    assert set(i.DiffResult.model_fields) == {"needs_update", "needs_replace", "changes"}
    assert set(i.PipelineContext.model_fields) == {
        "trigger_data", "step_outputs", "current", "metadata"}
    assert set(i.StepResult.model_fields) == {"output", "next_step", "stop"}


def test_sizing_map_matches_the_spec() -> None:
    assert [s.value for s in i.Size] == ["xs", "s", "m", "l", "xl"]
    assert i.SIZING_MAP[i.Size.XS].model_dump() == {
        "cpu": "0.25", "memory": "512Mi", "db_storage": "10Gi", "cache_memory": "256Mi"}
    assert i.SIZING_MAP[i.Size.XL].model_dump() == {
        "cpu": "8", "memory": "32Gi", "db_storage": "1Ti", "cache_memory": "64Gi"}
    assert i.SIZING_MAP[i.Size.M].db_storage == "100Gi"


def test_context_new_copies_trigger_data() -> None:
    trigger = {"order": {"id": 1}}
    ctx = i.PipelineContext.new(trigger, {"run": "r"})
    ctx.current["order"]["id"] = 2
    assert ctx.trigger_data == {"order": {"id": 1}} and trigger == {"order": {"id": 1}}
    assert ctx.metadata == {"run": "r"}


def test_merge_step_output_stores_a_copy_and_merges_shallowly() -> None:
    ctx = i.PipelineContext.new({"a": 1, "nested": {"x": 1}})
    output = {"nested": {"y": 2}, "b": 3}
    ctx.merge_step_output("s", output)
    output["b"] = 99
    assert ctx.step_outputs["s"] == {"nested": {"y": 2}, "b": 3}
    # Shallow: a nested dict in the output replaces the one in current.
    assert ctx.current == {"a": 1, "nested": {"y": 2}, "b": 3}


def test_protocols_are_structural() -> None:
    class Step:
        name = "s"

        async def execute(self, context: i.PipelineContext) -> i.StepResult:
            return i.StepResult()

    assert isinstance(Step(), i.PipelineStep)
    assert not isinstance(object(), i.ResourceDriver)
