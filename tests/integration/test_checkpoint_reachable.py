"""`checkpoint.keep: reachable`: a run keeps only the task checkpoints its unlearning requests will
restore (and the last, to resume), and unlearns exactly as with every checkpoint kept."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from retain.errors import ConfigError
from retain.experiment.restore_points import restore_origins
from retain.experiment.run import run
from retain.runs.checkpoint import task_checkpoints
from tests.integration.test_rewind import BASE, assert_same_model


def _config(method: str, requests: dict[int, list[int]], keep: str) -> dict:
    cfg = copy.deepcopy(BASE)
    cfg.update(scenario="til", checkpoint={"keep": keep})
    cfg["unlearning"] = {"method": method, "requests": requests, "evaluate": method == "amnesiac", "membership": False}
    return cfg


def _kept(folder: Path) -> list[int]:
    return sorted(task_checkpoints(folder / "checkpoints"))


@pytest.mark.parametrize(
    "requests,expected",
    [
        ({4: [2]}, {1}),
        ({3: [2], 5: [4]}, {1, 3}),  # the second rewind restores after task 3 (task 2 is gone)
        ({4: [3], 5: [2]}, {2, 1}),
        ({3: [1]}, set()),  # from the seeded initial model: no checkpoint
        ({4: [3, 4], 5: [2]}, {2, 1}),
    ],
)
def test_the_restore_points_of_the_requests(requests, expected):
    assert restore_origins(requests) == expected


def test_rewind_keeping_only_the_reachable_checkpoints_is_exact_and_keeps_no_more(tmp_path):
    requests = {3: [2], 5: [4]}
    kept = run(_config("rewind", requests, "reachable"), out=tmp_path / "kept", progress=False)
    every = run(_config("rewind", requests, "all"), out=tmp_path / "all", progress=False)
    assert_same_model(kept.algorithm, every.algorithm)
    assert kept.summary["accuracy_matrix"] == every.summary["accuracy_matrix"]
    worlds = tmp_path / "kept" / "rewind"
    # the run trained tasks 1-3: keeps 1 (first rewind) and 3 (its last); the world without 2 trained
    # its tasks 2-4 (tasks 3, 4, 5): keeps 2 (task 3, the second rewind's) and 4 (its last); the world
    # without 2 and 4 keeps its last
    assert _kept(tmp_path / "kept") == [1, 3]
    assert _kept(worlds / "without-2") == [2, 4]
    assert _kept(worlds / "without-2-4") == [3]
    assert _kept(tmp_path / "all" / "rewind" / "without-2") == [2, 3, 4]  # keep: all, for contrast


def test_amnesiac_keeping_the_reachable_checkpoints_still_starts_the_reference_from_one(tmp_path):
    out = tmp_path / "run"
    result = run(_config("amnesiac", {4: [2]}, "reachable"), out=out, progress=False)
    assert _kept(out) == [1, 5]  # before task 2 (the retrain reference's start) and the last
    assert result.unlearning is not None
    started = json.loads((out / "unlearning.json").read_text())["reference_training"]
    assert started["retrain_started_after_task"] == 1, started


def test_rewind_with_keep_last_names_the_valid_choices(tmp_path):
    with pytest.raises(ConfigError, match=r"checkpoint\.keep = 'last'.*use all or reachable"):
        run(_config("rewind", {4: [2]}, "last"), out=tmp_path / "r", progress=False)
