"""The stacked LwF step: every old head's student logits from one matmul, every distillation term in one
reduction, the per_task MLP teachers as one batched matmul per layer; each against the plain loop over
the terms (value and gradients), with a tolerance in float32 and to float64 rounding in float64."""

import pytest
import torch
from torch import nn

from retain.algorithms.base import Batch
from retain.algorithms.distillation import DistillationReg
from retain.algorithms.stacked import StackedBackbones, linear_layers
from retain.models import MLP, SmallCNN
from retain.scenarios.task import Task
from tests.unit.test_teachers import data_of, lwf_with_teachers

TOLERANCE = {torch.float32: {"rtol": 1e-5, "atol": 1e-6}, torch.float64: {"rtol": 1e-12, "atol": 1e-14}}


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(request.param)
    yield request.param
    torch.set_default_dtype(previous)


def loop_reg(algo, x, task, old):
    """Σ over the terms of `DistillationReg.loss` on `Heads.old_logits`, one term at a time: the plain loop."""
    features = algo.model.features(x, task.id)
    total = torch.zeros(())
    for p, target in old.terms():
        student = algo.model.heads.old_logits(features, p, algo.params.train_old_heads)
        total = total + algo.distill.loss(student, target)
    return total


def grads(algo, value):
    params = list(algo.model.parameters())
    return torch.autograd.grad(value, params, allow_unused=True)


def assert_step_equals_loop(algo, task, x, index=None, dtype=torch.float32):
    old = algo.teachers.targets(x, index)
    step = algo.training_step(Batch(x, torch.zeros(len(x), dtype=torch.long), index=index), task)
    stacked, looped = step["distillation_reg"], loop_reg(algo, x, task, old)
    assert looped.item() > 1e-4
    torch.testing.assert_close(stacked, looped, **TOLERANCE[dtype])
    for a, b in zip(grads(algo, stacked), grads(algo, looped)):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, **TOLERANCE[dtype])
    return old


@pytest.mark.parametrize("teacher", ["per_task", "previous"])
@pytest.mark.parametrize("distance", ["cross_entropy", "kl", "mse"])
@pytest.mark.parametrize("train_old_heads", [False, True])
def test_the_stacked_step_gives_the_loop_numbers_and_gradients(scenario, teacher, distance, train_old_heads, dtype):
    algo, _, task = lwf_with_teachers(scenario, teacher=teacher, distance=distance, train_old_heads=train_old_heads)
    x = torch.randn(6, 1, 4, 4)
    old = assert_step_equals_loop(algo, task, x, dtype=dtype)
    if scenario == "cil" and teacher == "per_task":
        assert old.widths == (2, 4, 6)  # old task p knew 2p classes: the terms are padded to 6
    reg = algo.training_step(Batch(x, torch.zeros(6, dtype=torch.long)), task)["distillation_reg"]
    old_heads = [h.weight for h in algo.model.heads.heads[: task.id - 1]] if scenario != "dil" else []
    head_grads = torch.autograd.grad(reg, old_heads, allow_unused=True) if old_heads else []
    assert all((g is not None) == train_old_heads for g in head_grads)  # detached unless train_old_heads


@pytest.mark.parametrize("teacher", ["per_task", "previous"])
def test_the_cached_stacked_step_gives_the_loop_numbers(scenario, teacher):
    algo, bench, task = lwf_with_teachers(scenario, teacher=teacher, cache_teacher=True)
    data = data_of(bench, task)
    algo.on_training_data(data)
    assert algo.teachers.cache is not None
    batch = next(data.shuffled(8, torch.Generator().manual_seed(0)))
    assert_step_equals_loop(algo, task, batch.x, batch.index)


def test_the_stack_follows_the_teachers_when_tasks_are_added_or_forgotten(scenario):
    algo, _, task = lwf_with_teachers(scenario, cache_teacher=True)
    x = torch.randn(6, 1, 4, 4)
    algo.forget([2])  # the Amnesiac wrapper's call: the teacher of task 2 is gone, the cache dropped
    assert algo.teachers.cache is None
    old = assert_step_equals_loop(algo, task, x)
    assert old.heads == ((1,) if scenario == "dil" else (1, 3))  # DIL: the teachers' targets merged
    algo.on_task_end(task)  # task 4 done: its teacher joins, and task 5's head is new
    algo.model.heads.setup_task(5, task.num_classes)
    following = Task(5, (0, 1), task.num_classes, task.x_train, task.y_train, task.x_test, task.y_test)
    old = assert_step_equals_loop(algo, following, x)
    assert old.heads == ((1,) if scenario == "dil" else (1, 3, 4))


def test_til_heads_of_different_sizes_are_padded_and_masked():
    algo, _, task = lwf_with_teachers("til", teacher="previous")
    algo.model.heads.heads[1] = nn.Linear(8, 3)  # old task 2 had three classes
    snapshot = algo.teachers[3]
    snapshot.heads.heads[1] = nn.Linear(8, 3).requires_grad_(False)
    old = assert_step_equals_loop(algo, task, torch.randn(6, 1, 4, 4))
    assert old.widths == (2, 3, 2)


@pytest.mark.parametrize("distance", ["cross_entropy", "kl", "mse"])
@pytest.mark.parametrize("widths", [None, (2, 5, 3)])
def test_loss_sum_is_the_sum_of_the_terms(distance, widths, dtype):
    reg = DistillationReg(0.7, 2.0, distance)
    student, teacher = torch.randn(3, 4, 5), torch.randn(3, 4, 5)
    cut = widths or (5, 5, 5)
    targets = [reg.target(teacher[p, :, : cut[p]]) for p in range(3)]
    padded = torch.stack([nn.functional.pad(t, (0, 5 - t.shape[1]), value=7.0) for t in targets])  # any pad
    expected = sum(reg.loss(student[p, :, : cut[p]], targets[p]) for p in range(3))
    torch.testing.assert_close(reg.loss_sum(student, padded, widths), expected, **TOLERANCE[dtype])


def test_batched_matmul_teachers_equal_the_loop(dtype):
    torch.manual_seed(0)
    nets = [MLP((1, 6, 6), (7, 5)).eval().requires_grad_(False) for _ in range(4)]
    x = torch.randn(9, 1, 6, 6)
    stacked = StackedBackbones(nets)
    assert stacked.layers is not None
    torch.testing.assert_close(stacked(x), torch.stack([n(x) for n in nets]), **TOLERANCE[dtype])
    plain = [nn.Sequential(nn.Flatten(), nn.Linear(36, 7, bias=False), nn.ReLU()) for _ in range(2)]
    assert linear_layers(plain[0]) is not None and linear_layers(SmallCNN((1, 6, 6), (2,))) is None
    expected = torch.stack([n(x) for n in plain]).detach()
    torch.testing.assert_close(StackedBackbones(plain)(x), expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("train_old_heads", [False, True])
def test_one_old_head_gives_the_loop_numbers(scenario, train_old_heads, dtype):
    algo, _, task = lwf_with_teachers(scenario, train_old_heads=train_old_heads)
    algo.forget([2, 3])  # one teacher left: one term (k = 1)
    old = assert_step_equals_loop(algo, task, torch.randn(6, 1, 4, 4), dtype=dtype)
    assert old.heads == (1,) and old.widths is None
