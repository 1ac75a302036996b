"""Pipeline configuration: the YAML format, its loader and its JSON Schema.

Loading checks everything a run would trip over later (unknown step types, invalid step
config, template syntax, duplicate names, jumps to steps that do not exist, bad durations) and
reports every problem with its file, pipeline and step, before any run starts.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jsonschema import Draft202012Validator, SchemaError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    create_model,
    model_validator,
)

from engine.appfile.model import is_application_file
from engine.bounded_yaml import load_yaml, read_document
from engine.durations import parse_duration
from engine.step_registry import StepRegistry
from engine.suggest import did_you_mean
from engine.templates import as_expression_template, check_syntax
from interfaces.errors import ConfigError

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    # Seconds keep the snapshot in history readable and JSON-friendly.
    PlainSerializer(lambda d: d.total_seconds(), return_type=float),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?(ms|s|m|h|d))+\s*$"},
                {"type": "number", "minimum": 0},
            ],
            "description": 'a duration: "500ms", "10s", "2m", "1h30m", or seconds',
        }
    ),
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
ON_ERROR_PATTERN = r"^(continue|fail|goto [A-Za-z0-9][A-Za-z0-9_.-]*)$"


class RetrySpec(BaseModel):
    """A step's retry policy; becomes the Temporal activity's RetryPolicy."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(3, ge=1)
    initial_interval: Duration = timedelta(seconds=1)
    backoff: float = Field(2.0, ge=1.0)
    max_interval: Duration = timedelta(seconds=30)


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=NAME_PATTERN)
    type: str
    config: dict[str, Any] = Field(default_factory=dict)
    retry: RetrySpec | None = None
    timeout: Duration | None = None
    if_: str | None = Field(default=None, alias="if")
    skip_if: str | None = None
    # Overrides the pipeline's on_error for this step: "continue", "fail" or "goto <step>".
    on_error: str | None = Field(default=None, pattern=ON_ERROR_PATTERN)

    def error_target(self) -> str | None:
        """The step an `on_error: goto <step>` jumps to."""
        if self.on_error and self.on_error.startswith("goto "):
            return self.on_error[len("goto "):]
        return None


class ScheduleTrigger(BaseModel):
    """`trigger: {type: schedule, ...}`: a Temporal Schedule starts the pipeline."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["schedule"]
    cron: str | None = None
    interval: Duration | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    # What a start does while the previous scheduled run is still going.
    overlap: Literal["skip", "buffer_one", "allow_all"] = "skip"
    # The IANA zone a cron is read in (Temporal's default: UTC).
    timezone: str | None = None

    @model_validator(mode="after")
    def _one_spec(self) -> ScheduleTrigger:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give either `cron` or `interval`")
        if self.cron is not None and not _looks_like_cron(self.cron):
            raise ValueError(f"cron {self.cron!r} needs 5 fields (min hour day month weekday)"
                             " or a shorthand like @hourly")
        if self.interval is not None and self.interval.total_seconds() < 1:
            raise ValueError("interval must be at least 1s")
        if self.timezone is not None:
            if self.cron is None:
                raise ValueError("`timezone` applies to a `cron` only")
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"timezone {self.timezone!r} is not an IANA time zone name") \
                    from None
        return self


def _looks_like_cron(text: str) -> bool:
    text = text.strip()
    return text.startswith("@") or len(text.split()) == 5


HTTP_PATH_PATTERN = r"^(/([A-Za-z0-9._~-]+|\{[A-Za-z_][A-Za-z0-9_]*\}))+$"
# `wfctl serve` serves its own documentation under these.
RESERVED_HTTP_PATHS = ("/docs", "/redoc", "/openapi.json")


ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# scheme://host[:port], as browsers send it in the Origin header.
ORIGIN_PATTERN = r"^(\*|https?://[A-Za-z0-9.-]+(:\d+)?|https?://\[[0-9A-Fa-f:.]+\](:\d+)?)$"


def _refuse_literal(data: Any, literal: str, env_field: str) -> Any:
    """A secret written into the file would be in every run's definition snapshot (history)."""
    if isinstance(data, dict) and literal in data:
        raise ValueError(
            f"give `{env_field}`, the name of an environment variable of `wfctl serve` holding "
            f"the {literal}, not the {literal} itself"
        )
    return data


