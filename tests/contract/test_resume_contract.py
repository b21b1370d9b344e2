"""Contract: every registered algorithm in every scenario resumes mid-epoch to exactly the same results."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from retain.algorithms import ALGORITHMS, NCM
from retain.config import LEGACY_ALGORITHMS
from retain.errors import RunInterrupted
from retain.experiment.run import run
from retain.unlearning import UNLEARNING_METHODS

TIMING = ("train_seconds_per_task", "total_seconds")


def sigterm_at(point: tuple[int, int, int]):
    def hook(*at: int) -> None:
        if at == point:
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def sigterm_when_task_starts(task_id: int):
    def on_task_start(self, task) -> None:
        if task.id == task_id:
            os.kill(os.getpid(), signal.SIGTERM)

    return on_task_start


# LwF in every scenario; the other algorithms in the scenario where their state matters most; every
# algorithm once wrapped in each unlearning method (the first version's `amnesiac_*` names included)
CASES = [
    ("lwf", "til", "none"),
    ("lwf", "dil", "none"),
    ("lwf", "cil", "none"),
    ("finetuning", "dil", "none"),
    ("joint", "cil", "none"),
    ("independent", "til", "none"),
    ("amnesiac_lwf", "til", "amnesiac"),
    ("amnesiac_finetuning", "dil", "amnesiac"),
    ("amnesiac_independent", "til", "amnesiac"),
    ("joint", "dil", "amnesiac"),
    ("ncm", "cil", "none"),
    ("ncm", "til", "amnesiac"),
]


def test_every_registered_algorithm_and_unlearning_method_is_covered():
    assert {LEGACY_ALGORITHMS.get(a, a) for a, _, _ in CASES} == set(ALGORITHMS)
    for method in UNLEARNING_METHODS:
        assert {LEGACY_ALGORITHMS.get(a, a) for a, _, m in CASES if m == method} == set(ALGORITHMS)


@pytest.mark.parametrize("algorithm,scenario,method", CASES)
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, monkeypatch, algorithm, scenario, method):
    cfg = {
        "scenario": scenario,
        "algorithm": {"name": algorithm},
        "benchmark": {"num_tasks": 2},
        "backbone": {"hidden": [8]},
        "train": {"epochs": 2, "batch_size": 128, "device": "cpu"},
        "unlearning": {"method": method},
    }
    trains = ALGORITHMS[LEGACY_ALGORITHMS.get(algorithm, algorithm)].trains
    hook = sigterm_at((2, 2, 1))
    if not trains:  # no step to stop at: the signal comes while task 2 starts; the run stops after it
        cfg["benchmark"]["num_tasks"] = 5
        hook = None
    whole = run(cfg, out=tmp_path / "whole", progress=False).summary
    with pytest.raises(RunInterrupted):
        if not trains:
            monkeypatch.setattr(NCM, "on_task_start", sigterm_when_task_starts(2))
        run(cfg, out=tmp_path / "cut", progress=False, step_hook=hook)
    monkeypatch.undo()
    resumed = run(None, resume=tmp_path / "cut", progress=False).summary
    assert {k: v for k, v in resumed.items() if k not in TIMING} == {k: v for k, v in whole.items() if k not in TIMING}


@pytest.mark.parametrize("algorithm,scenario", [("amnesiac_lwf", "til"), ("amnesiac_finetuning", "cil")])
def test_resumed_inside_a_task_with_a_pending_unlearning_request_unlearns_the_same(tmp_path, algorithm, scenario):
    """The cut falls inside task 2, whose update is unlearnt after task 3: the record's start values must
    come from the mid-task checkpoint, or the resumed run unlearns less than the uninterrupted one."""
    cfg = {
        "scenario": scenario,
        "algorithm": {"name": algorithm},
        "benchmark": {"num_tasks": 3, "classes_per_task": 3},
        "backbone": {"hidden": [8]},
        "train": {"epochs": 2, "batch_size": 128, "device": "cpu"},
        "unlearning": {"requests": {3: [1, 2]}, "evaluate": False},
    }
    whole = run(cfg, out=tmp_path / "whole", progress=False)
    with pytest.raises(RunInterrupted):
        run(cfg, out=tmp_path / "cut", progress=False, step_hook=sigterm_at((2, 2, 1)))
    resumed = run(None, resume=tmp_path / "cut", progress=False)
    assert resumed.summary["unlearning_events"] == {"3": [1, 2]}
    assert {k: v for k, v in resumed.summary.items() if k not in TIMING} == {
        k: v for k, v in whole.summary.items() if k not in TIMING
    }
    for (name, a), b in zip(whole.algorithm.model.state_dict().items(), resumed.algorithm.model.state_dict().values()):
        assert torch.equal(a, b), name


# The exemplar memory in the scenarios it allows, each selection, both classifiers, and under unlearning:
# the cut falls inside task 2, after task 1's exemplars were selected, so the resumed run must restore them.
MEMORY_CASES = [
    ("lwf", "cil", {"size": 40, "selection": "herding"}, "nme", "none"),
    ("finetuning", "dil", {"per_class": 6, "selection": "random"}, "head", "none"),
    ("lwf", "cil", {"size": 40, "selection": "random"}, "head", "amnesiac"),
]


@pytest.mark.parametrize("algorithm,scenario,memory,classifier,method", MEMORY_CASES)
def test_a_run_with_a_memory_resumes_to_exactly_the_same_results(
    tmp_path, algorithm, scenario, memory, classifier, method
):
    cfg = {
        "scenario": scenario,
        "algorithm": {"name": algorithm},
        "benchmark": {"num_tasks": 3, "classes_per_task": 3},
        "backbone": {"hidden": [8]},
        "train": {"epochs": 2, "batch_size": 128, "device": "cpu"},
        "memory": memory,
        "eval": {"classifier": classifier},
        "unlearning": {"method": method, **({"requests": {3: [1]}, "evaluate": False} if method != "none" else {})},
    }
    whole = run(cfg, out=tmp_path / "whole", progress=False)
    with pytest.raises(RunInterrupted):
        run(cfg, out=tmp_path / "cut", progress=False, step_hook=sigterm_at((2, 2, 1)))
    resumed = run(None, resume=tmp_path / "cut", progress=False)
    assert {k: v for k, v in resumed.summary.items() if k not in TIMING} == {
        k: v for k, v in whole.summary.items() if k not in TIMING
    }
    a, b = whole.algorithm.state_dict(), resumed.algorithm.state_dict()
    while "memory" not in a:
        a, b = a["inner"], b["inner"]
    for key in ("x", "y", "task"):
        assert torch.equal(a["memory"][key], b["memory"][key]), key
    for (name, x), y in zip(whole.algorithm.model.state_dict().items(), resumed.algorithm.model.state_dict().values()):
        assert torch.equal(x, y), name
