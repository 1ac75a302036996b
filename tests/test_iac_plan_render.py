"""Plans rendered as text, with sensitive values masked."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.iac.plan_render import MASK, is_sensitive, mask_sensitive, render_plan
from interfaces.iac import FieldChange, Plan, PlanAction, ResourceSpec, ResourceState

WHEN = datetime(2024, 5, 1, tzinfo=UTC)


def spec(name: str, type_: str, **config: object) -> ResourceSpec:
    return ResourceSpec(name=name, type=type_, config=config)


def recorded(name: str, type_: str, sensitive: list[str] | None = None) -> ResourceState:
    return ResourceState(
        id=name, name=name, type=type_, provider="aws", created_at=WHEN, updated_at=WHEN,
        sensitive=sensitive or [],
    )


def test_empty_plan() -> None:
    assert render_plan(Plan(id="p")) == "No changes. Infrastructure matches the configuration."


def test_every_kind_of_action() -> None:
    plan = Plan(
        id="p",
        actions=[
            PlanAction(
                action="create",
                resource=spec(
                    "orders-db",
                    "infra.database",
                    engine="postgres",
                    master_password="hunter2",
                    auth={"token": "t", "user": "app"},
                    vpc_id="${net.outputs.vpc_id}",
                ),
            ),
            PlanAction(
                action="update",
                resource=spec("web", "infra.container_service"),
                current=recorded("web", "infra.container_service"),
                changes=[
                    FieldChange(path="config.replicas", old=2, new=3),
                    FieldChange(path="config.env.API_TOKEN", old="a", new="b"),
                    FieldChange(path="config.tags", old=None, new={"team": "shop"}),
                ],
            ),
            PlanAction(
                action="replace",
                resource=spec("net", "infra.vpc"),
                current=recorded("net", "infra.vpc"),
                changes=[
                    FieldChange(
                        path="config.cidr", old="10.0.0.0/16", new="10.1.0.0/16", force_new=True
                    ),
                    FieldChange(path="config.name", old="a", new="b"),
                ],
            ),
            PlanAction(
                action="delete",
                resource=spec("old-cache", "infra.cache", node_type="small"),
                current=recorded("old-cache", "infra.cache"),
            ),
        ],
    )
    assert render_plan(plan).splitlines() == [
        '+ create infra.database "orders-db"',
        '    + config.auth.token: (sensitive)',
        '    + config.auth.user: "app"',
        '    + config.engine: "postgres"',
        "    + config.master_password: (sensitive)",
        '    + config.vpc_id: "${net.outputs.vpc_id}"',
        '~ update infra.container_service "web"',
        "    ~ config.replicas: 2 -> 3",
        "    ~ config.env.API_TOKEN: (sensitive) -> (sensitive)",
        '    ~ config.tags: null -> {"team": "shop"}',
        '± replace infra.vpc "net" (forces replacement: cidr)',
        '    ~ config.cidr: "10.0.0.0/16" -> "10.1.0.0/16" (forces replacement)',
        '    ~ config.name: "a" -> "b"',
        '- delete infra.cache "old-cache"',
        "",
        "Plan: 1 to create, 1 to update, 1 to replace, 1 to destroy.",
    ]


def test_listed_and_recorded_sensitive_keys_are_masked() -> None:
    plan = Plan(
        id="p",
        actions=[
            PlanAction(
                action="update",
                resource=spec("db", "infra.database"),
                current=recorded("db", "infra.database", sensitive=["endpoint"]),
                changes=[
                    FieldChange(path="config.pin", old="1", new="2"),
                    FieldChange(path="config.endpoint", old="a", new="b"),
                    FieldChange(path="config.users", old=[], new=[{"name": "x", "secret": "s"}]),
                ],
            )
        ],
    )
    assert render_plan(plan, sensitive_keys=["config.pin"]).splitlines()[1:4] == [
        "    ~ config.pin: (sensitive) -> (sensitive)",
        "    ~ config.endpoint: (sensitive) -> (sensitive)",
        '    ~ config.users: [] -> [{"name": "x", "secret": "(sensitive)"}]',
    ]


def test_a_sensitive_value_that_is_absent_shows_as_null() -> None:
    plan = Plan(
        id="p",
        actions=[
            PlanAction(
                action="update",
                resource=spec("db", "infra.database"),
                current=recorded("db", "infra.database"),
                changes=[FieldChange(path="config.password", old=None, new="x")],
            )
        ],
    )
    assert render_plan(plan).splitlines()[1] == "    ~ config.password: null -> (sensitive)"


def test_mask_sensitive() -> None:
    value = {
        "user": "app",
        "DB_PASSWORD": "x",
        "nested": {"client-secret": "y", "list": [{"api_key": "z", "ok": 1}], "pin": "1"},
        "master_user_secret_arn": "arn:aws:secretsmanager:...",
        "empty_token": None,
    }
    assert mask_sensitive(value, ["pin"]) == {
        "user": "app",
        "DB_PASSWORD": MASK,
        "nested": {"client-secret": MASK, "list": [{"api_key": MASK, "ok": 1}], "pin": MASK},
        "master_user_secret_arn": MASK,
        "empty_token": None,
    }
    assert value["DB_PASSWORD"] == "x"


def test_is_sensitive() -> None:
    assert is_sensitive("config.auth.password")
    assert is_sensitive("config.private_key_pem")
    assert not is_sensitive("config.cidr")
    assert is_sensitive("config.cidr", ["cidr"])
    assert is_sensitive("config.a.b", ["config.a.b"])
    assert is_sensitive("config.a.b", ["a.b"])
