"""LwF's gradients, teachers and scenario semantics."""

import pytest
import torch
from torch import nn

from retain.algorithms import Finetuning, LwF, LwFParams
from retain.algorithms.base import Batch
from retain.models import ContinualModel
from retain.scenarios.setting import make_heads
from tests.conftest import tiny_benchmark, tiny_model


def lwf_after(scenario: str, finished: int, **params) -> tuple[LwF, list]:
    """An LwF whose model has trained nothing yet but has stored teachers for `finished` tasks."""
    bench = tiny_benchmark(scenario, num_tasks=2 if finished < 2 else 4, construction="split")
    torch.manual_seed(0)
    algo = LwF(tiny_model(scenario), LwFParams(**params))
    tasks = list(bench.tasks)
    for task in tasks[:finished]:
        algo.model.heads.setup_task(task.id, task.num_classes)
        algo.on_task_end(task)
        with torch.no_grad():  # move the student away from its teacher
            for p in algo.model.parameters():
                p.add_(0.3 * torch.randn_like(p))
    current = tasks[finished]
    algo.model.heads.setup_task(current.id, current.num_classes)
    return algo, [bench, current]


def batch_of(bench, task) -> Batch:
    mean = torch.tensor(bench.mean).view(1, -1, 1, 1)
    std = torch.tensor(bench.std).view(1, -1, 1, 1)
    return Batch((task.x_train[:16].float() / 255 - mean) / std, task.y_train[:16])


def backbone_grad(algo, batch, task, key="loss"):
    algo.model.zero_grad(set_to_none=True)
    algo.training_step(batch, task)[key].backward()
    return torch.cat([p.grad.flatten() for p in algo.model.backbone.parameters()])


def test_distillation_term_changes_the_backbone_gradient(scenario):
    algo, (bench, task) = lwf_after(scenario, 1)
    batch = batch_of(bench, task)
    reg_grad = backbone_grad(algo, batch, task, "distillation_reg")
    assert reg_grad.abs().sum() > 0
    finetune = Finetuning(algo.model)
    algo.model.zero_grad(set_to_none=True)
    finetune.training_step(batch, task)["loss"].backward()
    ft_grad = torch.cat([p.grad.flatten() for p in algo.model.backbone.parameters()])
    assert not torch.allclose(backbone_grad(algo, batch, task), ft_grad)


def test_teachers_are_frozen_and_get_no_gradient(scenario):
    algo, (bench, task) = lwf_after(scenario, 1)
    backbone_grad(algo, batch_of(bench, task), task)
    teacher = algo.teachers[1]
    assert not teacher.training
    assert all(not p.requires_grad and p.grad is None for p in teacher.parameters())


def distillation_only_step(algo, bench, task):
    optimizer = torch.optim.SGD(algo.model.parameters(), lr=0.5, momentum=0.9, weight_decay=0.1)
    optimizer.zero_grad(set_to_none=True)
    algo.training_step(batch_of(bench, task), task)["distillation_reg"].backward()
    optimizer.step()


@pytest.mark.parametrize("teacher", ["per_task", "previous"])
def test_old_til_heads_unchanged_by_distillation_when_detached(teacher):
    algo, (bench, task) = lwf_after("til", 1, teacher=teacher)
    head_before = [p.clone() for p in algo.model.heads.heads[0].parameters()]
    backbone_before = [p.clone() for p in algo.model.backbone.parameters()]
    distillation_only_step(algo, bench, task)
    for before, after in zip(head_before, algo.model.heads.heads[0].parameters()):
        assert torch.equal(before, after)
    assert any(not torch.equal(b, a) for b, a in zip(backbone_before, algo.model.backbone.parameters()))


def test_old_til_heads_trained_when_train_old_heads():
    algo, (bench, task) = lwf_after("til", 1, train_old_heads=True)
    before = algo.model.heads.heads[0].weight.clone()
    distillation_only_step(algo, bench, task)
    assert not torch.equal(before, algo.model.heads.heads[0].weight)


