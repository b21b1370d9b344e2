"""The import graph of `src/retain`, read from the source: no cycle, and no import of a higher layer.

Every import counts: module level, inside functions and under `TYPE_CHECKING`. Importing `retain.a.b`
from outside package `retain.a` also counts as importing `retain.a` (its `__init__` runs first).
The top package `retain` (re-exports only) is above everything and imported by nothing inside.
"""

from __future__ import annotations

import ast
from pathlib import Path

import retain

SRC = Path(retain.__file__).parent

# The layers of docs/architecture.md, lowest first: a module may import its own layer and the ones below,
# never one above. A module belongs to the longest prefix listed (`retain.training.batch` before
# `retain.training`); every module must match one.
LAYERS: list[tuple[str, ...]] = [
    ("retain.errors", "retain._version", "retain.config", "retain.metrics", "retain.catalogue"),
    ("retain.scenarios", "retain.models", "retain.training", "retain.training.batch"),
    ("retain.algorithms", "retain.unlearning"),
    ("retain.training.", "retain.runs"),
    ("retain.experiment", "retain.bench"),
    ("retain.cli", "retain.cli_parser", "retain.__main__", "retain.reference"),
    ("retain",),  # the top package: re-exports only
]


def layer_of(module: str) -> int:
    """The layer of `module`: that of the longest matching prefix (`a.` matches submodules only)."""
    best, layer = "", -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = (
                module.startswith(prefix)
                if prefix.endswith(".")
                else module == prefix or module.startswith(prefix + ".")
            )
            if matches and len(prefix) > len(best):
                best, layer = prefix, i
    assert layer >= 0, f"{module} is in no layer of LAYERS: add it"
    return layer


def module_name(path: Path) -> str:
    parts = ["retain", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The retain modules `path` imports, anywhere in the file."""
    name = module_name(path)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for target in targets:
            if target in modules:
                found.add(target)
                parts = target.split(".")
                for i in range(2, len(parts)):  # the packages above it, unless `path` is inside them
                    package = ".".join(parts[:i])
                    if package in modules and not name.startswith(package + ".") and package != name:
                        found.add(package)
    found.discard(name)
    found.discard("retain")  # `from retain import __version__` and the like: the top package re-exports only
    return found


def graph() -> dict[str, set[str]]:
    files = sorted(SRC.rglob("*.py"))
    modules = {module_name(f) for f in files}
    return {module_name(f): imports_of(f, modules) for f in files}


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_and_nothing_else():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    assert cycles(graph()) == []


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    """`a (layer i) -> b (layer j)` for every import of a higher layer, j > i."""
    return sorted(
        f"{a} (layer {layer_of(a)}) -> {b} (layer {layer_of(b)})"
        for a, targets in edges.items()
        for b in targets
        if layer_of(b) > layer_of(a)
    )


def test_the_layer_map_places_modules_by_their_longest_prefix():
    assert layer_of("retain.training.batch") == 1
    assert layer_of("retain.training") == 1  # the package itself (it imports nothing)
    assert layer_of("retain.training.loop") == 3
    assert layer_of("retain.config.schema") == 0
    assert upward_imports({"retain.config.parse": {"retain.models"}, "retain.models": {"retain.errors"}}) == [
        "retain.config.parse (layer 0) -> retain.models (layer 1)"
    ]


def test_no_module_imports_a_higher_layer():
    assert upward_imports(graph()) == []
