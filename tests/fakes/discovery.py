"""Request bodies checked against Google's own API definitions, as the real front end does.

google-api-python-client ships the discovery documents of every Google API; the GCP fake
uses compute v1, sqladmin v1, redis v1 and secretmanager v1 to find the method a request
calls (HTTP method and path) and the schema of its body, and answers 400 for what the real
API refuses: unknown fields, values of the wrong type and enum values the API does not define.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import googleapiclient

DOCUMENTS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
APIS = ("compute.v1", "sqladmin.v1", "redis.v1", "secretmanager.v1")


class SchemaError(ValueError):
    """A body the API would refuse; the message reads like Google's."""


@dataclass(frozen=True)
class Method:
    http_method: str
    pattern: re.Pattern[str]
    request: str  # schema name of the body, "" when the method takes none
    literal: str  # the template without its parameters


@dataclass(frozen=True)
class Api:
    name: str
    methods: tuple[Method, ...]
    schemas: dict[str, Any]


@cache
def load(name: str) -> Api:
    document = json.loads((DOCUMENTS / f"{name}.json").read_text())
    root = "/" + document.get("servicePath", "")
    methods: list[Method] = []

    def walk(resources: dict[str, Any]) -> None:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                template = method.get("flatPath") or method["path"]
                methods.append(Method(
                    method["httpMethod"], _pattern(root + template),
                    method.get("request", {}).get("$ref", ""),
                    re.sub(r"\{[^}]+\}", "", template),
                ))  # fmt: skip
            walk(resource.get("resources", {}))

    walk(document.get("resources", {}))
    return Api(name, tuple(methods), document["schemas"])


def method_for(http_method: str, path: str) -> tuple[Api, Method] | None:
    found = [
        (api, method)
        for api in map(load, APIS)
        for method in api.methods
        if method.http_method == http_method and method.pattern.fullmatch(path)
    ]
    # `{+name}` and `{name}` both match a verb's path: the one naming more of it is meant.
    return max(found, key=lambda pair: len(pair[1].literal), default=None)


def check_body(http_method: str, path: str, body: Any, *, integer_enums: bool) -> None:
    """Raise SchemaError when `body` is not what the method at `path` takes.

    `integer_enums`: the client asked for `enum-encoding=int` (the GAPIC REST transports
    do), so an enum may come as its number."""
    found = method_for(http_method, path)
    if found is None:
        raise SchemaError(f"{http_method} {path} is not a method of {', '.join(APIS)}")
    api, method = found
    if not method.request:
        if body:
            raise SchemaError(f"{http_method} {path} takes no request body")
        return
    _check(api, {"$ref": method.request}, body, method.request[:1].lower() + method.request[1:],
           integer_enums)  # fmt: skip


def _check(api: Api, schema: dict[str, Any], value: Any, where: str, ints: bool) -> None:
    if "$ref" in schema:
        schema = api.schemas[schema["$ref"]]
    kind = schema.get("type", "any")
    if kind == "any":
        return
    if kind == "object":
        if not isinstance(value, dict):
            raise SchemaError(f"Invalid value at '{where}': expected an object")
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                _check(api, properties[key], item, f"{where}.{key}", ints)
            elif extra is not None:
                _check(api, extra, item, f"{where}[{key!r}]", ints)
            else:
                raise SchemaError(
                    f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': "
                    "Cannot find field."
                )
        return
    if kind == "array":
        if not isinstance(value, list):
            raise SchemaError(f"Invalid value at '{where}': expected a list")
        for index, item in enumerate(value):
            _check(api, schema.get("items", {}), item, f"{where}[{index}]", ints)
        return
    if kind == "boolean" and not isinstance(value, bool):
        raise SchemaError(f"Invalid value at '{where}' (TYPE_BOOL), {json.dumps(value)}")
    if kind in ("integer", "number") and not _numeric(value, kind == "integer"):
        raise SchemaError(f"Invalid value at '{where}' ({kind}), {json.dumps(value)}")
    if kind == "string":
        _check_string(schema, value, where, ints)


def _check_string(schema: dict[str, Any], value: Any, where: str, ints: bool) -> None:
    enum = schema.get("enum")
    if enum is not None:
        if ints and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return
        if value not in enum:
            raise SchemaError(
                f"Invalid value at '{where}' (enum), {json.dumps(value)}: "
                f"not one of {', '.join(enum)}"
            )
        return
    if schema.get("format") in ("int64", "uint64", "int32", "uint32"):
        if not _numeric(value, True):
            raise SchemaError(f"Invalid value at '{where}' ({schema['format']}), "
                              f"{json.dumps(value)}")  # fmt: skip
        return
    if not isinstance(value, str):
        raise SchemaError(f"Invalid value at '{where}' (TYPE_STRING), {json.dumps(value)}")


def _numeric(value: Any, whole: bool) -> bool:
    """Proto JSON takes numbers as numbers or as decimal strings."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return not whole or value.is_integer()
    if isinstance(value, str):
        return bool(re.fullmatch(r"-?\d+" if whole else r"-?\d+(\.\d+)?([eE][-+]?\d+)?", value))
    return False


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\+?[^}]+\})", template)
    regex = "".join(
        (".+" if part.startswith("{+") else "[^/]+") if part.startswith("{") else re.escape(part)
        for part in parts
    )
    return re.compile(regex)
