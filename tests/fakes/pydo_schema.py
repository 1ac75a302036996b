"""The request-body rules DigitalOcean publishes, as pydo ships them.

pydo carries no OpenAPI file, but every operation's docstring holds the body template its
generator wrote from DigitalOcean's spec: one line per field, each commented "Required." or
"Optional.", nested objects and lists of objects indented four spaces per level (comment
continuation lines two). This reads those templates, so the fake refuses a body missing a
field the spec requires, at every level, on every write (POST, PUT and PATCH alike).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import pydo.operations

OPERATIONS = Path(pydo.operations.__file__).with_name("_operations.py")
_CLASS = re.compile(r"^class (\w+)Operations\b", re.M)
_METHOD = re.compile(r"^    def (\w+)\(", re.M)
_BUILD_CALL = re.compile(r"(build_\w+_request)\(")
_BUILD = re.compile(r"^def (build_\w+_request)\(", re.M)
_URL = re.compile(r'_url = "([^"]+)"')
_HTTP_METHOD = re.compile(r'method="(\w+)"')
TEMPLATE = "# JSON input template you can fill out and use as your body input.\n"
_KEY = re.compile(r'"(\w+)":\s*(.*)$')


@dataclass
class Shape:
    """An object in a request body: the keys it must carry, and the shapes of its members
    that are objects (or lists of objects)."""

    required: set[str] = field(default_factory=set)
    members: dict[str, Shape] = field(default_factory=dict)

    def missing(self, body: Any, where: str = "") -> list[str]:
        """Dotted paths of the required fields `body` lacks (null counts as absent)."""
        if not isinstance(body, dict):
            return []
        found = [f"{where}{k}" for k in sorted(self.required) if body.get(k) is None]
        for key, shape in self.members.items():
            value = body.get(key)
            items = value if isinstance(value, list) else [value]
            for index, item in enumerate(items):
                at = f"{where}{key}[{index}]." if isinstance(value, list) else f"{where}{key}."
                found += shape.missing(item, at)
        return found


@dataclass
class Operation:
    name: str  # "domains.patch_record", as a pydo user calls it
    method: str
    path: re.Pattern[str]
    literal_segments: int
    template: str  # the docstring text from the body template on; "" when it has none

    @cached_property
    def body(self) -> Shape | None:
        """The body's Shape (None: pydo has no object template for it)."""
        return _parse(self.template) if self.template else None


@cache
def operations() -> tuple[Operation, ...]:
    """Every pydo operation that has a URL; bodies are parsed when first asked for."""
    source = OPERATIONS.read_text()
    builds: dict[str, tuple[str, str]] = {}
    for build in _BUILD.finditer(source):
        url = _URL.search(source, build.end())
        method = _HTTP_METHOD.search(source, build.end())
        if url and method:
            builds[build.group(1)] = (url.group(1), method.group(1))
    found: list[Operation] = []
    classes = list(_CLASS.finditer(source))
    for number, match in enumerate(classes):
        end = classes[number + 1].start() if number + 1 < len(classes) else len(source)
        group = _snake(match.group(1))
        templates: dict[str, int] = {}
        calls: dict[str, str] = {}
        methods = list(_METHOD.finditer(source, match.end(), end))
        for index, method in enumerate(methods):
            stop = methods[index + 1].start() if index + 1 < len(methods) else end
            name = method.group(1)
            at = source.find(TEMPLATE, method.end(), stop)
            if at >= 0 and name not in templates:
                templates[name] = at + len(TEMPLATE)
            call = _BUILD_CALL.search(source, method.end(), stop)
            if call and call.group(1) in builds:
                calls[name] = call.group(1)
        for name, build_name in calls.items():
            url, http_method = builds[build_name]
            segments = [s for s in url.split("/") if s]
            pattern = "/" + "/".join(
                "[^/]+" if s.startswith("{") else re.escape(s) for s in segments
            )
            start = templates.get(name)
            template = source[start : source.find('"""', start)] if start is not None else ""
            found.append(
                Operation(
                    f"{group}.{name}", http_method, re.compile(pattern),
                    sum(not s.startswith("{") for s in segments), template,
                )
            )  # fmt: skip
    return tuple(found)


def operation_for(method: str, path: str) -> Operation | None:
    """The pydo operation a request is, the most specific path template winning
    (`/v2/volumes/actions` over `/v2/volumes/{volume_id}`)."""
    matches = [
        op for op in operations() if op.method == method and op.path.fullmatch(path)
    ]  # fmt: skip
    return max(matches, key=lambda op: op.literal_segments, default=None)


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _parse(text: str) -> Shape | None:
    """The Shape of the `body = {...}` template at the start of `text`."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or lines[first].strip() != "body = {":
        return None  # a list body, or none: nothing this fake writes
    base = len(lines[first]) - len(lines[first].lstrip())
    root = Shape()
    # Frames: (object shape or None for a list, key in the parent that the frame fills).
    stack: list[tuple[Shape | None, str]] = [(root, "")]
    comment_of: tuple[Shape, str] | None = None
    comment = ""

    def settle() -> None:
        if comment_of is not None and _says_required(comment):
            comment_of[0].required.add(comment_of[1])

    for line in lines[first + 1 :]:
        stripped = line.strip()
        if not stripped:
            break
        indent = len(line) - len(line.lstrip())
        if (indent - base) % 4:
            comment += " " + stripped  # continuation of the last field's comment
            continue
        settle()
        comment_of, comment = None, ""
        value, _, note = stripped.partition("#")
        value = value.strip().rstrip(",").strip()
        key_match = _KEY.match(value)
        shape, parent_key = stack[-1]
        if key_match:
            key, rest = key_match.groups()
            if shape is not None:
                comment_of, comment = (shape, key), note
            if rest == "{" and shape is not None:
                child = Shape()
                shape.members[key] = child
                stack.append((child, key))
            elif rest == "[":
                stack.append((None, key))
        elif value == "{" and shape is None:
            # A list of objects: its items' shape is the member shape of the list's key.
            owner = stack[-2][0]
            child = Shape()
            if owner is not None:
                owner.members[parent_key] = child
            stack.append((child, parent_key))
        elif value in ("}", "]"):
            stack.pop()
            if len(stack) == 0:
                break
    return root


def _says_required(comment: str) -> bool:
    text = comment.strip()
    return not text.startswith("Optional.") and "Required." in text
