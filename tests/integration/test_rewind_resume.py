"""A rewinding run interrupted anywhere resumes to the results of one that ran through: in the training
before the first request (from its checkpoint), or in a rewind (the rewinds are done again: exact)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from retain.cli import main
from retain.errors import RunInterrupted
from retain.experiment.run import run
from retain.runs.checkpoint import task_checkpoints
from tests.integration.interrupts import Crash, at_occurrence, crash

CONFIG = {
    "seed": 0,
    "scenario": "til",
    "benchmark": {"name": "split_digits"},
    "backbone": {"name": "mlp", "hidden": [16]},
    "train": {"epochs": 2, "batch_size": 64, "device": "cpu"},
    "algorithm": {"name": "lwf"},
    "unlearning": {"method": "rewind", "requests": {4: [2]}},
}
TIMING = ("train_seconds_per_task", "total_seconds")


def results(folder: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, torch.Tensor]]:
    """unlearning.json without its reference paths and measured cost, summary.json without wall-clock
    fields, and the final model's weights."""
    unlearning = json.loads((folder / "unlearning.json").read_text())
    unlearning.pop("references")
    cost = unlearning.pop("cost")
    unlearning["cost"] = [(r["restored_after_task"], r["retrained_tasks"]) for r in cost["per_request"]]
    for key in ("unlearning_seconds", "bytes_kept", "retrain_reference_seconds", "reference_training"):
        unlearning.pop(key, None)
    summary = json.loads((folder / "summary.json").read_text())
    model = torch.load(folder / "model.pt", weights_only=True)["model"]
    return unlearning, {k: v for k, v in summary.items() if k not in TIMING}, model


def assert_same(a: Path, b: Path) -> None:
    (ua, sa, ma), (ub, sb, mb) = results(a), results(b)
    assert ua == ub and sa == sb
    assert ma.keys() == mb.keys() and all(torch.equal(ma[k], mb[k]) for k in ma)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    run(CONFIG, out=out, progress=False)
    return out


@pytest.mark.parametrize("nth,where", [(1, "before the request"), (2, "in the rewind")])
def test_a_crash_resumes_to_the_results_of_a_run_that_ran_through(tmp_path, uninterrupted, nth, where):
    out = tmp_path / "run"
    with pytest.raises(Crash):  # (3, 1, 0): the main run's task 3, then the world's task 3 (original 4)
        run(CONFIG, out=out, progress=False, step_hook=at_occurrence((3, 1, 0), nth, crash))
    assert (out / "rewind").exists() == (where == "in the rewind")
    first_steps: list[tuple[int, ...]] = []
    run(resume=out, progress=False, step_hook=lambda *at: first_steps.append(at) if at[1:] == (1, 0) else None)
    assert_same(out, uninterrupted)
    # task 1 trains once more, in the original reference only: not in the run (resumed from its checkpoint),
    # not in the rewind nor the retrain reference (both start after it)
    assert first_steps.count((1, 1, 0)) == 1
    aside = sorted(p.name for p in out.iterdir() if p.name.startswith("rewind."))
    assert aside == (["rewind.partial-1"] if where == "in the rewind" else [])


def test_ctrl_c_in_a_rewind_says_to_resume_the_whole_run(tmp_path, uninterrupted):
    out = tmp_path / "run"
    hook = at_occurrence((2, 1, 1), 2, lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(RunInterrupted) as info:
        run(CONFIG, out=out, progress=False, step_hook=hook)
    message = str(info.value)
    assert "while rewinding for the request after task 4" in message
    assert message.endswith(f"Resume the whole run with: retain run --resume {out}")
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert_same(out, uninterrupted)


def test_a_run_keeping_only_the_reachable_checkpoints_resumes_a_cut_rewind_too(tmp_path, uninterrupted):
    cfg = {**CONFIG, "checkpoint": {"keep": "reachable"}}
    out = tmp_path / "run"
    with pytest.raises(Crash):
        run(cfg, out=out, progress=False, step_hook=at_occurrence((3, 1, 0), 2, crash))
    assert sorted(task_checkpoints(out / "checkpoints")) == [1, 4]  # the rewind's restore point, the last
    run(resume=out, progress=False)
    assert_same(out, uninterrupted)
