"""`train.on_nan=skip_batch` is honest: skipped batches counted per task in summary.json and the table, a
warning above `train.skip_warn_fraction`, and a stop when a whole epoch is skipped."""

from __future__ import annotations

import collections
import io
import json
import warnings

import pytest
from rich.console import Console

from retain.algorithms.finetuning import Finetuning
from retain.errors import NumericalError
from retain.experiment.run import run
from retain.runs.report import metrics_table

CFG = {
    "algorithm": {"name": "finetuning"},
    "benchmark": {"num_tasks": 2},
    "backbone": {"hidden": [8]},
    "train": {"epochs": 2, "device": "cpu", "on_nan": "skip_batch", "batch_size": 64},
}


def poison(monkeypatch, bad) -> collections.Counter:
    """Make the loss of every call `bad(task id, call number)` non-finite; count them per task."""
    original, calls, made = Finetuning.training_step, collections.Counter(), collections.Counter()

    def step(self, batch, task):
        out = original(self, batch, task)
        calls[task.id] += 1
        if bad(task.id, calls[task.id]):
            made[task.id] += 1
            out = {**out, "loss": out["loss"] * float("nan")}
        return out

    monkeypatch.setattr(Finetuning, "training_step", step)
    return made


def test_skipped_batches_are_counted_per_task_and_warned_about(tmp_path, monkeypatch):
    made = poison(monkeypatch, lambda task, call: task == 2 and call % 2 == 0)
    with pytest.warns(RuntimeWarning, match=r"task 2 skipped \d+ of \d+ batches"):
        result = run(CFG, out=tmp_path / "run", progress=False)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["skipped_batches_per_task"] == [0, made[2]] == result.summary["skipped_batches_per_task"]
    assert made[2] > 0
    console = Console(file=io.StringIO(), width=200)
    console.print(metrics_table({"finetuning": summary}))
    text = console.file.getvalue()
    assert "skipped batches" in text and f"0,{made[2]}" in text


def test_under_the_threshold_there_is_no_warning(tmp_path, monkeypatch):
    poison(monkeypatch, lambda task, call: task == 2 and call == 1)  # one batch of many
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        run({**CFG, "train": {**CFG["train"], "skip_warn_fraction": 0.5}}, out=tmp_path / "run", progress=False)


def test_a_whole_epoch_skipped_stops_the_run_naming_task_and_epoch(tmp_path, monkeypatch):
    poison(monkeypatch, lambda task, call: task == 2)
    with pytest.raises(NumericalError, match=r"every batch of task 2, epoch 1 \(\d+ of \d+\)"):
        run(CFG, out=tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "checkpoints" / "task_01.pt").exists()  # the last good state is kept


def test_the_threshold_is_checked_as_a_fraction(tmp_path):
    from retain.errors import ConfigError

    with pytest.raises(ConfigError, match="train.skip_warn_fraction"):
        run({**CFG, "train": {**CFG["train"], "skip_warn_fraction": 1.5}}, write=False, progress=False)
