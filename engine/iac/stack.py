"""The stack document: what a stack file (YAML) or a workflow input (JSON) declares.

`parse_stack` checks the shape, `validate_stack` the meaning (providers, types, names,
dependencies); both collect every problem and raise one ConfigError listing them, each
naming the source and the resource.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from engine.bounded_yaml import load_yaml, read_document
from engine.iac.graph import dependencies, find_cycles
from engine.iac.references import find_references, malformed_references
from engine.redaction import dsn_has_password
from engine.suggest import did_you_mean
from interfaces.errors import ConfigError
from interfaces.iac import (
    SPEC_RESOURCE_TYPES,
    CapabilityDeclaration,
    ResourceHints,
    ResourceSpec,
    Size,
)
from interfaces.secrets import literal_value_problems

STACK_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# No dots: `${a.b.outputs.x}` would be ambiguous, and names end up in cloud tags and ids.
RESOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# Substrings of a provider setting's name that mean it holds a credential.
_SECRET_KEY_PARTS = (
    "access_key",
    "secret",
    "password",
    "passwd",
    "token",
    "api_key",
    "apikey",
    "private_key",
)
_SIZES = ", ".join(size.value for size in Size)
# Config fields whose values are address ranges (CIDRs or single addresses), wherever they sit.
CIDR_FIELDS = frozenset({
    "cidr", "cidrs", "ipv6_cidr", "source_ranges", "destination_ranges", "ip_range",
    "authorized_networks", "addresses",
})
# The user's own keys and values: a tag called `cidr` is just a tag.
_FREE_FORM = frozenset({"tags", "labels"})
# Azure's spellings of "any address" in a security rule.
_ANY_ADDRESS = frozenset({"*", "any"})


class Lifecycle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    create_before_destroy: bool = False
    # Dotted config paths whose changes never cause an action; `tags` also covers `tags.x`.
    ignore_changes: list[str] = Field(default_factory=list)


class StackResource(ResourceSpec):
    """A resource as a stack declares it: the spec plus where and how it is managed."""

    model_config = ConfigDict(extra="forbid")

    provider: str  # a key of the stack's `providers`
    protected: bool = False
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)

    def spec(self) -> ResourceSpec:
        """The plain ResourceSpec a driver receives."""
        return ResourceSpec(
            name=self.name,
            type=self.type,
            config=self.config,
            size=self.size,
            hints=self.hints,
            depends_on=self.depends_on,
        )


# Seconds an action may go without a heartbeat before Temporal counts its worker dead and runs
# it again elsewhere (bounded by a day: it becomes a timedelta inside the workflow).
_HEARTBEAT_TIMEOUT: TypeAdapter[float] = TypeAdapter(
    Annotated[float, Field(strict=True, gt=0, le=86_400, allow_inf_nan=False)]
)


def heartbeat_timeout_of(block: Mapping[str, Any]) -> float | None:
    """A provider block's `heartbeat_timeout` for its actions (None: the run's, 30 s);
    ValueError saying why when it is not a number of seconds in (0, 86400]."""
    value = block.get("heartbeat_timeout")
    if value is None:
        return None
    try:
        return _HEARTBEAT_TIMEOUT.validate_python(value)
    except ValidationError as error:
        raise ValueError(f"heartbeat_timeout: {error.errors()[0]['msg']}") from None


class ProviderBlock(BaseModel):
    """Provider settings (region, endpoint_url, profile, ...); credentials come from the SDK."""

    model_config = ConfigDict(extra="allow")

    type: str

    @model_validator(mode="after")
    def _sane_heartbeat_timeout(self) -> ProviderBlock:
        heartbeat_timeout_of(self.model_extra or {})
        return self

    @model_validator(mode="after")
    def _bulk_read_is_a_switch(self) -> ProviderBlock:
        # bulk_read: false makes plan, drift and status read one resource at a time.
        value = (self.model_extra or {}).get("bulk_read", True)
        if not isinstance(value, bool):
            raise ValueError(f"bulk_read must be true or false, not {str(value)[:40]!r}")
        return self

    @model_validator(mode="after")
    def _no_credentials(self) -> ProviderBlock:
        found = sorted(_secret_keys(self.model_extra or {}))
        if found:
            raise ValueError(
                f"{', '.join(found)} looks like a credential: a stack never holds credentials; "
                "use the provider SDK's credential chain (environment, profile, instance role)"
            )
        return self


class StateBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: str = ".data/state.db"
    dsn_env: str | None = None
    dsn: str | None = None

    @model_validator(mode="after")
    def _postgres_needs_dsn(self) -> StateBlock:
        if self.backend == "postgres" and not (self.dsn_env or self.dsn):
            raise ValueError("backend postgres needs dsn_env (preferred) or dsn")
        # The stack document is a workflow input: an inline password would be in its history.
        if self.dsn and dsn_has_password(self.dsn):
            raise ValueError(
                "dsn holds a password, which would be recorded in the workflow history; put "
                "the DSN in an environment variable of the worker and name it with dsn_env "
                "(state: {backend: postgres, dsn_env: WFCTL_STATE_DSN})"
            )
        return self


class StackDocument(BaseModel):
    """A whole stack. `by_name` is cached: replace `resources`, never mutate the list in place."""

    model_config = ConfigDict(extra="forbid")

    stack: str
    state: StateBlock = Field(default_factory=StateBlock)
    providers: dict[str, ProviderBlock] = Field(default_factory=dict)
    resources: list[StackResource] = Field(default_factory=list)
    # The stack's default for `apply --on-failure` (stop: today's behaviour; wait: a failed
    # action waits for `wfctl infra retry|skip|abort`). An apply's input field of that name.
    on_failure: Literal["stop", "wait"] = "stop"

    @model_validator(mode="before")
    @classmethod
    def _default_provider(cls, data: Any) -> Any:
        """With a single provider, resources may leave `provider` out."""
        if not isinstance(data, dict):
            return data
        providers, resources = data.get("providers"), data.get("resources")
        if not isinstance(providers, dict) or len(providers) != 1:
            return data
        if not isinstance(resources, list):
            return data
        only = next(iter(providers))
        if all(not isinstance(r, dict) or "provider" in r for r in resources):
            return data
        filled = [
            {**r, "provider": only} if isinstance(r, dict) and "provider" not in r else r
            for r in resources
        ]
        return {**data, "resources": filled}

    @cached_property
    def by_name(self) -> dict[str, StackResource]:
        """name -> resource (the last one of a duplicated name), in declaration order."""
        return {resource.name: resource for resource in self.resources}

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "resources":
            self.__dict__.pop("by_name", None)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        if update and "resources" in update:
            copied.__dict__.pop("by_name", None)
        return copied

    def resource(self, name: str) -> StackResource:
        """The resource called `name`; KeyError when there is none."""
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f'stack "{self.stack}" has no resource "{name}"') from None


def parse_stack(data: Any, source: str = "<input>") -> StackDocument:
    """A StackDocument from parsed YAML/JSON, or ConfigError listing every shape problem."""
    if isinstance(data, StackDocument):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: a stack document is a mapping, got {type(data).__name__}")
    problems = _hint_problems(data, source)
    try:
        document = StackDocument.model_validate(dict(data))
    except ValidationError as error:
        problems.extend(_describe(error, data, source))
    if problems:
        raise ConfigError(problems)
    return document


def load_stack_file(path: str | Path) -> StackDocument:
    """Read and parse a YAML or JSON stack file (JSON is YAML); ConfigError says file and line."""
    source = str(path)
    text = read_document(Path(path), "cannot read stack file")
    data = load_yaml(text, source)
    return parse_stack(data, source)


def validate_stack(
    doc: StackDocument,
    capabilities: Mapping[str, Iterable[CapabilityDeclaration]],
    source: str = "<input>",
    declared_outputs: Mapping[str, Collection[str]] | None = None,
) -> None:
    """Check what the shape cannot: providers, types, names, dependencies and addresses.

    `capabilities` is keyed by the stack's provider keys; a provider key missing from it is
    not type-checked. `declared_outputs` holds, by resource name, the output keys its driver
    declares; references to other resources' outputs are not checked. Raises one ConfigError
    listing every problem.
    """
    problems: list[str] = []
    if not STACK_NAME.match(doc.stack):
        problems.append(
            f'{source}: stack name "{doc.stack}" must be lowercase letters, digits, "-", "_" '
            'or "." and start with a letter or digit'
        )
    supported = {
        key: {declaration.resource_type for declaration in declared}
        for key, declared in capabilities.items()
    }
    first_index: dict[str, int] = {}
    for position, resource in enumerate(doc.resources):
        where = f'{source}: resource "{resource.name}"'
        if resource.name in first_index:
            problems.append(
                f"{where}: duplicate name (resources #{first_index[resource.name] + 1} "
                f"and #{position + 1})"
            )
        else:
            first_index[resource.name] = position
        if not RESOURCE_NAME.match(resource.name):
            problems.append(
                f'{where}: name must be letters, digits, "-" or "_" and start with a letter '
                "or digit"
            )
        problems.extend(_provider_problems(doc, resource, supported, where))
        problems.extend(f"{where}: {p}" for p in cidr_problems(resource.type, resource.config))
        if resource.type == "infra.secret":
            problems.extend(f"{where}: {p}" for p in literal_value_problems(resource.config))
    problems.extend(_dependency_problems(doc, set(first_index), source))
    problems.extend(_output_problems(doc, declared_outputs or {}, source))
    if problems:
        raise ConfigError(problems)


def cidr_problems(resource_type: str, config: Mapping[str, Any]) -> list[str]:
    """Address ranges that are not CIDRs, by config path, before any cloud call is made.

    A field named in CIDR_FIELDS holds a CIDR or a list of them at any depth (firewall rules
    included); an infra.vpc's `subnets` are CIDRs or mappings with a `cidr`. References are
    left for the resolved value to be checked by the cloud.
    """
    problems: list[str] = []
    pending: list[tuple[str, Any, bool]] = [
        (f"config.{key}", value, key in CIDR_FIELDS
         or (resource_type == "infra.vpc" and key == "subnets"))
        for key, value in config.items()
        if key not in _FREE_FORM
    ]
    while pending:
        path, value, holds_cidrs = pending.pop()
        if isinstance(value, Mapping):
            pending.extend(
                (f"{path}.{key}", item, key in CIDR_FIELDS) for key, item in value.items()
            )
        elif isinstance(value, list):
            pending.extend((f"{path}[{i}]", item, holds_cidrs) for i, item in enumerate(value))
        elif holds_cidrs:
            problem = _cidr_problem(value)
            if problem is not None:
                detail = f" ({problem})" if problem else ""
                problems.append(f"{path}: {value!r} is not a valid CIDR{detail}")
    return sorted(problems)


def _cidr_problem(value: Any) -> str | None:
    """Why `value` is not a CIDR ("" when no more can be said), or None when it is one."""
    if not isinstance(value, str):
        return f"a CIDR is a string like 10.0.0.0/16, not {type(value).__name__}"
    if "${" in value or value in _ANY_ADDRESS:
        return None
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        if "host bits set" in str(error):
            return f"host bits set; the network is {ipaddress.ip_network(value, strict=False)}"
        return ""
    return None


def _provider_problems(
    doc: StackDocument,
    resource: StackResource,
    supported: Mapping[str, set[str]],
    where: str,
) -> list[str]:
    if resource.provider not in doc.providers:
        declared = ", ".join(doc.providers) or "none"
        return [f'{where}: unknown provider "{resource.provider}" (declared: {declared})']
    types = supported.get(resource.provider)
    if types is None or resource.type in types:
        return []
    listed = ", ".join(sorted(types)) or "none"
    provider_type = doc.providers[resource.provider].type
    if resource.type in SPEC_RESOURCE_TYPES:
        return [
            f"{where}: {resource.type} is not offered by {provider_type} (provider "
            f'"{resource.provider}"; it offers: {listed})'
        ]
    return [
        f'{where}: type "{resource.type}" is not supported by provider "{resource.provider}" '
        f"({provider_type}; supported: {listed}){did_you_mean(resource.type, types)}"
    ]


def _dependency_problems(doc: StackDocument, known: set[str], source: str) -> list[str]:
    problems = []
    for resource in doc.resources:
        where = f'{source}: resource "{resource.name}"'
        for need in resource.depends_on:
            if need == resource.name:
                problems.append(f"{where}: depends on itself")
            elif need not in known:
                problems.append(f'{where}: depends_on names unknown resource "{need}"')
        for text in malformed_references(resource.config, known):
            problems.append(
                f"{where}: {text} is not a valid reference (the form is "
                "${<resource>.outputs.<key>})"
            )
        for name, key in sorted(find_references(resource.config)):
            reference = f"${{{name}.outputs.{key}}}"
            if name == resource.name:
                problems.append(f"{where}: reference {reference} points at itself")
            elif name not in known:
                problems.append(f'{where}: reference {reference} names unknown resource "{name}"')
    # Only edges between known resources, without self-loops (both reported above).
    deps = {
        name: {need for need in needs if need in known and need != name}
        for name, needs in dependencies(_unique(doc.resources)).items()
    }
    for cycle in find_cycles(deps):
        problems.append(f"{source}: dependency cycle: {' -> '.join(cycle)}")
    return problems


def _output_problems(
    doc: StackDocument, declared: Mapping[str, Collection[str]], source: str
) -> list[str]:
    """References to an output key the referenced resource's driver never reports: caught
    now, rather than as an unresolved reference halfway through an apply."""
    problems = []
    for resource in doc.resources:
        for name, key in sorted(find_references(resource.config)):
            known = declared.get(name)
            # A dotted key descends into a nested output; its first part must be declared.
            if known is None or key in known or key.split(".")[0] in known:
                continue
            referenced = doc.by_name[name]
            problems.append(
                f'{source}: resource "{resource.name}": reference ${{{name}.outputs.{key}}}: '
                f'{referenced.type} "{name}" has no output "{key}" '
                f"(its outputs: {', '.join(sorted(known))})"
            )
    return problems


def _unique(resources: Iterable[StackResource]) -> list[StackResource]:
    seen: set[str] = set()
    result = []
    for resource in resources:
        if resource.name not in seen:
            seen.add(resource.name)
            result.append(resource)
    return result


def _secret_keys(settings: Mapping[str, Any], prefix: str = "") -> set[str]:
    found = set()
    for key, value in settings.items():
        normalized = str(key).lower().replace("-", "_")
        if any(part in normalized for part in _SECRET_KEY_PARTS):
            found.add(f"{prefix}{key}")
        if isinstance(value, Mapping):
            found |= _secret_keys(value, f"{prefix}{key}.")
    return found


def _hint_problems(data: Mapping[str, Any], source: str) -> list[str]:
    """ResourceHints ignores unknown keys; a misspelt hint must not pass silently."""
    resources = data.get("resources")
    if not isinstance(resources, list):
        return []
    allowed = set(ResourceHints.model_fields)
    problems = []
    for position, raw in enumerate(resources):
        hints = raw.get("hints") if isinstance(raw, Mapping) else None
        if isinstance(hints, Mapping):
            for key in sorted(set(map(str, hints)) - allowed):
                problems.append(
                    f"{source}: {_resource_label(resources, position)}: unknown hint \"{key}\" "
                    f"({', '.join(sorted(allowed))})"
                )
    return problems


def _describe(error: ValidationError, data: Mapping[str, Any], source: str) -> list[str]:
    problems = []
    for detail in error.errors():
        loc = list(detail["loc"])
        where = source
        if len(loc) >= 2 and loc[0] == "resources" and isinstance(loc[1], int):
            where = f"{source}: {_resource_label(data.get('resources'), loc[1])}"
            loc = loc[2:]
        elif len(loc) >= 2 and loc[0] == "providers":
            where = f'{source}: provider "{loc[1]}"'
            loc = loc[2:]
        elif loc and loc[0] == "state":
            where = f"{source}: state"
            loc = loc[1:]
        # A model's own validator reports under the model; drop pydantic's wrapper tags.
        loc = [part for part in loc if not (isinstance(part, str) and "[" in part)]
        field = ".".join(str(part) for part in loc)
        if field == "size" and detail["type"] == "enum":
            problems.append(f'{where}: unknown size "{detail["input"]}" ({_SIZES})')
            continue
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(f"{where}: {field}: {message}" if field else f"{where}: {message}")
    return problems


def _resource_label(resources: Any, position: int) -> str:
    raw = resources[position] if isinstance(resources, list) and position < len(resources) else None
    name = raw.get("name") if isinstance(raw, Mapping) else None
    if isinstance(name, str) and name:
        return f'resource "{name}"'
    return f"resource #{position + 1}"