class BearerAuth(BaseModel):
    """`auth: {type: bearer, token_env: NAME}`: requests need `Authorization: Bearer <token>`."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["bearer"]
    token_env: str = Field(pattern=ENV_NAME_PATTERN)

    @model_validator(mode="before")
    @classmethod
    def _by_name(cls, data: Any) -> Any:
        return _refuse_literal(data, "token", "token_env")


class HmacAuth(BaseModel):
    """`auth: {type: hmac, secret_env: NAME, header: X-Signature}`: the header holds the
    HMAC-SHA256 of the raw body under the secret, in hex (`sha256=` in front is accepted)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["hmac"]
    secret_env: str = Field(pattern=ENV_NAME_PATTERN)
    header: str = Field("X-Signature", pattern=r"^[A-Za-z0-9-]+$")

    @model_validator(mode="before")
    @classmethod
    def _by_name(cls, data: Any) -> Any:
        return _refuse_literal(data, "secret", "secret_env")


TriggerAuth = Annotated[BearerAuth | HmacAuth, Field(discriminator="type")]


class HttpTrigger(BaseModel):
    """`trigger: {type: http, path: /orders, method: POST}`: `wfctl serve` runs the pipeline
    for each request on that route."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Literal["http"]
    # Literal segments and `{name}` parameters: /orders/{order_id}/refunds.
    path: str = Field(pattern=HTTP_PATH_PATTERN)
    method: Annotated[
        Literal["GET", "POST", "PUT", "PATCH", "DELETE"],
        BeforeValidator(lambda m: m.upper() if isinstance(m, str) else m),
    ] = "POST"
    # Answer 202 with the workflow id at once instead of waiting for the run's output.
    async_: bool = Field(False, alias="async")
    # A JSON Schema (2020-12) of the request body: checked before a run starts, and shown in
    # the OpenAPI document.
    request_schema: dict[str, Any] | None = None
    # How long a synchronous request waits for the run; the run itself goes on.
    timeout: Duration = timedelta(seconds=30)
    # Every check listed must pass (one mapping or a list of them).
    auth: Annotated[
        list[TriggerAuth], BeforeValidator(lambda a: [a] if isinstance(a, dict) else a)
    ] = Field(default_factory=list)
    # Also take `application/x-www-form-urlencoded` bodies (decoded to a mapping of strings),
    # as the spec engine's step.request_parse does.
    form: bool = False
    # Browser origins allowed to call this route (CORS), besides `wfctl serve --cors-origin`.
    cors_origins: list[Annotated[str, Field(pattern=ORIGIN_PATTERN)]] = Field(
        default_factory=list
    )

    @model_validator(mode="after")
    def _checks(self) -> HttpTrigger:
        if any(self.path == p or self.path.startswith(p + "/") for p in RESERVED_HTTP_PATHS):
            raise ValueError(f"path {self.path} is reserved for wfctl serve's own documentation")
        names = self.path_params()
        if len(names) != len(set(names)):
            raise ValueError(f"path {self.path} repeats a parameter")
        if self.request_schema is not None:
            try:
                Draft202012Validator.check_schema(self.request_schema)
            except SchemaError as exc:
                raise ValueError(f"request_schema is not a valid JSON Schema: {exc.message}") \
                    from None
        return self

    def path_params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)

    def route(self) -> str:
        """METHOD and path with parameter names blurred: two routes that match the same
        requests have the same route."""
        return f"{self.method} " + re.sub(r"\{\w+\}", "{}", self.path)


Trigger = Annotated[ScheduleTrigger | HttpTrigger, Field(discriminator="type")]


class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    trigger: Trigger | None = None
    timeout: Duration | None = None
    on_error: Literal["stop", "skip", "compensate"] = "stop"
    strict_templates: bool = True
    compensation: list[StepSpec] = Field(default_factory=list)
    steps: list[StepSpec] = Field(min_length=1)


class PipelinesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipelines: dict[Annotated[str, Field(pattern=NAME_PATTERN)], PipelineSpec]


class PipelineDefinition(BaseModel):
    """A loaded pipeline as the workflow receives it: the snapshot recorded in history."""

    name: str
    source: str
    spec: PipelineSpec
    # The absolute folder of the file declaring it ("" when loaded from text): IaC steps'
    # stack files are resolved against it, never against the worker's working directory.
    folder: str = ""
    # Step types that run as regular activities; all others run as local activities.
    io_types: list[str] = Field(default_factory=list)

    def runs_as_activity(self, step: StepSpec) -> bool:
        return step.type in self.io_types


def _step_label(raw: Any, index: int) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        return f'step "{raw["name"]}"'
    return f"step #{index + 1}"


def _describe_location(source: str, raw: Any, loc: tuple[Any, ...]) -> str:
    """Turn a pydantic error location into `file: pipeline "x": step "y": field`."""
    parts = [source]
    node = raw
    rest: list[str] = []
    i = 0
    while i < len(loc):
        key = loc[i]
        if key == "pipelines" and i + 1 < len(loc) and isinstance(node, dict):
            name = loc[i + 1]
            parts.append(f'pipeline "{name}"')
            node = (node.get("pipelines") or {}).get(name) if isinstance(node, dict) else None
            i += 2
            continue
        if key in ("steps", "compensation") and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            items = node.get(key) if isinstance(node, dict) else None
            index = loc[i + 1]
            step_raw = items[index] if isinstance(items, list) and index < len(items) else None
            prefix = "compensation " if key == "compensation" else ""
            parts.append(prefix + _step_label(step_raw, index))
            node = step_raw
            i += 2
            continue
        rest.append(str(key))
        i += 1
    if rest:
        parts.append(".".join(rest))
    return ": ".join(parts)


def _validation_problems(source: str, raw: Any, exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        where = _describe_location(source, raw, tuple(err["loc"]))
        problems.append(f"{where}: {err['msg']}")
    return problems


def _check_steps(
    where: str, steps: list[StepSpec], registry: StepRegistry, jump_targets: set[str]
) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for step in steps:
        here = f'{where}: step "{step.name}"'
        if step.name in seen:
            problems.append(f"{here}: duplicate step name")
        seen.add(step.name)
        for field_name, text in (("if", step.if_), ("skip_if", step.skip_if)):
            if text is not None:
                problems.extend(
                    f"{here}: {field_name}: {p}"
                    for p in check_syntax(as_expression_template(text))
                )
        if step.type not in registry:
            known = ", ".join(registry.names())
            hint = did_you_mean(step.type, registry.names())
            problems.append(f'{here}: unknown step type "{step.type}"{hint} (known: {known})')
            continue
        step_type = registry.get(step.type)
        # Raw fields (a JSON Schema, a jmespath expression) are not templates.
        templated = {k: v for k, v in step.config.items() if k not in step_type.raw_fields}
        problems.extend(f"{here}: {p}" for p in check_syntax(templated, "config"))
        try:
            config = step_type.config_model.model_validate(step.config)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                path = ".".join(str(p) for p in err["loc"])
                problems.append(f"{here}: config.{path}: {err['msg']}" if path else
                                f"{here}: config: {err['msg']}")
            continue
        referenced = getattr(config, "referenced_steps", None)
        for target in referenced() if callable(referenced) else ():
            # A template picks its target at run time; only literal names can be checked here.
            if "{{" not in target and target not in jump_targets:
                problems.append(f'{here}: jumps to step "{target}", which does not exist')
        for label, sub_steps in sub_step_lists(config).items():
            problems += _check_steps(
                f"{here}: {label}", sub_steps, registry, {s.name for s in sub_steps}
            )
    for step in steps:
        target = step.error_target()
        if target is not None and target not in jump_targets:
            problems.append(
                f'{where}: step "{step.name}": on_error: goto "{target}", which does not exist'
            )
    return problems


def sub_step_lists(config: Any) -> dict[str, list[StepSpec]]:
    """The nested step lists of a step config (foreach, parallel, ...), by label."""
    sub_steps = getattr(config, "sub_steps", None)
    return sub_steps() if callable(sub_steps) else {}


def _all_steps(steps: list[StepSpec], registry: StepRegistry) -> list[StepSpec]:
    """Steps with their nested sub-steps, depth first (the config is already valid)."""
    found: list[StepSpec] = []
    for step in steps:
        found.append(step)
        if step.type in registry:
            config = registry.get(step.type).config_model.model_validate(step.config)
            for sub_steps in sub_step_lists(config).values():
                found += _all_steps(sub_steps, registry)
    return found


def parse_pipelines(
    data: Any, source: str, registry: StepRegistry
) -> dict[str, PipelineDefinition]:
    """Validate one parsed document; raise ConfigError listing every problem."""
    if not isinstance(data, dict) or "pipelines" not in data:
        raise ConfigError(f"{source}: expected a mapping with a top-level `pipelines:` key")
    try:
        parsed = PipelinesFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_validation_problems(source, data, exc)) from None
    problems: list[str] = []
    pipelines: dict[str, PipelineDefinition] = {}
    for name, spec in parsed.pipelines.items():
        where = f'{source}: pipeline "{name}"'
        targets = {s.name for s in spec.steps}
        problems += _check_steps(where, spec.steps, registry, targets)
        problems += _check_steps(f"{where}: compensation", spec.compensation, registry, set())
        if problems:
            continue
        every_step = _all_steps([*spec.steps, *spec.compensation], registry)
        io_types = sorted({s.type for s in every_step if registry.get(s.type).io})
        pipelines[name] = PipelineDefinition(name=name, source=source, spec=spec, io_types=io_types)
    if problems:
        raise ConfigError(problems)
    return pipelines


def parse_pipelines_text(
    text: str, source: str, registry: StepRegistry
) -> dict[str, PipelineDefinition]:
    data = load_yaml(text, source)
    return parse_pipelines(data, source, registry)


_YAML_SUFFIXES = (".yaml", ".yml")


def load_pipelines(
    path: str | Path, registry: StepRegistry, *, env: str | None = None
) -> dict[str, PipelineDefinition]:
    """Load one file, or every pipelines file under a folder (other YAML, like stacks, is
    skipped there). Pipeline names must be unique across files, and every pipeline a
    call_pipeline step names must be among them. `env` picks the `environments:` overrides
    of application files' modules (their IaC steps' stacks)."""
    root = Path(path)
    if not root.exists():
        raise ConfigError(f"{root}: no such file or folder")
    if root.is_file():
        pipelines = _in_folder(_parse_file(root, _read(root), registry, env), root)
    else:
        pipelines = _load_folder(root, registry, env)
    problems = (_unknown_calls(pipelines, registry) + _call_cycles(pipelines, registry)
                + _route_clashes(pipelines))
    if problems:
        raise ConfigError(problems)
    return pipelines


def _unknown_calls(pipelines: dict[str, PipelineDefinition], registry: StepRegistry) -> list[str]:
    problems = []
    for name, definition in pipelines.items():
        spec = definition.spec
        for step in _all_steps([*spec.steps, *spec.compensation], registry):
            called = step.config.get("pipeline") if step.type == "step.call_pipeline" else None
            # A template picks the pipeline at run time; only literal names can be checked.
            if isinstance(called, str) and "{{" not in called and called not in pipelines:
                problems.append(
                    f'{definition.source}: pipeline "{name}": step "{step.name}": calls pipeline '
                    f'"{called}", which is not defined'
                )
    return problems


def _literal_calls(
    definition: PipelineDefinition, registry: StepRegistry
) -> list[tuple[str, str]]:
    """(called pipeline, calling step) for each call_pipeline step that names its target
    literally, sub-steps and compensation included."""
    spec = definition.spec
    calls = []
    for step in _all_steps([*spec.steps, *spec.compensation], registry):
        called = step.config.get("pipeline") if step.type == "step.call_pipeline" else None
        if isinstance(called, str) and "{{" not in called:
            calls.append((called, step.name))
    return calls


def _call_cycles(pipelines: dict[str, PipelineDefinition], registry: StepRegistry) -> list[str]:
    """Loops of literal call_pipeline targets: each call starts a child run, so such a loop
    never ends by itself (a template-chosen target is left to the runtime depth limit).
    A depth-first walk reports each loop it closes, which finds at least one in every
    tangle, in time linear in the calls; it keeps its own stack, so a long chain of
    pipelines cannot exhaust Python's."""
    calls = {name: _literal_calls(d, registry) for name, d in pipelines.items()}
    problems: list[str] = []
    done: set[str] = set()
    for root in pipelines:
        if root in done:
            continue
        # The pipelines being walked, each with its calls still to follow; `via[i]` is the
        # step of path[i] that calls path[i + 1].
        path = [root]
        pending = [iter(calls[root])]
        via: list[str] = []
        while path:
            called, step = next(pending[-1], (None, ""))
            if called is None:
                done.add(path.pop())
                pending.pop()
                if via:
                    via.pop()
            elif called in path:
                start = path.index(called)
                cycle = " -> ".join([*path[start:], called])
                problems.append(
                    f"call_pipeline cycle: {cycle} (file {pipelines[called].source}, "
                    f"pipeline {called}, step {[*via, step][start]})"
                )
            elif called in pipelines and called not in done:
                path.append(called)
                pending.append(iter(calls[called]))
                via.append(step)
    return problems


