"""Hand-made run folders for report tests: the files a run writes, with numbers chosen by the test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from retain.metrics import summarise


def make_run(
    folder: Path,
    algorithm: str,
    seed: int,
    matrix: list[list[float]],
    *,
    benchmark: str = "split_digits",
    scenario: str = "til",
    seconds: list[float] | None = None,
    params: dict[str, Any] | None = None,
    unlearning: dict[str, Any] | None = None,
) -> Path:
    """Write config.yaml and summary.json (and unlearning.json if given) as `retain run` would."""
    folder.mkdir(parents=True)
    config = {
        "seed": seed,
        "scenario": scenario,
        "benchmark": {"name": benchmark, "seed": None},
        "algorithm": {"name": algorithm, **(params or {})},
        "train": {"epochs": 1},
        "out": None,
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    summary = {
        **summarise(matrix),
        "train_seconds_per_task": seconds or [1.0] * len(matrix),
        "total_seconds": 9.0,
        "seed": seed,
        "benchmark": benchmark,
        "scenario": scenario,
        "algorithm": algorithm,
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    if unlearning is not None:
        (folder / "unlearning.json").write_text(json.dumps(unlearning))
    return folder
