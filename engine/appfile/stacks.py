"""An application file's iac.provider / iac.state / infra.* modules as native stack
documents, and the spec's IaC step keys as a native step's `document` and `targets`.

Stacks: one per `iac.state` module (a resource names its store with `config.state` when
there are several), else one. The stack is named after the application, suffixed with the
state module's name when there are several and with the environment under `--env`, so
staging and production never share a state or a lock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine.appfile.iac_modules import SHORTHANDS, provider_block, provider_cloud, state_block
from engine.appfile.infra_keys import map_config
from engine.appfile.model import ApplicationFile, AppStacks
from interfaces.errors import ConfigError
from interfaces.iac import Size

TIERS = frozenset(size.value for size in Size)
# Config keys by which a resource names its network, per cloud.
NETWORK_KEYS: dict[str, frozenset[str]] = {
    "aws": frozenset({"subnet_ids", "subnets", "vpc_id"}),
    "digitalocean": frozenset({"vpc_id"}),
    "gcp": frozenset({"network", "subnetwork"}),
    "azure": frozenset({"subnet_id"}),
}
# type -> config key -> the only vpc's output it takes, per cloud.
PLACEMENT: dict[str, dict[str, dict[str, str]]] = {
    "aws": {
        "infra.database": {"subnet_ids": "subnet_ids"},
        "infra.cache": {"subnet_ids": "subnet_ids"},
        "infra.container_service": {"subnets": "subnet_ids"},
        "infra.load_balancer": {"subnets": "subnet_ids"},
        "infra.firewall": {"vpc_id": "vpc_id"},
    },
    "digitalocean": {
        "infra.database": {"vpc_id": "vpc_id"},
        "infra.load_balancer": {"vpc_id": "vpc_id"},
        "infra.droplet": {"vpc_id": "vpc_id"},
    },
    "gcp": {
        "infra.firewall": {"network": "network"},
        "infra.cache": {"network": "network"},
        "infra.instance": {"network": "network"},
    },
}
# The spec's IaC step types -> wfctl's.
IAC_STEPS = {
    **{f"step.iac_{v}": f"step.iac_{v}" for v in
       ("plan", "apply", "destroy", "status", "drift", "drift_detect", "outputs")},
    **{f"step.iac_provider_{v}": f"step.iac_{v}" for v in
       ("plan", "apply", "destroy", "status", "drift", "outputs")},
}
_STEP_TARGET_KEYS = ("platform", "resource_id", "resources")


def resolved(module: Mapping[str, Any], env: str | None) -> dict[str, Any] | None:
    """The module's config with its `environments.<env>.config` over it; None when that
    environment is `null` (the module does not exist there)."""
    config = dict(module.get("config") or {})
    environments = module.get("environments") or {}
    if env is None or not isinstance(environments, Mapping) or env not in environments:
        return config
    override = environments[env]
    if override is None:
        return None
    if isinstance(override, Mapping):
        config.update(override.get("config") or {})
        if "provider" in override and isinstance(override["provider"], str):
            config["provider"] = override["provider"]
    return config


def stack_name(app: ApplicationFile, state: str | None, several: bool, env: str | None) -> str:
    parts = [app.name] + ([state] if several and state else []) + ([env] if env else [])
    name = re.sub(r"[^a-z0-9._-]+", "-", "-".join(parts).lower()).strip("-._")
    return name or "app"


def app_stacks(app: ApplicationFile, *, env: str | None = None) -> AppStacks:
    """The native stack documents of `app` under `env`; ConfigError listing every problem."""
    problems: list[str] = []
    notes: list[str] = []
    dropped: dict[str, list[str]] = {}

    def module_where(name: str) -> str:
        return f'{app.where(f"modules.{name}")}: module "{name}"'

    def drop(owner: str, keys: Mapping[str, str]) -> None:
        for key, why in keys.items():
            dropped.setdefault(owner, []).append(f"{key}: {why}")

    # Providers.
    providers: dict[str, dict[str, Any]] = {}
    region = _environment_region(app, env)
    for module in app.modules_of("iac.provider"):
        name = module["name"]
        config = resolved(module, env)
        if config is None:
            continue
        try:
            cloud = provider_cloud({"config": config}, module_where(name))
            env_region = region.get(cloud, region.get("*"))
            block, lost = provider_block({"config": config}, module_where(name), env_region)
        except ConfigError as error:
            problems.extend(error.problems)
            continue
        providers[name] = block
        drop(name, lost)

    # State stores, each a stack.
    states = [m for m in app.modules_of("iac.state") if resolved(m, env) is not None]
    several = len(states) > 1
    stacks: dict[str, dict[str, Any]] = {}
    state_stack: dict[str, str] = {}
    # Without a state module, a stack only when there is something to put in it.
    for module in states or ([None] if app.infra_modules else []):
        state_name = module["name"] if module else None
        where = module_where(state_name) if state_name else str(app.path)
        try:
            config = {**module, "config": resolved(module, env)} if module else None
            block, note, lost = state_block(config, where)
        except ConfigError as error:
            problems.extend(error.problems)
            continue
        name = stack_name(app, state_name, several, env)
        stacks[name] = {"stack": name, "state": block, "providers": {}, "resources": []}
        notes.append(note)
        if state_name:
            state_stack[state_name] = name
            drop(state_name, lost)

    # Resources.
    infra_names = {m["name"] for m in app.infra_modules}
    resource_stack: dict[str, str] = {}
    clouds = {name: block["type"] for name, block in providers.items()}
    for module in app.infra_modules:
        name, kind = module["name"], module["type"]
        where = module_where(name)
        config = resolved(module, env)
        if config is None:
            notes.append(f"{name} ({kind}) does not exist in environment {env}")
            continue
        provider = config.pop("provider", None)
        if provider is None and len(providers) == 1:
            provider = next(iter(providers))
        if provider not in providers:
            declared = ", ".join(providers) or "none"
            problems.append(f"{where}: config.provider {provider!r} names no iac.provider "
                            f"module (declared: {declared})")
            continue
        store = config.pop("state", None)
        if store is None and len(state_stack) <= 1:
            stack = next(iter(stacks), None)
        else:
            stack = state_stack.get(str(store))
        if stack is None:
            problems.append(f"{where}: config.state {store!r} names no iac.state module "
                            f"(declared: {', '.join(state_stack) or 'none'}); with several "
                            "stores every resource names its own")
            continue
        resource: dict[str, Any] = {"name": name, "type": kind, "provider": provider}
        size = config.pop("size", None)
        if size is not None and str(size) in TIERS:
            resource["size"] = str(size)
        elif size is not None:
            config.setdefault("instance_type", size)  # a native size, as the cloud names it
        try:
            mapped, lost = map_config(kind, clouds[provider], config, where)
        except ConfigError as error:
            problems.extend(error.problems)
            continue
        drop(name, lost)
        resource["config"] = mapped
        needs = module.get("dependsOn") or module.get("depends_on") or []
        if isinstance(needs, str):
            needs = [needs]
        unknown = [n for n in needs if app.module(n) is None]
        if unknown:
            problems.append(f"{where}: dependsOn names no module: {', '.join(unknown)}")
            continue
        resource["depends_on"] = [n for n in needs if n in infra_names and n != name]
        if module.get("protected") is True:
            resource["protected"] = True
        stacks[stack]["resources"].append(resource)
        stacks[stack]["providers"][provider] = providers[provider]
        resource_stack[name] = stack

    if problems:
        raise ConfigError(problems)
    excluded = {n for n in infra_names if n not in resource_stack}
    for document in stacks.values():
        for resource in document["resources"]:
            resource["depends_on"] = [d for d in resource["depends_on"] if d not in excluded]
        notes.extend(_place_in_only_vpc(document, clouds))
        for resource in document["resources"]:
            if not resource["depends_on"]:
                del resource["depends_on"]  # as a hand-written stack file leaves it out
    unsupported = app.unsupported_modules
    return AppStacks(stacks=stacks, resource_stack=resource_stack, notes=notes,
                     unsupported=unsupported, dropped=dropped, state_stack=state_stack)


def _environment_region(app: ApplicationFile, env: str | None) -> dict[str, str]:
    """The top-level `environments.<env>` region, by the cloud it is for ("*": any)."""
    entry = app.environments.get(env) if env else None
    if not isinstance(entry, Mapping) or not entry.get("region"):
        return {}
    provider = entry.get("provider")
    if provider is None:
        return {"*": str(entry["region"])}
    cloud = SHORTHANDS.get(str(provider).lower())
    # A deployment target (docker, k8s) is no cloud a stack provisions: its region is not ours.
    return {cloud: str(entry["region"])} if cloud else {}


def _place_in_only_vpc(document: dict[str, Any], clouds: Mapping[str, str]) -> list[str]:
    notes = []
    for provider, cloud in clouds.items():
        resources = [r for r in document["resources"] if r["provider"] == provider]
        vpcs = [r for r in resources if r["type"] == "infra.vpc"]
        if len(vpcs) != 1:
            continue
        vpc = vpcs[0]["name"]
        for resource in resources:
            keys = PLACEMENT.get(cloud, {}).get(resource["type"])
            if not keys or NETWORK_KEYS[cloud] & set(resource["config"]):
                continue
            for key, output in keys.items():
                resource["config"][key] = f"${{{vpc}.outputs.{output}}}"
            if vpc not in resource["depends_on"]:
                resource["depends_on"].append(vpc)
            notes.append(f"{resource['name']} placed in network {vpc} (the stack's only "
                         "infra.vpc)")
    return notes


def native_iac_step(
    app: ApplicationFile, step_type: str, config: Mapping[str, Any], *, env: str | None
) -> tuple[str, dict[str, Any]]:
    """A spec IaC step (its `platform` / `resource_id` / `resources` naming infra.* modules,
    `state_store` an iac.state module, `provider` an iac.provider module) as wfctl's step
    type and config: the stack `document` and the `targets` to act on."""
    native = IAC_STEPS.get(step_type)
    if native is None:
        raise ConfigError(f"{step_type} is not an IaC step type ({', '.join(IAC_STEPS)})")
    built = app_stacks(app, env=env)
    rest = dict(config)
    named: list[str] = []
    for key in _STEP_TARGET_KEYS:
        value = rest.pop(key, None)
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str) or item not in built.resource_stack:
                known = ", ".join(sorted(built.resource_stack)) or "none"
                raise ConfigError(f"{step_type}: {key} {item!r} is not an infra.* module of "
                                  f"{app.path} (its resources: {known})")
            named.append(item)
    provider = rest.pop("provider", None)
    store = rest.pop("state_store", None)
    candidates = set(built.stacks)
    if store is not None:
        if store not in built.state_stack:
            raise ConfigError(f"{step_type}: state_store {store!r} is not an iac.state module "
                              f"(declared: {', '.join(built.state_stack) or 'none'})")
        candidates = {built.state_stack[store]}
    if provider is not None:
        if app.module(str(provider)) is None or app.module(str(provider)).get("type") != (
                "iac.provider"):
            raise ConfigError(f"{step_type}: provider {provider!r} is not an iac.provider "
                              "module")
        of_provider = [r["name"] for doc in built.stacks.values() for r in doc["resources"]
                       if r["provider"] == provider]
        if not named:  # the provider's resources, as step.iac_provider_plan means
            named = of_provider
        candidates &= {built.resource_stack[n] for n in of_provider} or candidates
    if named:
        candidates &= {built.resource_stack[n] for n in named}
    if len(candidates) != 1:
        raise ConfigError(
            f"{step_type}: the step acts on {len(candidates)} stacks "
            f"({', '.join(sorted(candidates)) or 'none'}); name one with state_store or "
            "resources of one store"
        )
    document = built.stacks[candidates.pop()]
    targets = list(dict.fromkeys(named))
    if targets and len(targets) == len(document["resources"]):
        targets = []  # the whole stack: plan and lock it as such
    native_config: dict[str, Any] = {**rest, "document": document}
    if targets:
        native_config["targets"] = targets
    return native, native_config