def _route_clashes(pipelines: dict[str, PipelineDefinition]) -> list[str]:
    problems = []
    taken: dict[str, str] = {}
    for name, definition in pipelines.items():
        trigger = definition.spec.trigger
        if not isinstance(trigger, HttpTrigger):
            continue
        route = trigger.route()
        if route in taken:
            problems.append(
                f'{definition.source}: pipeline "{name}": trigger: {trigger.method} '
                f'{trigger.path} is already the route of pipeline "{taken[route]}"'
            )
        taken.setdefault(route, name)
    return problems


def _load_folder(
    root: Path, registry: StepRegistry, env: str | None
) -> dict[str, PipelineDefinition]:
    pipelines: dict[str, PipelineDefinition] = {}
    problems: list[str] = []
    for file in sorted(p for p in root.rglob("*") if p.suffix in _YAML_SUFFIXES):
        text = _read(file)
        if not re.search(r"^pipelines\s*:", text, re.MULTILINE):
            continue
        try:
            loaded = _in_folder(_parse_file(file, text, registry, env), file)
        except ConfigError as exc:
            problems += exc.problems
            continue
        for name, definition in loaded.items():
            if name in pipelines:
                problems.append(
                    f'{file}: pipeline "{name}" is already defined in {pipelines[name].source}'
                )
            pipelines[name] = definition
    if problems:
        raise ConfigError(problems)
    return pipelines


