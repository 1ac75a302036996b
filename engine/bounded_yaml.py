"""The one YAML loader of wfctl: safe, and bounded so a document cannot exhaust a worker.

PyYAML's SafeLoader builds no arbitrary objects, but it happily accepts a few hundred bytes
that expand to a billion nodes through aliases (the structure shares nodes, so loading is
quick; whatever walks it next — validation, JSON encoding for Temporal — is not), nesting
that blows the recursion limit, and a mapping that names the same key twice (YAML keeps the
last one, silently). Every limit is checked while composing, before anything is expanded,
and every refusal is a ConfigError naming the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent, CollectionStartEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from interfaces.errors import ConfigError

# Far above any hand-written pipeline or stack (the 36-resource example is ~40 KB), and
# below Temporal's 2 MB payload limit that a stack document must fit in anyway.
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
# Pipelines nest steps in foreach/parallel/retry a few levels deep; 3000 levels is an attack.
MAX_DEPTH = 64
# Nodes that aliases add when expanded: anchors for shared settings stay cheap, a billion
# laughs is refused at the alias that crosses the budget.
MAX_ALIAS_NODES = 10_000


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader with depth, alias-expansion and duplicate-key checks."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._alias_nodes = 0
        self._open_anchors: list[str | None] = []
        # id(node) -> (nodes, depth) of the node with its aliases expanded.
        self._expanded: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                self._check_alias(event, target)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                event.start_mark)
        opens = isinstance(event, CollectionStartEvent)
        if opens:
            self._open_anchors.append(event.anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if opens:
                self._open_anchors.pop()

    def _check_alias(self, event: AliasEvent, target: Node) -> None:
        if event.anchor in self._open_anchors:
            raise ComposerError(None, None, f"alias *{event.anchor} refers to a node that "
                                "contains it (a recursive document)", event.start_mark)
        nodes, depth = self._size(target)
        if self._depth + depth > MAX_DEPTH:
            raise ComposerError(None, None, f"alias *{event.anchor} nests the document deeper "
                                f"than {MAX_DEPTH} levels", event.start_mark)
        self._alias_nodes += nodes
        if self._alias_nodes > MAX_ALIAS_NODES:
            raise ComposerError(None, None, f"aliases expand to more than {MAX_ALIAS_NODES} "
                                "nodes (a billion-laughs document?)", event.start_mark)

    def _size(self, node: Node) -> tuple[int, int]:
        known = self._expanded.get(id(node))
        if known is not None:
            return known
        nodes, depth = 1, 0
        if isinstance(node, SequenceNode):
            children: list[Node] = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        for child in children:
            child_nodes, child_depth = self._size(child)
            nodes += child_nodes
            depth = max(depth, child_depth)
        # Memoized by identity: a node shared through aliases is measured once; the graph is
        # alive for the whole load, so ids are not reused meanwhile.
        self._expanded[id(node)] = size = (nodes, depth + 1)
        return size

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base`: keys written next to it override the merged ones
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: SafeLoader reports it below
                continue
            if duplicate:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _too_large(source: str, size: int) -> ConfigError:
    return ConfigError(
        f"{source}: document is {size} bytes, more than the limit of {MAX_DOCUMENT_BYTES}"
    )


def load_yaml(text: str, source: str) -> Any:
    """One YAML (or JSON) document; ConfigError `source:line:column: problem` when refused."""
    # Characters first: a text that long is too large without encoding a copy of it.
    size = len(text) if len(text) > MAX_DOCUMENT_BYTES else len(text.encode("utf-8", "replace"))
    if size > MAX_DOCUMENT_BYTES:
        raise _too_large(source, size)
    loader: _BoundedLoader | None = None
    try:
        # Constructing reads the text already: an unprintable character fails here.
        loader = _BoundedLoader(text)
        return loader.get_single_data()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{source}{where}: invalid YAML: {problem}") from None
    except (ValueError, RecursionError) as error:
        # PyYAML raises plain ValueError for impossible dates (2020-13-45).
        raise ConfigError(f"{source}: invalid YAML: {error}") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_document(path: Path, cannot_read: str = "cannot read") -> str:
    """A document's text, refusing one larger than the limit before reading it all."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
            if len(data) > MAX_DOCUMENT_BYTES:
                handle.seek(0, 2)
                raise _too_large(str(path), handle.tell())
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: {cannot_read}: {error}") from None