def test_shared_dil_head_receives_distillation_gradient():
    # retain's deliberate difference from the reference: the shared head is not detached
    algo, (bench, task) = lwf_after("dil", 1)
    algo.model.zero_grad(set_to_none=True)
    algo.training_step(batch_of(bench, task), task)["distillation_reg"].backward()
    assert algo.model.heads.heads[0].weight.grad.abs().sum() > 0


def test_old_cil_outputs_detached_by_default():
    algo, (bench, task) = lwf_after("cil", 1)
    algo.model.zero_grad(set_to_none=True)
    algo.training_step(batch_of(bench, task), task)["distillation_reg"].backward()
    assert algo.model.heads.heads[0].weight.grad is None


@pytest.mark.parametrize("teacher,expected", [("per_task", [1, 2, 3]), ("previous", [3])])
def test_which_snapshots_exist_after_each_task(teacher, expected):
    bench = tiny_benchmark("til", num_tasks=4)
    algo = LwF(tiny_model("til"), LwFParams(teacher=teacher))
    for task in bench.tasks[:3]:
        algo.model.heads.setup_task(task.id, task.num_classes)
        algo.on_task_end(task)
    assert sorted(algo.teachers) == expected
    for snap in algo.teachers.values():
        assert snap is not algo.model and not snap.training
        assert all(not p.requires_grad for p in snap.parameters())
    # training the student afterwards leaves the snapshots untouched
    last = algo.teachers[expected[-1]]
    before = [p.clone() for p in last.parameters()]
    with torch.no_grad():
        for p in algo.model.parameters():
            p.add_(1.0)
    assert all(torch.equal(b, a) for b, a in zip(before, last.parameters()))


def test_previous_teacher_distils_every_old_til_head():
    algo, _ = lwf_after("til", 3, teacher="previous")
    ((teacher, heads),) = algo.teachers.pairs()
    assert heads == [1, 2, 3]
    per_task, _ = lwf_after("til", 3, teacher="per_task")
    assert [h for _, h in per_task.teachers.pairs()] == [[1], [2], [3]]


def test_sum_over_teachers_is_not_averaged():
    algo, (bench, task) = lwf_after("til", 3)
    batch = batch_of(bench, task)
    total = algo.training_step(batch, task)["distillation_reg"]
    parts = []
    feats = algo.model.features(batch.x, task.id)
    for snap, (p,) in algo.teachers.pairs():
        with torch.no_grad():
            teacher_logits = snap.heads(snap.features(batch.x, p), p)
        parts.append(algo.distill(algo.model.heads.old_logits(feats, p, False), teacher_logits))
    assert total.item() == pytest.approx(sum(p.item() for p in parts), rel=1e-6)


class CountingMLP(nn.Module):
    task_conditioned = False

    def __init__(self, conditioned: bool = False):
        super().__init__()
        self.task_conditioned = conditioned
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU())
        self.output_dim = 8
        self.calls = 0

    def forward(self, x, task_id=None):
        self.calls += 1
        return self.net(x)


@pytest.mark.parametrize("conditioned,expected_calls", [(False, 1), (True, 4)])
def test_student_backbone_runs_once_per_batch_unless_task_conditioned(conditioned, expected_calls):
    bench = tiny_benchmark("til", num_tasks=4)
    backbone = CountingMLP(conditioned)
    algo = LwF(ContinualModel(backbone, make_heads("til", 8)))
    for task in bench.tasks[:3]:
        algo.model.heads.setup_task(task.id, task.num_classes)
        algo.on_task_end(task)
    task = bench.tasks[3]
    algo.model.heads.setup_task(task.id, task.num_classes)
    backbone.calls = 0
    algo.training_step(batch_of(bench, task), task)
    assert backbone.calls == expected_calls  # current task + one per old task when conditioned
