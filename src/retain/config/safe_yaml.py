"""A YAML reader for untrusted configs: `yaml.safe_load` plus limits that stop a small hostile file from
taking the process down.

- **size**: a file over `MAX_BYTES` (1 MiB) is refused, read at most that far (`/dev/zero` too);
- **encoding**: the text must be UTF-8;
- **aliases**: a document may expand to at most `MAX_NODES` nodes once every alias is counted as a
  copy of what it names (an alias "bomb" of a few hundred bytes expands to billions), and an alias
  may not refer to a node that contains it (a self-referencing document);
- **depth**: at most `MAX_DEPTH` nested sequences or mappings (deeper input would exhaust Python's
  recursion limit in the composer);
- **duplicate keys**: a key given twice in one mapping is refused (YAML 1.2 says keys are unique;
  PyYAML otherwise keeps the last silently);
- numbers too long for Python to read (`int` of more than 4300 digits) are refused.

Each refusal is a `ConfigError` naming the source and the line. See docs/reliability.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from retain.errors import ConfigError

MAX_BYTES = 1 << 20
MAX_NODES = 100_000
MAX_DEPTH = 64


class _Refused(yaml.YAMLError):
    def __init__(self, problem: str, node: Node | None = None) -> None:
        line = f"line {node.start_mark.line + 1}: " if node is not None and node.start_mark else ""
        super().__init__(line + problem)


class _LimitedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that counts nesting while composing and refuses duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(f"line {mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise _Refused(f"the key {key!r} is given twice in one mapping", key_node)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: Node) -> int:
    """How many nodes `root` stands for once every alias is expanded; refuses cycles and `MAX_NODES`."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            total = 1 + sum(sizes[id(c)] for c in _children(node))
            if total > MAX_NODES:
                raise _Refused(f"aliases expand it past {MAX_NODES} nodes (an alias bomb?)", node)
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise _Refused("an alias refers to a node that contains it (a recursive document)", node)
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise _Refused("an alias refers to a node that contains it (a recursive document)", child)
            stack.append((child, False))
    return sizes[id(root)]


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_yaml(text: str) -> Any:
    """The plain data of one YAML document, within the limits above (raises `yaml.YAMLError`)."""
    loader = _LimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        try:
            return loader.construct_document(node)
        except ValueError as err:  # int() of a number with thousands of digits
            raise _Refused(f"a value cannot be read: {str(err).split(';')[0]}") from None
    finally:
        loader.dispose()


def read_yaml_file(path: str | Path, key: str = "--config") -> Any:
    """Read and parse the YAML file `path` within the limits above; every failure is a `ConfigError`
    naming `key` and the file."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as err:
        raise ConfigError(key, str(path), f"cannot be read ({err.strerror or type(err).__name__})") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(key, str(path), f"is larger than {MAX_BYTES // 1024} KiB: not a config")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(key, str(path), f"is not UTF-8 text (byte {err.start} cannot be decoded)") from None
    try:
        return load_yaml(text)
    except yaml.YAMLError as err:
        raise ConfigError(key, str(path), f"is not valid YAML ({yaml_problem(err)})") from None


def yaml_problem(err: yaml.YAMLError) -> str:
    """One line for a YAML error: where, and what (PyYAML's own message spans several lines)."""
    if isinstance(err, _Refused):
        return str(err)
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or type(err).__name__
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else str(problem)
