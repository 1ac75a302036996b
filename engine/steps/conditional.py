"""step.conditional: pick the next step from a value in the state, or from a condition.

Two shapes:
  field/routes/default: the value at `field` (a dotted path into the current state, or a
      template) selects `routes[value]`, else `default`.
  if/then/else: `if` is an expression (`trigger.amount > 100`) or a template; truthy goes to
      `then`, falsy to `else`. An empty target means "continue with the next step".
`field` and `if` are raw: the step resolves them itself, since a path is not a template.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from engine.step_registry import StepCall, StepError, StepType
from engine.steps.config import StepConfig
from engine.steps.paths import lookup
from engine.templates import as_expression_template, check_syntax, has_template_syntax, is_truthy
from interfaces import StepResult


def route_key(value: Any) -> str:
    """How a state value is spelled as a route: YAML's `true:` and `"true"` are the same route."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ConditionalConfig(StepConfig):
    field: str | None = None
    routes: dict[str, str] = Field(default_factory=dict)
    default: str | None = None
    if_: Any = Field(default=None, alias="if")
    then: str = ""
    else_: str = Field(default="", alias="else")

    @field_validator("routes", mode="before")
    @classmethod
    def _route_keys_as_text(cls, value: Any) -> Any:
        # YAML reads `200:` and `true:` as int and bool keys.
        if isinstance(value, dict):
            return {route_key(key): target for key, target in value.items()}
        return value

    @model_validator(mode="after")
    def _one_shape(self) -> ConditionalConfig:
        by_field = self.field is not None
        by_condition = self.if_ is not None
        if by_field == by_condition:
            raise ValueError("give either `field` (with routes/default) or `if` (with then/else)")
        if by_field and (self.then or self.else_):
            raise ValueError("`then`/`else` go with `if`, not with `field`")
        if by_condition and (self.routes or self.default is not None):
            raise ValueError("`routes`/`default` go with `field`, not with `if`")
        if by_field and not self.routes and self.default is None:
            raise ValueError("`field` needs `routes` or a `default`")
        sources = [self.field] if by_field else []
        if isinstance(self.if_, str):
            sources.append(as_expression_template(self.if_))
        problems = [problem for source in sources for problem in check_syntax(source)]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def referenced_steps(self) -> list[str]:
        """Step names this config can jump to; the loader checks that each exists."""
        targets = [*self.routes.values(), self.default or "", self.then, self.else_]
        return [target for target in targets if target]


async def execute(config: ConditionalConfig, call: StepCall) -> StepResult:
    if config.field is None:
        condition = config.if_
        if isinstance(condition, str):
            condition = call.render(as_expression_template(condition))
        return StepResult(next_step=config.then if is_truthy(condition) else config.else_)
    if has_template_syntax(config.field):
        found, value = True, call.render(config.field)
    else:
        found, value = lookup(call.context.current, config.field)
    key = route_key(value) if found and value is not None else None
    if key is not None and key in config.routes:
        return StepResult(next_step=config.routes[key])
    if config.default is not None:
        return StepResult(next_step=config.default)
    shown = f"value {key!r}" if key is not None else "no value"
    raise StepError(
        f"field {config.field!r} has {shown} and no default; known routes: "
        f"{', '.join(sorted(config.routes)) or '(none)'}",
        error_type="NoRoute",
    )


CONDITIONAL = StepType(
    name="step.conditional",
    config_model=ConditionalConfig,
    execute=execute,
    raw_fields=frozenset({"field", "if"}),
    description="Route to a step by a state value (field/routes/default) or a condition (if).",
)
