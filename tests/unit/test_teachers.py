"""Stacked (vmapped) per-task teachers and the per-task teacher-output cache."""

import pytest
import torch

from retain.algorithms import LwF, LwFParams
from retain.algorithms.base import TrainingData
from retain.algorithms.teachers import StackedBackbones
from retain.config import TrainConfig, config_from_dict
from retain.models import SmallCNN
from retain.training import DeviceBatches, run_sequence
from tests.conftest import tiny_benchmark, tiny_model


def lwf_with_teachers(scenario="til", **params):
    torch.manual_seed(0)
    bench = tiny_benchmark(scenario, num_tasks=4)
    algo = LwF(tiny_model(scenario), LwFParams(**params))
    for task in bench.tasks[:3]:
        algo.model.heads.setup_task(task.id, task.num_classes)
        algo.on_task_end(task)
        with torch.no_grad():
            for p in algo.model.parameters():
                p.add_(0.2 * torch.randn_like(p))
    task = bench.tasks[3]
    algo.model.heads.setup_task(task.id, task.num_classes)
    return algo, bench, task


def test_stacked_backbones_match_one_by_one():
    torch.manual_seed(0)
    nets = [SmallCNN((1, 8, 8), (4,)).eval() for _ in range(3)]
    x = torch.randn(5, 1, 8, 8)
    expected = torch.stack([n(x) for n in nets]).detach()
    stacked = StackedBackbones(nets)
    torch.testing.assert_close(stacked(x), expected)
    # the snapshots now read their weights from the stack: no second copy of the teachers exists
    for i, net in enumerate(nets):
        for name, param in net.named_parameters():
            assert param.data_ptr() == stacked.params[name][i].data_ptr()
    torch.testing.assert_close(torch.stack([n(x) for n in nets]).detach(), expected)


def test_batched_teacher_logits_equal_the_loop(scenario):
    batched, bench, task = lwf_with_teachers(scenario, batch_teachers=True)
    looped, _, _ = lwf_with_teachers(scenario, batch_teachers=False)
    assert batched._stack is not None and looped._stack is None
    x = torch.randn(6, 1, 4, 4)
    for (p, a), (q, b) in zip(batched.teacher_logits(x), looped.teacher_logits(x)):
        assert p == q
        torch.testing.assert_close(a, b)


def test_batching_is_automatic_on_cuda_only():
    algo, _, _ = lwf_with_teachers()  # batch_teachers: auto, on the CPU
    assert algo._stack is None


def test_dil_student_logits_are_computed_once_for_every_teacher():
    algo, bench, task = lwf_with_teachers("dil", batch_teachers=False, cache_teacher=False)
    calls = {"n": 0}
    algo.model.heads.heads[0].register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
    algo.training_step(next(data_of(bench, task).shuffled(8, torch.Generator().manual_seed(0))), task)
    assert len(algo.teachers) == 3 and calls["n"] == 1  # the shared head runs once: its logits serve all teachers


def test_forget_restacks_without_the_teacher():
    algo, _, _ = lwf_with_teachers(batch_teachers=True)
    algo.forget([2])
    assert algo._stack.size == 2 and sorted(algo.teachers) == [1, 3]


def count_teacher_calls(algo):
    calls = {"n": 0}
    for snap in algo.teachers.values():
        snap.backbone.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
    return calls


def data_of(bench, task, augment=False):
    return DeviceBatches(TrainingData(task.x_train, task.y_train), bench.mean, bench.std, torch.device("cpu"), augment)


def test_cache_records_teacher_outputs_once_and_matches_live_teachers():
    algo, bench, task = lwf_with_teachers(batch_teachers=False)
    data = data_of(bench, task)
    gen = torch.Generator().manual_seed(0)
    batch = next(data.shuffled(8, gen))
    live = algo.training_step(batch, task)["distillation_reg"]
    calls = count_teacher_calls(algo)
    algo.on_training_data(data)
    recorded = calls["n"]
    assert recorded > 0 and algo._cache is not None
    cached = algo.training_step(batch, task)["distillation_reg"]
    assert calls["n"] == recorded  # no teacher forward during training
    torch.testing.assert_close(cached, live)