def _parse_file(
    file: Path, text: str, registry: StepRegistry, env: str | None
) -> dict[str, PipelineDefinition]:
    """A native pipelines file, or an application file in the spec engine's dialect
    (engine.appfile), converted."""
    data = load_yaml(text, str(file))
    if not is_application_file(data):
        return parse_pipelines(data, str(file), registry)
    # engine.appfile.pipelines builds on this module: imported when a file needs it.
    from engine.appfile.pipelines import application_pipelines

    return application_pipelines(file, registry, env=env)


def _in_folder(
    pipelines: dict[str, PipelineDefinition], file: Path
) -> dict[str, PipelineDefinition]:
    folder = str(file.resolve().parent)
    return {name: d.model_copy(update={"folder": folder}) for name, d in pipelines.items()}


def _read(file: Path) -> str:
    return read_document(file)


def pipeline_json_schema(registry: StepRegistry) -> dict[str, Any]:
    """JSON Schema of the pipelines format, with each step type's own config schema."""
    variants: list[Any] = []
    for step_type in registry:
        variants.append(
            create_model(
                "Step_" + re.sub(r"\W", "_", step_type.name),
                __base__=StepSpec,
                type=(Literal[step_type.name], ...),  # type: ignore[valid-type]
                config=(step_type.config_model, Field(default_factory=dict)),
            )
        )
    step_union = Annotated[Any, Field(discriminator="type")]
    if variants:
        from typing import Union

        step_union = Annotated[Union[tuple(variants)], Field(discriminator="type")]  # type: ignore[assignment]  # noqa: UP007
    pipeline = create_model(
        "Pipeline",
        __base__=PipelineSpec,
        steps=(list[step_union], Field(min_length=1)),  # type: ignore[valid-type]
        compensation=(list[step_union], Field(default_factory=list)),  # type: ignore[valid-type]
    )
    document = create_model(
        "WfctlPipelines",
        __base__=PipelinesFile,
        pipelines=(dict[str, pipeline], ...),  # type: ignore[valid-type]
    )
    schema = document.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "wfctl pipelines"
    return schema
