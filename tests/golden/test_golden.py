"""The golden tier: every case of `cases.py` must reproduce its pinned numbers in `numbers/<case>.json`.

Accuracy matrices are compared exactly; the first losses with a relative tolerance (`LOSS_REL`).
`python -m pytest tests/golden --update-golden` rewrites the files from the current code instead; the
numbers change only on purpose, with the reason in the commit message (see README.md here).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch

from retain import run
from tests.golden.cases import CASES, LOSS_TERMS, compute, config_of, one_thread

GOLDEN_DIR = Path(__file__).parent / "numbers"
REPO = Path(__file__).parents[2]
UPDATE_COMMAND = "python -m pytest tests/golden --update-golden"

# Losses are float32 means of a few hundred terms: a CPU with other BLAS kernels (another vector width,
# another summation order) may differ in the last bits, which rel 1e-6 (about 10 float32 ulps) allows;
# a change of behaviour moves them far more. Accuracies are counts of argmaxes, compared exactly.
LOSS_REL = 1e-6
# A term that is a small difference of O(1) numbers (the KL distillation term, about 6e-5 when teacher
# and student nearly agree) keeps the absolute rounding of its O(1) inputs, not its own relative one:
# measured 1.2e-8 between two Xeon machines. 1e-7 is a few float32 ulps of 1 (also covers the exact 0
# of task 1, which has no distillation).
LOSS_ABS = 1e-7

# The case also run through `retain.run` with a run folder: pins that `compute` is what `run` does,
# metrics.jsonl included. An unlearning LwF case covers teachers, the request schedule and the logger.
RUN_CASE = "amnesiac_lwf-unlearn-til"


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """Whether this session rewrites the golden files (`--update-golden`, see tests/conftest.py)."""
    return bool(request.config.getoption("--update-golden"))


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.json"


def as_json(value: Any) -> Any:
    """`value` as it reads back from a JSON file (string keys, lists): what the golden file gives."""
    return json.loads(json.dumps(value))


def record_of(name: str, numbers: dict[str, Any]) -> dict[str, Any]:
    """What a case's golden file holds: its name, its full config and its numbers."""
    return as_json({"case": name, "config": config_of(CASES[name]), **numbers})


def dumps(record: dict[str, Any]) -> str:
    """Indented JSON with sorted keys, each innermost list of numbers on one line (a matrix row per line)."""
    text = json.dumps(record, indent=2, sort_keys=True, allow_nan=False)
    flat = re.sub(
        r"\[[^\[\]{}\"]*\]", lambda m: "[" + ", ".join(x.strip() for x in m.group()[1:-1].split(",")) + "]", text
    )
    assert json.loads(flat) == record  # the reformatting changed no number
    return flat + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and `os.replace`, so an
    interrupted update never leaves a half-written golden file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_golden(name: str) -> dict[str, Any]:
    """The stored record of case `name`; a missing file fails the test with the command that writes it."""
    path = golden_path(name)
    if not path.is_file():
        pytest.fail(
            f"no golden numbers for case {name!r} ({path.relative_to(REPO)}): "
            f"run `{UPDATE_COMMAND}` and commit the new file, saying in the commit message why the case was added",
            pytrace=False,
        )
    return json.loads(path.read_text())


def _rows(matrix: list[list[float]]) -> str:
    return "\n".join(f"  after task {i}: {row}" for i, row in enumerate(matrix, start=1))


def check_record(name: str, expected: dict[str, Any], actual: dict[str, Any]) -> None:
    """Fail unless `actual` reproduces `expected`: same config, the same matrix bit for bit, the same
    loss terms within `LOSS_REL`."""
    hint = f"if the change is intended, run `{UPDATE_COMMAND}` and give the reason in the commit message"
    if expected["config"] != actual["config"]:
        pytest.fail(f"case {name!r}: its config changed since its golden numbers were written; {hint}", pytrace=False)
    if actual["accuracy_matrix"] != expected["accuracy_matrix"]:
        pytest.fail(
            f"case {name!r}: the accuracy matrix changed\nexpected:\n{_rows(expected['accuracy_matrix'])}\n"
            f"actual:\n{_rows(actual['accuracy_matrix'])}\n{hint}",
            pytrace=False,
        )
    assert actual["first_losses"].keys() == expected["first_losses"].keys(), f"case {name!r}: tasks with losses; {hint}"
    for task, terms in expected["first_losses"].items():
        got = actual["first_losses"][task]
        assert got == pytest.approx(terms, rel=LOSS_REL, abs=LOSS_ABS), (
            f"case {name!r}: the first epoch's losses of task {task} changed: expected {terms}, got {got}; {hint}"
        )


@pytest.mark.parametrize("name", list(CASES))
def test_golden_case(name: str, update_golden: bool) -> None:
    actual = record_of(name, compute(CASES[name]))
    if update_golden:
        write_atomic(golden_path(name), dumps(actual))
        return
    check_record(name, read_golden(name), actual)


def test_no_stale_golden_files(update_golden: bool) -> None:
    """A golden file whose case is gone would pin nothing; the update removes it, a normal run fails."""
    stale = sorted(p for p in GOLDEN_DIR.glob("*.json") if p.stem not in CASES)
    if update_golden:
        for path in stale:
            path.unlink()
        return
    assert not stale, f"golden files without a case: {[p.name for p in stale]}; run `{UPDATE_COMMAND}` to remove them"


def first_epochs_of(metrics: Path) -> dict[str, dict[str, float]]:
    """The `first_losses` of a run folder's metrics.jsonl: each task's first epoch record, loss terms only."""
    first: dict[str, dict[str, float]] = {}
    for line in metrics.read_text().splitlines():
        record = json.loads(line)
        if record["event"] == "epoch" and str(record["task"]) not in first:
            first[str(record["task"])] = {k: record[k] for k in LOSS_TERMS if k in record}
    return first


def test_run_gives_the_golden_numbers(tmp_path: Path, update_golden: bool) -> None:
    """`retain.run`, writing its folder, reproduces the numbers `compute` pinned (matrix and metrics.jsonl)."""
    if update_golden:
        pytest.skip("compares with the golden files, which this session rewrites")
    with one_thread(), torch.random.fork_rng(devices=[]):
        result = run(config_of(CASES[RUN_CASE]), out=tmp_path / "run", progress=False)
    numbers = {
        "accuracy_matrix": result.summary["accuracy_matrix"],
        "first_losses": first_epochs_of(tmp_path / "run" / "metrics.jsonl"),
    }
    check_record(RUN_CASE, read_golden(RUN_CASE), record_of(RUN_CASE, numbers))
