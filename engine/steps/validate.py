"""step.validate: check the current state, by required fields or by a JSON Schema."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from jsonschema import Draft202012Validator, SchemaError, ValidationError
from pydantic import Field, field_validator, model_validator

from engine.step_registry import StepCall, StepError, StepType
from engine.steps.config import StepConfig, TemplateString, rendered_list
from engine.steps.paths import lookup
from interfaces import StepResult


class ValidateConfig(StepConfig):
    # Inferred when omitted: whichever of `required_fields` / `schema` is given.
    strategy: Literal["required_fields", "json_schema"] | None = None
    required_fields: list[str] | TemplateString | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                raise ValueError(f"invalid JSON Schema: {exc.message}") from None
        return schema

    @model_validator(mode="after")
    def _strategy_matches(self) -> ValidateConfig:
        if self.strategy is None:
            given = [
                name
                for name, value in (
                    ("required_fields", self.required_fields),
                    ("json_schema", self.schema_),
                )
                if value is not None
            ]
            if len(given) != 1:
                raise ValueError("give `required_fields` or `schema` (or set `strategy`)")
            self.strategy = given[0]  # type: ignore[assignment]
        if self.strategy == "required_fields" and not self.required_fields:
            raise ValueError("strategy required_fields needs a non-empty `required_fields` list")
        if self.strategy == "json_schema" and self.schema_ is None:
            raise ValueError("strategy json_schema needs a `schema`")
        return self


def missing_fields(state: dict[str, Any], paths: list[Any]) -> list[str]:
    problems = []
    for path in paths:
        found, value = lookup(state, str(path))
        if not found or value is None:
            problems.append(f"missing required field {str(path)!r}")
    return problems


# What each keyword asks for, worded from the schema's own value, never from the data:
# jsonschema's messages quote the failing value ("'hunter2' is too long"), and a failure
# message ends up in the run's history, the CLI's output and the worker's log.
_RULES: dict[str, Callable[[Any], str]] = {
    "type": lambda v: "must be of type " + " or ".join(v if isinstance(v, list) else [v]),
    "pattern": lambda v: f"must match the pattern {v!r}",
    "format": lambda v: f"must be a valid {v}",
    "enum": lambda v: f"must be one of {v!r}",
    "const": lambda v: f"must equal {v!r}",
    "minLength": lambda v: f"must be at least {v} characters long",
    "maxLength": lambda v: f"must be at most {v} characters long",
    "minimum": lambda v: f"must be >= {v}",
    "maximum": lambda v: f"must be <= {v}",
    "exclusiveMinimum": lambda v: f"must be > {v}",
    "exclusiveMaximum": lambda v: f"must be < {v}",
    "multipleOf": lambda v: f"must be a multiple of {v}",
    "minItems": lambda v: f"must have at least {v} items",
    "maxItems": lambda v: f"must have at most {v} items",
    "uniqueItems": lambda v: "must not repeat items",
    "minProperties": lambda v: f"must have at least {v} properties",
    "maxProperties": lambda v: f"must have at most {v} properties",
}


def _rule(error: ValidationError) -> str:
    """The rule an error broke; names of properties (they are paths) but no value."""
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    # Their messages name properties the schema lists ("'id' is a required property").
    if keyword in ("required", "dependentRequired"):
        return str(error.message)
    if keyword == "additionalProperties" and isinstance(instance, dict):
        declared = set(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        extra = [
            str(name) for name in instance
            if name not in declared and not any(re.search(p, str(name)) for p in patterns)
        ]
        return "unexpected " + ", ".join(repr(name) for name in extra)
    if isinstance(keyword, str) and keyword in _RULES:
        return _RULES[keyword](expected)
    where = "/".join(str(part) for part in error.schema_path)
    if keyword is None:  # a `false` schema
        return f"not allowed by the schema (at {where})"
    return f"fails the schema's {keyword!r} rule (at {where})"


def schema_problems(state: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(state), key=lambda error: list(error.absolute_path))
    return [f"{error.json_path}: {_rule(error)}" for error in errors]


async def execute(config: ValidateConfig, call: StepCall) -> StepResult:
    state = call.context.current
    if config.strategy == "json_schema":
        problems = schema_problems(state, config.schema_ or {})
    else:
        paths = rendered_list(config.required_fields or [], "required_fields")
        problems = missing_fields(state, paths)
    if problems:
        raise StepError(
            f"validation failed ({len(problems)} problem{'s' if len(problems) > 1 else ''}): "
            + "; ".join(problems),
            retryable=False,
            error_type="ValidationFailed",
        )
    return StepResult()


VALIDATE = StepType(
    name="step.validate",
    config_model=ValidateConfig,
    execute=execute,
    # A schema is data, not a template: `{{` inside a pattern must reach the validator intact.
    raw_fields=frozenset({"schema"}),
    description="Validate the current state by required fields or a JSON Schema (2020-12).",
)
