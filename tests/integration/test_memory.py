"""The exemplar memory in runs: composition, replay, NME, bad input, and unlearning that deletes exemplars."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from retain.algorithms import Finetuning, LwF
from retain.algorithms.replay import Replay
from retain.errors import ConfigError
from retain.experiment.build import build, config_from_dict
from retain.experiment.run import run
from retain.experiment.unlearn import unlearn_run
from retain.models import BACKBONES
from retain.runs.checkpoint import load_checkpoint, task_file
from retain.runs.model_file import load_model_file
from retain.unlearning.evaluate import reference_config

TINY = {"backbone": {"hidden": [16]}, "train": {"epochs": 1, "batch_size": 64, "device": "cpu"}}


def cil(**sections: Any) -> dict[str, Any]:
    return {"scenario": "cil", **TINY, **sections}


def hashes(x: torch.Tensor) -> set[str]:
    """One SHA-256 per sample of uint8 images `x`."""
    return {hashlib.sha256(row.contiguous().numpy().tobytes()).hexdigest() for row in x.cpu()}


def memory_states(state: Any) -> list[dict[str, Any]]:
    """Every exemplar memory saved in an algorithm state (however deep the wrappers nest it)."""
    if not isinstance(state, dict):
        return []
    found = [state["memory"]] if isinstance(state.get("memory"), dict) and "x" in state["memory"] else []
    return found + [m for v in state.values() for m in memory_states(v)]


def stored_hashes(state: Any) -> set[str]:
    (memory,) = memory_states(state)
    return set() if memory["x"] is None else hashes(memory["x"])


def test_memory_is_off_by_default_and_wraps_the_algorithm_when_set():
    _, plain = build(config_from_dict(cil()))
    assert isinstance(plain, LwF)
    _, replay = build(config_from_dict(cil(algorithm={"name": "finetuning"}, memory={"size": 50})))
    assert isinstance(replay, Replay) and isinstance(replay.inner, Finetuning)


class TaskConditioned(nn.Module):
    task_conditioned = True
    options = ("hidden",)

    def __init__(self, input_shape, hidden=(8,)):
        super().__init__()
        self.output_dim = 4
        self.body = nn.Linear(int(torch.tensor(input_shape).prod()), 4)

    def forward(self, x, task_id):
        return self.body(x.flatten(1))


@pytest.mark.parametrize(
    "sections,key",
    [
        ({"memory": {"size": 50, "selection": "herding"}}, "memory.selection = 'herding'"),
        ({"memory": {"size": 50}, "eval": {"classifier": "nme"}}, "eval.classifier = 'nme'"),
    ],
)
def test_features_of_a_task_conditioned_backbone_are_refused_for_herding_and_nme(monkeypatch, sections, key):
    monkeypatch.setitem(BACKBONES, "conditioned", TaskConditioned)
    with pytest.raises(ConfigError, match=key):
        config_from_dict(cil(backbone={"name": "conditioned"}, **sections))
    config_from_dict(cil(backbone={"name": "conditioned"}, memory={"size": 50}))  # random selection, heads: fine


def test_training_data_is_the_task_followed_by_the_memory():
    benchmark, algorithm = build(config_from_dict(cil(algorithm={"name": "finetuning"}, memory={"size": 40})))
    assert isinstance(algorithm, Replay)
    first, second = benchmark.tasks[:2]
    assert len(algorithm.training_data(benchmark, first).y) == len(first.y_train)  # empty memory: the task alone
    algorithm.on_task_end(first)
    data = algorithm.training_data(benchmark, second)
    own = len(second.y_train)
    assert len(data.y) == own + 40
    assert torch.equal(data.x[:own], second.x_train) and torch.equal(data.x[own:], algorithm.memory.x)
    assert torch.equal(data.y[own:], algorithm.memory.y) and set(data.y[own:].tolist()) == {0, 1}


@pytest.mark.parametrize("name", ["finetuning", "lwf"])
def test_replay_keeps_old_classes_alive_in_cil(name):
    plain = run(cil(algorithm={"name": name}, train={**TINY["train"], "epochs": 3}), write=False, progress=False)
    replay = run(
        cil(algorithm={"name": name}, train={**TINY["train"], "epochs": 3}, memory={"size": 200}),
        write=False,
        progress=False,
    )
    assert plain.summary["final_average_accuracy"] < 0.3  # only the last task's classes are predicted
    assert replay.summary["final_average_accuracy"] > plain.summary["final_average_accuracy"] + 0.3
    old = replay.summary["old_class_accuracy"]
    assert old[0] is None and old[-1] > plain.summary["old_class_accuracy"][-1] + 0.3


def test_nme_classifies_by_the_exemplars_and_never_predicts_a_class_without_any():
    cfg = cil(
        algorithm={"name": "finetuning"}, memory={"size": 100, "selection": "herding"}, eval={"classifier": "nme"}
    )
    result = run(cfg, write=False, progress=False)
    algorithm, benchmark = result.algorithm, result.benchmark
    assert isinstance(algorithm, Replay) and benchmark is not None
    assert result.summary["final_average_accuracy"] > 0.6
    x = torch.cat([t.x_test for t in benchmark.tasks]).float().div(255.0)
    x = (x - torch.tensor(benchmark.mean).view(1, -1, 1, 1)) / torch.tensor(benchmark.std).view(1, -1, 1, 1)
    algorithm.model.eval()
    with torch.no_grad():
        before = algorithm.eval_logits(x, 5, 5).argmax(1)
        algorithm.forget([1])  # classes 0 and 1 lose their exemplars
        after = algorithm.eval_logits(x, 5, 5).argmax(1)
    assert {0, 1} <= set(before.tolist()) and not {0, 1} & set(after.tolist())


def test_old_and_new_class_accuracy_are_reported_in_cil_only(tmp_path):
    til = run({**TINY, "scenario": "til"}, write=False, progress=False).summary
    assert "old_class_accuracy" not in til
    summary = run(cil(), write=False, progress=False).summary
    matrix = summary["accuracy_matrix"]
    assert summary["new_class_accuracy"] == [row[t] for t, row in enumerate(matrix)]
    assert summary["old_class_accuracy"][2] == pytest.approx(sum(matrix[2][:2]) / 2)


UNLEARN = {"method": "amnesiac", "requests": {3: [1]}, "evaluate": False}


def memory_run(folder: Path, requests: dict[int, list[int]]) -> dict[str, Any]:
    return cil(
        algorithm={"name": "lwf"},
        memory={"size": 100, "selection": "herding"},
        unlearning={**UNLEARN, "requests": requests},
        out=str(folder),
    )


def test_unlearning_deletes_every_exemplar_of_the_task_from_memory_checkpoints_and_retain_unlearn(tmp_path):
    source = tmp_path / "run"
    result = run(memory_run(source, {3: [1]}), progress=False)
    benchmark = result.benchmark
    assert benchmark is not None
    task1, task2 = hashes(benchmark.task(1).x_train), hashes(benchmark.task(2).x_train)
    checkpoints = {t: load_checkpoint(source / "checkpoints" / task_file(t))["algorithm"] for t in range(1, 6)}
    assert stored_hashes(checkpoints[1]) & task1 and stored_hashes(checkpoints[2]) & task1  # before the request
    for t in (3, 4, 5):  # the request after task 3, and every later checkpoint
        assert not stored_hashes(checkpoints[t]) & task1, t
        assert stored_hashes(checkpoints[t]) & task2, t
    assert not stored_hashes(load_model_file(source / "model.pt")["algorithm"]) & task1

    unlearned = unlearn_run(source, [2], out=tmp_path / "unlearned", evaluate=False)
    saved = load_model_file(tmp_path / "unlearned" / "model.pt")["algorithm"]
    assert not stored_hashes(saved) & (task1 | task2)
    # `retain unlearn` leaves the memory an in-run request after the last task would have left
    in_run = run(memory_run(tmp_path / "in-run", {3: [1], 5: [2]}), progress=False)
    (a,), (b,) = memory_states(saved), memory_states(load_model_file(tmp_path / "in-run" / "model.pt")["algorithm"])
    assert torch.equal(a["x"], b["x"]) and torch.equal(a["y"], b["y"]) and a["forgotten"] == b["forgotten"] == [1, 2]
    assert in_run.summary["accuracy_matrix"][-1] == unlearned.summary["accuracy_matrix"][-1]


def test_the_retrain_reference_never_holds_an_exemplar_of_the_unlearned_task(tmp_path):
    cfg = config_from_dict(memory_run(tmp_path / "x", {3: [1]}))
    full, _ = build(cfg)
    reference = run(reference_config(cfg, (1,)), write=False, progress=False)
    held = stored_hashes(reference.algorithm.state_dict())
    assert held and not held & hashes(full.task(1).x_train)


def test_retesting_head_checkpoints_with_nme_equals_a_run_with_nme(tmp_path):
    """benchmarks/retest.py (the NME rows of docs/results.md): `eval.classifier` changes testing only."""
    spec = importlib.util.spec_from_file_location(
        "_bench_retest", Path(__file__).parents[2] / "benchmarks" / "retest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    memory = {"size": 100, "selection": "herding"}
    run(cil(memory=memory), out=tmp_path / "head", progress=False)
    nme = run(cil(memory=memory, eval={"classifier": "nme"}), write=False, progress=False).summary
    retested = module.retest(tmp_path / "head", "nme")
    assert retested["accuracy_matrix"] == nme["accuracy_matrix"]
    assert retested["old_class_accuracy"] == nme["old_class_accuracy"]


def block_norms(weights: dict[str, torch.Tensor], task_id: int) -> tuple[float, float]:
    """Mean weight-vector norm of the old output blocks and of block `task_id`, from a model state."""
    blocks = [weights[f"heads.heads.{p}.weight"] for p in range(task_id)]
    return float(torch.cat(blocks[:-1]).norm(dim=1).mean()), float(blocks[-1].norm(dim=1).mean())


@pytest.mark.parametrize("aligning", [False, True])
def test_weight_aligning_gives_each_new_block_the_old_blocks_mean_norm(tmp_path, aligning):
    memory = {"size": 100, "weight_aligning": aligning}
    run(cil(algorithm={"name": "finetuning"}, memory=memory), out=tmp_path / "run", progress=False)
    for t in (2, 3, 4, 5):
        old, new = block_norms(load_checkpoint(tmp_path / "run" / "checkpoints" / task_file(t))["model"], t)
        assert (new == pytest.approx(old, rel=1e-5)) is aligning, (t, old, new)
