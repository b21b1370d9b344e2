"""The import graph of `src/retain`: no cycle beyond the ones listed (and being removed), read from the source.

Every import counts: module level, inside functions and under `TYPE_CHECKING`. Importing `retain.a.b`
from outside package `retain.a` also counts as importing `retain.a` (its `__init__` runs first).
`KNOWN_CYCLES` is exact: a new cycle fails, and so does a listed one that no longer exists (remove it
from the list, so that it cannot come back unnoticed).
"""

from __future__ import annotations

import ast
from pathlib import Path

import retain

SRC = Path(retain.__file__).parent

# Cycles left from the first version, each a strongly connected set of modules (the composition layer
# of docs/architecture.md removes them: config as a leaf, experiment/ above the domain packages).
KNOWN_CYCLES: list[set[str]] = [
    # api.py trains the references of unlearning/workflow.py, which calls back into api
    {
        "retain.api",
        "retain.unlearning.workflow",
    },
    # the sweep launches through runs/launchers.py, which runs a sweep point
    {
        "retain.runs.launchers",
        "retain.runs.sweep",
    },
]


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


def test_no_import_cycle_beyond_the_known_ones():
    found = sorted(cycles(graph()), key=sorted)
    assert found == sorted(KNOWN_CYCLES, key=sorted)