@pytest.mark.parametrize(
    "mode,augmented,expect_cache",
    [
        ("auto", False, True),
        ("auto", True, False),
        (True, True, True),
        (False, False, False),
    ],
)
def test_cache_modes(mode, augmented, expect_cache):
    algo, bench, task = lwf_with_teachers(cache_teacher=mode)
    algo.on_training_data(data_of(bench, task, augmented))
    assert (algo._cache is not None) == expect_cache


def test_cache_and_batching_leave_the_accuracy_matrix_unchanged():
    def matrix(**params):
        torch.manual_seed(0)
        bench = tiny_benchmark("dil", num_tasks=4, construction="permuted")  # old tasks are partly forgotten
        algo = LwF(tiny_model("dil"), LwFParams(**params))
        result = run_sequence(
            algo, bench, TrainConfig(epochs=2, batch_size=8), torch.Generator().manual_seed(0), torch.device("cpu")
        )
        return result.accuracy_matrix

    reference = matrix(cache_teacher=False, batch_teachers=False)
    assert min(v for row in reference for v in row) < 0.9  # a matrix that a wrong target would move
    for params in ({"cache_teacher": True, "batch_teachers": False}, {"batch_teachers": True, "cache_teacher": False}):
        got = matrix(**params)
        assert [len(r) for r in got] == [1, 2, 3, 4]
        assert got == reference


def test_cache_teacher_config_values():
    for text, value in (("auto", "auto"), (True, True), (False, False)):
        cfg = config_from_dict({"algorithm": {"name": "lwf", "cache_teacher": text}})
        assert cfg.algorithm.params.cache_teacher == value
    with pytest.raises(ValueError, match="cache_teacher"):
        config_from_dict({"algorithm": {"name": "lwf", "cache_teacher": "sometimes"}})


def test_stacked_backbones_carry_batchnorm_statistics():
    """The CUDA default stacks ResNet-18 teachers: their BatchNorm running statistics must be used."""
    from retain.models import ResNet18

    torch.manual_seed(0)
    nets = [ResNet18((3, 32, 32)).eval() for _ in range(2)]
    for net in nets:
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = torch.stack([n(x) for n in nets])
    torch.testing.assert_close(StackedBackbones(nets)(x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("distance,terms", [("cross_entropy", 1), ("kl", 3), ("mse", 3)])
def test_dil_cache_holds_the_merged_targets_and_matches_live_teachers(distance, terms):
    """Three DIL teachers distil the shared head: cross-entropy caches one summed probability tensor,
    the other distances one target per teacher; either way the cached loss is the live one."""
    algo, bench, task = lwf_with_teachers("dil", batch_teachers=False, distance=distance)
    data = data_of(bench, task)
    batch = next(data.shuffled(8, torch.Generator().manual_seed(0)))
    live = algo.training_step(batch, task)["distillation_reg"]
    algo.on_training_data(data)
    [(head, targets)] = algo._cache.values()
    assert len(targets) == terms and all(t.shape == (len(task.y_train), task.num_classes) for t in targets)
    if distance == "cross_entropy":  # the summed probabilities of three teachers
        torch.testing.assert_close(targets[0].sum(dim=1), torch.full((len(task.y_train),), 3.0))
    torch.testing.assert_close(algo.training_step(batch, task)["distillation_reg"], live)


def model_bytes(model):
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


@pytest.mark.parametrize("teacher,copies", [("per_task", 3), ("previous", 1)])
@pytest.mark.parametrize("batch_teachers", [False, True])
def test_teachers_hold_one_model_copy_each_and_nothing_more(teacher, copies, batch_teachers):
    """Memory target: `previous` keeps one copy whatever T; `per_task` one per finished task (stacking
    re-points the snapshots at the stack, so it adds no second copy)."""
    algo, bench, task = lwf_with_teachers("dil", teacher=teacher, batch_teachers=batch_teachers)
    one_copy = model_bytes(algo.teachers[max(algo.teachers)])
    assert algo.memory_bytes() == {"teachers": copies * one_copy, "cache": 0}
    algo.on_training_data(data_of(bench, task))  # DIL, cross-entropy: one (N, K) float tensor
    assert algo.memory_bytes()["cache"] == len(task.y_train) * task.num_classes * 4
