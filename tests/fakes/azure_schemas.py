"""Request bodies checked against Azure's own models, as ARM checks them.

Each ARM type (and method) the provider writes is bound to the request model of its
azure-mgmt-* package (test-only dependencies). A body is walked through that model: a member
the model does not know (ARM would drop it silently, so the driver's intent is lost) and a
required member that is missing answer 400, like the real API. Read-only members are accepted
and ignored, as ARM does.

The packages carry one api-version each (the newest of their line, except for the ones that
still match the driver): where it is newer than the driver's, it is a superset of the older
schema for every member the drivers send, so a member unknown to it is unknown to the older one
too. `MODEL_API_VERSIONS` says which version stands in for which.

Two generations of generated models exist: msrest ones (`_attribute_map` with flattened
`properties.x` keys, `_validation` for required/readonly) and typespec ones (`rest_field`
descriptors with visibility, requiredness from the annotation). Both are read into one shape.
"""

from __future__ import annotations

import enum
import importlib
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

# (method, lowercase ARM type) -> (models module, model class)
MODELS: dict[tuple[str, str], tuple[str, str]] = {
    ("PUT", "microsoft.network/virtualnetworks"): ("azure.mgmt.network.models", "VirtualNetwork"),
    ("PUT", "microsoft.network/networksecuritygroups"): (
        "azure.mgmt.network.models", "NetworkSecurityGroup"
    ),
    ("PUT", "microsoft.network/loadbalancers"): ("azure.mgmt.network.models", "LoadBalancer"),
    ("PUT", "microsoft.network/publicipaddresses"): (
        "azure.mgmt.network.models", "PublicIPAddress"
    ),
    ("PUT", "microsoft.network/dnszones"): ("azure.mgmt.dns.models", "Zone"),
    ("PUT", "microsoft.network/dnszones/*"): ("azure.mgmt.dns.models", "RecordSet"),
    ("PUT", "microsoft.sql/servers"): ("azure.mgmt.sql.models", "Server"),
    ("PUT", "microsoft.sql/servers/databases"): ("azure.mgmt.sql.models", "Database"),
    ("PUT", "microsoft.sql/servers/administrators"): (
        "azure.mgmt.sql.models", "ServerAzureADAdministrator"
    ),
    ("PUT", "microsoft.sql/servers/azureadonlyauthentications"): (
        "azure.mgmt.sql.models", "ServerAzureADOnlyAuthentication"
    ),
    ("PUT", "microsoft.cache/redis"): ("azure.mgmt.redis.models", "RedisCreateParameters"),
    ("PATCH", "microsoft.cache/redis"): ("azure.mgmt.redis.models", "RedisUpdateParameters"),
    ("PUT", "microsoft.containerregistry/registries"): (
        "azure.mgmt.containerregistry.models", "Registry"
    ),
    ("PUT", "microsoft.storage/storageaccounts"): (
        "azure.mgmt.storage.models", "StorageAccountCreateParameters"
    ),
    ("PUT", "microsoft.containerinstance/containergroups"): (
        "azure.mgmt.containerinstance.models", "ContainerGroup"
    ),
    ("PUT", "microsoft.managedidentity/userassignedidentities"): (
        "azure.mgmt.msi.models", "Identity"
    ),
    ("PUT", "microsoft.keyvault/vaults"): (
        "azure.mgmt.keyvault.models", "VaultCreateOrUpdateParameters"
    ),
    ("PUT", "microsoft.keyvault/vaults/secrets"): (
        "azure.mgmt.keyvault.models", "SecretCreateOrUpdateParameters"
    ),
}  # fmt: skip
# The api-version of the models each package carries (the drivers' own in README.azure.md).
MODEL_API_VERSIONS = {
    "azure.mgmt.network": "2026-03-01",
    "azure.mgmt.dns": "2018-05-01",
    "azure.mgmt.sql": "2025-01-01",
    "azure.mgmt.redis": "2024-11-01",
    "azure.mgmt.containerregistry": "2025-11-01",
    "azure.mgmt.storage": "2026-09-01",
    "azure.mgmt.containerinstance": "2023-05-01",
    "azure.mgmt.msi": "2024-11-30",
    "azure.mgmt.keyvault": "2026-05-15",
}


@dataclass
class Shape:
    """What a JSON value must look like: an object of known members, a list, a map, or any."""

    kind: str  # "object", "list", "map", "any"
    name: str = ""
    members: dict[str, tuple[Shape, bool]] = field(default_factory=dict)  # -> (shape, required)
    item: Shape | None = None


ANY = Shape("any")
_cache: dict[type, Shape] = {}


