"""The algorithms sit below the task loop: importing them must not import the loop or the data paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import retain

# `retain/__init__.py` imports the whole library (the public API), so the probe makes `retain` an empty
# package first: what is then imported is what the named module itself needs.
PROBE = """
import importlib, json, sys, types
package = types.ModuleType("retain")
package.__path__ = [sys.argv[1]]
sys.modules["retain"] = package
importlib.import_module(sys.argv[2])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("retain."))))
"""


def imported_by(module: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(Path(retain.__file__).parent), module],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_the_algorithms_import_neither_the_loop_nor_the_data_paths():
    loaded = imported_by("retain.algorithms.base")
    assert "retain.training.batch" in loaded
    assert [m for m in loaded if m.startswith("retain.training.")] == ["retain.training.batch"]


def test_the_batch_types_import_nothing_of_the_library():
    assert imported_by("retain.training.batch") == ["retain.training", "retain.training.batch"]
