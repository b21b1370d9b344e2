"""The slow-tier list names tests that exist (a renamed test would otherwise fall silently into the fast tier)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.slow import SLOW, is_slow

ROOT = Path(__file__).resolve().parents[2]


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name.startswith("test")}


def test_every_listed_slow_test_exists():
    for path, names in SLOW.items():
        assert (ROOT / path).is_file(), f"tests/slow.py names {path}, which does not exist"
        missing = set(names) - {"*"} - _test_functions(ROOT / path)
        assert not missing, f"tests/slow.py names tests that {path} does not hold: {sorted(missing)}"


def test_a_whole_file_or_one_function_can_be_slow():
    assert is_slow("tests/integration/test_distributed.py", "anything")
    assert is_slow("tests/unit/test_bench.py", "test_a_case_that_dies_is_reported_not_awaited_forever")
    assert not is_slow("tests/unit/test_bench.py", "test_nothing")
    assert not is_slow("tests/unit/test_metrics.py", "test_bwt")