def problems(method: str, arm_type: str, body: Any) -> list[str] | None:
    """What the model of this request refuses in `body`; None when no model is bound."""
    key = arm_type.lower()
    bound = MODELS.get((method, key))
    if bound is None and key.count("/") >= 2:
        bound = MODELS.get((method, key.rsplit("/", 1)[0] + "/*"))
    if bound is None:
        return None
    module, name = bound
    found: list[str] = []
    _check(model_shape(getattr(importlib.import_module(module), name)), body, "", found)
    return found


def model_shape(cls: type) -> Shape:
    if cls in _cache:
        return _cache[cls]
    shape = Shape("object", cls.__name__)
    _cache[cls] = shape  # before the members: models refer to themselves (subnets...)
    if hasattr(cls, "_attribute_map"):
        _msrest_members(cls, shape)
    else:
        _typespec_members(cls, shape)
    return shape


def _check(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    where = path or "body"
    if shape.kind == "object":
        if not isinstance(value, dict):
            found.append(f"{where}: expected an object ({shape.name})")
            return
        for key, member in value.items():
            if key not in shape.members:
                found.append(f"{path}{'.' if path else ''}{key}: not a member of {shape.name}")
                continue
            _check(shape.members[key][0], member, f"{path}{'.' if path else ''}{key}", found)
        for key, (_, required) in shape.members.items():
            if required and key not in value:
                found.append(f"{path}{'.' if path else ''}{key}: required by {shape.name}")
    elif shape.kind == "list":
        if not isinstance(value, list):
            found.append(f"{where}: expected a list")
            return
        for i, item in enumerate(value):
            _check(shape.item or ANY, item, f"{path}[{i}]", found)
    elif shape.kind == "map":
        if not isinstance(value, dict):
            found.append(f"{where}: expected an object of values")
            return
        for key, item in value.items():
            _check(shape.item or ANY, item, f"{path}.{key}", found)


# -- msrest models ----------------------------------------------------------------------------


def _msrest_members(cls: type, shape: Shape) -> None:
    models = importlib.import_module(cls.__module__.rsplit(".", 1)[0])
    validation: dict[str, dict[str, Any]] = getattr(cls, "_validation", {}) or {}
    for attr, spec in cls._attribute_map.items():  # type: ignore[attr-defined]
        rules = validation.get(attr, {})
        if rules.get("readonly"):
            required = False
        else:
            required = bool(rules.get("required")) and not rules.get("constant")
        # "properties.osType": a flattened member; "\\." escapes a dot inside a key.
        keys = [k.replace("\\.", ".") for k in re.split(r"(?<!\\)\.", spec["key"])]
        target = shape
        for key in keys[:-1]:
            if key not in target.members:
                target.members[key] = (Shape("object", f"{shape.name}.{key}"), False)
            inner, was_required = target.members[key]
            target.members[key] = (inner, was_required or required)
            target = inner
        target.members[keys[-1]] = (_msrest_type(spec["type"], models), required)


def _msrest_type(name: str, models: Any) -> Shape:
    if name.startswith("[") and name.endswith("]"):
        return Shape("list", item=_msrest_type(name[1:-1], models))
    if name.startswith("{") and name.endswith("}"):
        return Shape("map", item=_msrest_type(name[1:-1], models))
    found = getattr(models, name, None)
    if isinstance(found, type) and hasattr(found, "_attribute_map"):
        return model_shape(found)
    return ANY


# -- typespec models ----------------------------------------------------------------------------


def _typespec_members(cls: type, shape: Shape) -> None:
    # The annotations name "_models.X", imported only for type checkers: resolve it here.
    models = importlib.import_module(cls.__module__.rsplit(".models", 1)[0] + ".models")
    hints = typing.get_type_hints(cls, localns={"_models": models})
    for klass in reversed(cls.__mro__):
        for attr, rest_field in vars(klass).items():
            if attr.startswith("_") or not hasattr(rest_field, "_visibility"):
                continue
            visibility = rest_field._visibility
            if visibility == ["read"]:
                required = False
            else:
                required = not _optional(hints.get(attr)) and (
                    visibility is None or "create" in visibility
                )
            rest_name = rest_field._rest_name_input or attr
            shape.members[rest_name] = (_typespec_type(hints.get(attr)), required)


def _optional(hint: Any) -> bool:
    return hint is None or type(None) in typing.get_args(hint)


def _typespec_type(hint: Any) -> Shape:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        choices = [a for a in typing.get_args(hint) if a is not type(None)]
        return _typespec_type(choices[0]) if len(choices) == 1 else ANY
    if origin is list:
        return Shape("list", item=_typespec_type(typing.get_args(hint)[0]))
    if origin is dict:
        return Shape("map", item=_typespec_type(typing.get_args(hint)[1]))
    if isinstance(hint, type) and getattr(hint, "_is_model", False) and not issubclass(
        hint, enum.Enum
    ):
        return model_shape(hint)
    return ANY
