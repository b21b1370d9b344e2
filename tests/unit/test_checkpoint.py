"""Checkpoints: safe loading, atomic writes, algorithm state, signals and non-finite losses in the loop."""

from __future__ import annotations

import os
import pickle
import signal

import pytest
import torch

from retain.algorithms import Finetuning, Independent, LwF, LwFParams
from retain.config import TrainConfig
from retain.errors import CheckpointError, NumericalError, RunInterrupted
from retain.runs.checkpoint import FORMAT, CheckpointSession, capture_rng, load_checkpoint, restore_rng
from retain.runs.signals import stop_on_signals
from retain.runs.store import RunFolder, atomic_write_bytes
from retain.training.loop import LoopLogger, LoopSession, run_sequence
from tests.conftest import tiny_benchmark, tiny_model


class Evil:
    """Unpickling this would run a shell command that creates `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("writer", ["torch_save", "raw_pickle"])
def test_a_checkpoint_that_would_run_code_is_refused_and_the_code_does_not_run(tmp_path, writer):
    marker, path = tmp_path / "pwned", tmp_path / "task_01.pt"
    payload = {"format": FORMAT, "version": 1, "model": Evil(marker)}
    if writer == "torch_save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(CheckpointError, match="refused.*arbitrary unpickling, which could run code"):
        load_checkpoint(path)
    assert not marker.exists()


def _valid_payload() -> dict:
    """A complete, valid checkpoint payload for one finished task."""
    from retain.runs.checkpoint import VERSION, capture_rng, config_hash

    config = {"seed": 0}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "tasks_done": 1,
        "config": config,
        "config_hash": config_hash(config),
        "model": {"w": torch.ones(3)},
        "algorithm": {},
        "accuracy_matrix": [[1.0]],
        "train_seconds_per_task": [0.1],
        "rng": capture_rng(torch.Generator()),
        "metrics_bytes": 0,
        "elapsed_seconds": 0.0,
        "progress": None,
    }
    return payload


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "not_retain", "old_version", "tampered"])
def test_a_damaged_checkpoint_gives_a_checkpoint_error(tmp_path, damage):
    path = tmp_path / "task_01.pt"
    good = tmp_path / "good.pt"
    from retain.runs.checkpoint import save_checkpoint

    payload = _valid_payload()
    save_checkpoint(good, payload)
    assert load_checkpoint(good)["tasks_done"] == 1
    data = good.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(2000))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "not_retain":
        torch.save({"state_dict": {"w": torch.ones(1)}}, path)
    elif damage == "old_version":
        save_checkpoint(path, {**payload, "version": 99})
    else:
        save_checkpoint(path, {**payload, "config": {"seed": 1}})
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)
    if damage in ("truncated", "garbage", "empty"):
        with pytest.raises(CheckpointError, match="corrupt"):
            load_checkpoint(path)


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    atomic_write_bytes(path, b"old")

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(path, b"new and longer")
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_every_random_state_round_trips():
    import random

    import numpy as np

    gen = torch.Generator().manual_seed(3)
    state = capture_rng(gen)
    expected = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=gen).item())
    restore_rng(state, gen)
    assert (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=gen).item()) == expected


@pytest.mark.parametrize(
    "algorithm,attribute,teacher",
    [
        (LwF, "teachers", "per_task"),
        (LwF, "teachers", "previous"),
        (Independent, "models", None),
    ],
)
def test_algorithm_state_round_trips_into_a_model_with_more_heads(scenario, algorithm, attribute, teacher):
    bench = tiny_benchmark(scenario, num_tasks=2)
    params = LwFParams(teacher=teacher) if algorithm is LwF else None
    algo = algorithm(tiny_model(scenario), params)
    run_sequence(
        algo, bench, TrainConfig(epochs=1, batch_size=16), torch.Generator().manual_seed(0), torch.device("cpu")
    )
    state = algo.state_dict()
    fresh = algorithm(tiny_model(scenario), params)
    for task in bench.tasks:
        fresh.model.heads.setup_task(task.id, task.num_classes)
    fresh.load_state_dict(state)
    x = bench.tasks[0].x_test.float()
    for key, snap in getattr(algo, attribute).items():
        restored = getattr(fresh, attribute)[key]
        assert not restored.training and not any(p.requires_grad for p in restored.parameters())
        assert restored.heads.num_tasks == snap.heads.num_tasks
        head = snap.heads.num_tasks if scenario == "cil" else 1
        assert torch.equal(restored(x, head), snap(x, head))


class NaNAt(Finetuning):
    """Finetuning whose loss becomes NaN at one (task, step) of epoch 1."""

    def __init__(self, model, task_id, step):
        super().__init__(model)
        self.at, self.calls = (task_id, step), {}

    def training_step(self, batch, task):
        out = super().training_step(batch, task)
        step = self.calls[task.id] = self.calls.get(task.id, -1) + 1
        if (task.id, step) == self.at:
            out["loss"] = out["loss"] * float("nan")
        return out


class Recorder(LoopSession, LoopLogger):
    def __init__(self):
        self.tasks, self.epochs = [], []

    def after_task(self, task, algorithm, result, generator):
        self.tasks.append(task.id)

    def on_epoch(self, task_id, epoch, terms, seconds):
        self.epochs.append(terms)


@pytest.mark.parametrize("step", [0, 2])
def test_nan_loss_stops_naming_task_epoch_step_after_the_last_good_task_checkpoint(step):
    bench = tiny_benchmark("til", num_tasks=2)
    session = Recorder()
    with pytest.raises(NumericalError, match=f"task 2, epoch 1, step {step + 1} "):
        run_sequence(
            NaNAt(tiny_model("til"), 2, step),
            bench,
            TrainConfig(epochs=2, batch_size=8),
            torch.Generator().manual_seed(0),
            torch.device("cpu"),
            session,
            session,
        )
    assert session.tasks == [1]  # task 1's checkpoint was written; nothing of task 2 was


def test_skip_batch_skips_the_non_finite_update_and_counts_it():
    bench = tiny_benchmark("til", num_tasks=2)
    session = Recorder()
    algo = NaNAt(tiny_model("til"), 2, 2)
    with pytest.warns(RuntimeWarning, match="task 2 skipped 1 of"):  # 1 of 6 is over skip_warn_fraction 0.1
        run_sequence(
            algo,
            bench,
            TrainConfig(epochs=1, batch_size=8, on_nan="skip_batch"),
            torch.Generator().manual_seed(0),
            torch.device("cpu"),
            session,
            session,
        )
    assert session.tasks == [1, 2] and [e["skipped_batches"] for e in session.epochs] == [0.0, 1.0]
    assert all(torch.isfinite(p).all() for p in algo.model.parameters())


def test_signal_handlers_are_installed_only_inside_the_run_and_restored():
    session = LoopSession()
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with stop_on_signals(session):
        assert signal.getsignal(signal.SIGINT) is not before[signal.SIGINT]
        os.kill(os.getpid(), signal.SIGTERM)
        assert session.stop_signal == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):  # a second signal does not wait
            os.kill(os.getpid(), signal.SIGINT)
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_signal_during_evaluation_stops_after_the_task_checkpoint(tmp_path):
    bench = tiny_benchmark("til", num_tasks=2)
    folder = RunFolder(tmp_path / "run")

    class SignalDuringTask1(CheckpointSession):
        def after_task(self, task, algorithm, result, generator):
            self.stop_signal = signal.SIGTERM
            super().after_task(task, algorithm, result, generator)

    session = SignalDuringTask1(folder, {"seed": 0})
    with pytest.raises(RunInterrupted, match="SIGTERM after task 1.*task_01.pt.*--resume") as info:
        run_sequence(
            Finetuning(tiny_model("til")),
            bench,
            TrainConfig(epochs=1, batch_size=8),
            torch.Generator().manual_seed(0),
            torch.device("cpu"),
            None,
            session,
        )
    assert info.value.exit_code == 143
    assert load_checkpoint(folder.path / "checkpoints" / "task_01.pt")["tasks_done"] == 1


@pytest.mark.parametrize(
    "keep,left", [("all", ["task_01.pt", "task_02.pt", "task_03.pt", "task_04.pt"]), ("last", ["task_04.pt"])]
)
def test_keep_decides_which_task_checkpoints_stay(tmp_path, keep, left):
    folder = RunFolder(tmp_path / "run")
    session = CheckpointSession(folder, {"seed": 0}, every_epochs=1, keep=keep)
    run_sequence(
        Finetuning(tiny_model("til")),
        tiny_benchmark("til", num_tasks=4),
        TrainConfig(epochs=2, batch_size=8),
        torch.Generator().manual_seed(0),
        torch.device("cpu"),
        None,
        session,
    )
    assert sorted(p.name for p in (folder.path / "checkpoints").iterdir()) == left  # progress.pt gone too


STRUCTURAL_DAMAGE = {
    "model": [1, 2],
    "algorithm": "x",
    "rng": {},
    "accuracy_matrix": "abc",
    "tasks_done": "2",
    "progress": {"task": 2},
    "config": [1],
    "metrics_bytes": -5,
    "elapsed_seconds": "x",
    "train_seconds_per_task": None,
    "watch": [1],
}


@pytest.mark.parametrize("key", sorted(STRUCTURAL_DAMAGE))
def test_a_checkpoint_with_a_damaged_entry_is_one_error_naming_the_entry(tmp_path, key):
    from retain.runs.checkpoint import save_checkpoint

    payload = {**_valid_payload(), key: STRUCTURAL_DAMAGE[key]}
    save_checkpoint(tmp_path / "task_01.pt", payload)
    with pytest.raises(CheckpointError, match=f"is damaged: its '{key}' entry"):
        load_checkpoint(tmp_path / "task_01.pt")
