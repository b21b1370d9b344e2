"""Frozen backbone = features once: the cached path trains on the same losses as recomputing the features."""

import pytest
import torch

from retain.algorithms.base import snapshot_state
from retain.experiment.build import build, config_from_dict
from retain.training.features import FeatureBatches
from retain.training.loop import LoopLogger, run_sequence

pytest.importorskip("timm")

CPU = torch.device("cpu")


def _config(cache: bool, augment: bool = False, algorithm: str = "lwf", freeze: str = "all"):
    backbone = {"name": "timm", "model": "test_resnet", "freeze": freeze, "image_size": 16, "cache_features": cache}
    return config_from_dict(
        {
            "benchmark": {"name": "split_digits", "num_tasks": 3, "classes_per_task": 2, "augment": augment},
            "backbone": backbone,
            "algorithm": {"name": algorithm},
            "train": {"epochs": 2, "batch_size": 64, "device": "cpu", "optimizer": {"lr": 0.05}},
        }
    )


class Terms(LoopLogger):
    def __init__(self):
        self.epochs = []

    def on_epoch(self, task_id, epoch, terms, seconds):
        self.epochs.append(terms)


def _train(cfg):
    benchmark, algorithm = build(cfg)
    calls = []
    algorithm.model.backbone.net.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    logger = Terms()
    result = run_sequence(algorithm, benchmark, cfg.train, torch.Generator().manual_seed(0), CPU, logger)
    return result, logger.epochs, calls, algorithm


def test_the_cached_path_gives_the_losses_and_accuracies_of_recomputing():
    cached, cached_terms, cached_calls, _ = _train(_config(cache=True))
    live, live_terms, live_calls, _ = _train(_config(cache=False))
    assert len(cached_terms) == len(live_terms) == 6
    for a, b in zip(cached_terms, live_terms):
        assert a.keys() == b.keys() and "distillation_reg" in a
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    flat = [a for row in cached.accuracy_matrix for a in row]
    assert flat == pytest.approx([a for row in live.accuracy_matrix for a in row], abs=1e-9)
    # the cache did its work: the backbone saw each training set once, not once per epoch and teacher
    assert sum(cached_calls) < sum(live_calls) / 2


def test_training_batches_are_features_only_when_the_backbone_is_frozen_and_unaugmented(monkeypatch):
    made = []
    original = FeatureBatches.compute.__func__

    def spy(cls, data, backbone):
        made.append(len(data))
        return original(cls, data, backbone)

    monkeypatch.setattr(FeatureBatches, "compute", classmethod(spy))
    _train(_config(cache=True, freeze="blocks:1"))
    assert made == []  # the backbone trains: nothing is cached
    benchmark, _ = build(_config(cache=True))
    tests = [len(t.y_test) for t in benchmark.tasks]
    trains = [len(t.y_train) for t in benchmark.tasks]
    _train(_config(cache=True, augment=True))
    assert made == tests  # augmented training batches: only the test sets are kept as features
    made.clear()
    _train(_config(cache=True))
    assert made == [n for pair in zip(trains, tests) for n in pair]


def test_the_backbone_passes_through_only_while_a_task_trains():
    *_, algorithm = _train(_config(cache=True))
    assert algorithm.model.backbone.precomputed is False


def test_teachers_share_the_frozen_backbone_and_do_not_store_it():
    *_, lwf = _train(_config(cache=True))
    student = lwf.model
    assert all(t.backbone is student.backbone for t in lwf.teachers.values())
    head_bytes = sum(p.numel() * 4 for t in lwf.teachers.values() for p in t.heads.parameters())
    assert lwf.memory_bytes()["teachers"] == head_bytes
    state = snapshot_state(lwf.teachers[1])
    assert all(k.startswith("heads.") for k in state["weights"])
    other = build(_config(cache=True))[1]
    for t in (1, 2, 3):
        other.model.heads.setup_task(t, 2)
    other.model.load_state_dict(student.state_dict())
    other.load_state_dict(lwf.state_dict())
    x = torch.randn(4, 3, 16, 16)
    for p, teacher in lwf.teachers.items():
        assert torch.equal(other.teachers[p](x, p), teacher(x, p))
        assert other.teachers[p].backbone is other.model.backbone


@pytest.mark.parametrize("name", ["finetuning", "ncm"])
def test_other_algorithms_give_the_same_accuracies_on_cached_features(name):
    cached, *_ = _train(_config(cache=True, algorithm=name))
    live, *_ = _train(_config(cache=False, algorithm=name))
    flat = [a for row in cached.accuracy_matrix for a in row]
    assert flat == pytest.approx([a for row in live.accuracy_matrix for a in row], abs=1e-9)


def test_a_run_on_cached_features_resumes_to_the_same_numbers(tmp_path):
    from retain import run
    from retain.config import config_to_dict
    from retain.errors import RunInterrupted
    from tests.contract.test_resume_contract import TIMING, sigterm_at

    cfg = config_to_dict(_config(cache=True))
    whole = run(cfg, out=tmp_path / "whole", progress=False).summary
    with pytest.raises(RunInterrupted):
        run(cfg, out=tmp_path / "cut", progress=False, step_hook=sigterm_at((3, 2, 1)))
    resumed = run(None, resume=tmp_path / "cut", progress=False).summary
    assert {k: v for k, v in resumed.items() if k not in TIMING} == {k: v for k, v in whole.items() if k not in TIMING}
