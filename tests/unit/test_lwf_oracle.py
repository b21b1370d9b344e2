"""LwF's distillation term against a from-scratch computation (Li & Hoiem 2016, eq. 3), per scenario,
teacher mode and distance: the teachers' and the student's logits are rebuilt here from the raw weights,
not through the library's heads, teachers or caches."""

import pytest
import torch

from retain.algorithms.base import TrainingData
from retain.training.data import DeviceBatches
from tests.unit.test_lwf import batch_of, lwf_after

T, FACTOR = 2.0, 0.7


def head_logits(model, features: torch.Tensor, scenario: str, p: int) -> torch.Tensor:
    """Logits of head p from the raw weights: TIL head p, DIL the shared head, CIL blocks 1..p."""
    layers = model.heads.heads
    if scenario == "til":
        chosen = [layers[p - 1]]
    elif scenario == "dil":
        chosen = [layers[0]]
    else:
        chosen = list(layers[:p])
    return torch.cat([features @ h.weight.T + h.bias for h in chosen], dim=1)


def distance(student: torch.Tensor, teacher: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "mse":
        return ((student - teacher) ** 2).mean()
    p_t = torch.exp(teacher / T) / torch.exp(teacher / T).sum(dim=1, keepdim=True)
    p_s = torch.exp(student / T) / torch.exp(student / T).sum(dim=1, keepdim=True)
    if kind == "kl":
        return T * T * (p_t * (p_t.log() - p_s.log())).sum(dim=1).mean()
    return -(p_t * (p_s + 1e-5).log()).sum(dim=1).mean()


def oracle_reg(algo, x: torch.Tensor, scenario: str, teacher: str, kind: str) -> float:
    """Σ over (teacher, old head p) of λ · D(student head p on x, teacher head p on x)."""
    with torch.no_grad():
        student_features = algo.model.backbone(x)
        if teacher == "per_task":
            pairs = [(snap, p) for p, snap in sorted(algo.teachers.items())]
        else:
            ((last, snap),) = algo.teachers.items()
            pairs = [(snap, p) for p in (range(1, last + 1) if scenario == "til" else [last])]
        total = 0.0
        for snap, p in pairs:
            target = head_logits(snap, snap.backbone(x), scenario, p)
            total += FACTOR * distance(head_logits(algo.model, student_features, scenario, p), target, kind).item()
    return total


@pytest.mark.parametrize("teacher", ["per_task", "previous"])
@pytest.mark.parametrize("kind", ["cross_entropy", "kl", "mse"])
@pytest.mark.parametrize("cached", [False, True])
def test_distillation_reg_equals_the_from_scratch_sum(scenario, teacher, kind, cached):
    algo, (bench, task) = lwf_after(
        scenario,
        3,
        teacher=teacher,
        distance=kind,
        distillation_reg_factor=FACTOR,
        distillation_reg_temperature=T,
        cache_teacher=cached,
    )
    batch = batch_of(bench, task)
    if cached:  # the step then reads the targets recorded for the task's training data
        algo.on_training_data(
            DeviceBatches(TrainingData(task.x_train, task.y_train), bench.mean, bench.std, torch.device("cpu"))
        )
        assert algo.teachers.cache is not None
        batch = next(iter(algo_batches(bench, task)))
    out = algo.training_step(batch, task)
    expected = oracle_reg(algo, batch.x, scenario, teacher, kind)
    assert expected > 1e-3  # the teachers differ from the student: the term is not trivially zero
    assert out["distillation_reg"].item() == pytest.approx(expected, rel=1e-5)
    assert out["loss"].item() == pytest.approx(out["loss_cls"].item() + out["distillation_reg"].item(), rel=1e-6)


def algo_batches(bench, task):
    """The task's first 16 training samples as a batch carrying their indices (what a cached step reads)."""
    data = DeviceBatches(TrainingData(task.x_train, task.y_train), bench.mean, bench.std, torch.device("cpu"))
    return data.in_order(16)


def test_previous_teacher_targets_are_each_old_heads_own_logits():
    """`teacher: previous` in TIL: head p's target is the snapshot's head p on x — not the last head's."""
    algo, (bench, task) = lwf_after("til", 3, teacher="previous")
    x = batch_of(bench, task).x
    snap = algo.teachers[3]
    got = dict(algo.teachers.logits(x))
    assert sorted(got) == [1, 2, 3]
    with torch.no_grad():
        features = snap.backbone(x)
        for p in (1, 2, 3):
            assert torch.allclose(got[p], head_logits(snap, features, "til", p), atol=1e-6), p
    assert not torch.allclose(got[1], got[3], atol=1e-3)


class TaskScaledMLP(torch.nn.Module):
    """A task-conditioned backbone: features of task view v are `v · relu(W x)`."""

    task_conditioned = True
    output_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.ReLU())

    def forward(self, x: torch.Tensor, task_id: int) -> torch.Tensor:
        return task_id * self.net(x)


@pytest.mark.parametrize("teacher", ["per_task", "previous"])
def test_a_task_conditioned_backbone_is_distilled_under_each_old_tasks_view(teacher):
    from retain.algorithms import LwF, LwFParams
    from retain.models import ContinualModel
    from retain.scenarios.setting import make_heads
    from tests.conftest import tiny_benchmark

    bench = tiny_benchmark("til", num_tasks=4)
    torch.manual_seed(0)
    algo = LwF(ContinualModel(TaskScaledMLP(), make_heads("til", 8)), LwFParams(teacher=teacher, cache_teacher=False))
    for task in bench.tasks[:3]:
        algo.model.heads.setup_task(task.id, task.num_classes)
        algo.on_task_end(task)
        with torch.no_grad():
            for p in algo.model.parameters():
                p.add_(0.3 * torch.randn_like(p))
    task = bench.tasks[3]
    algo.model.heads.setup_task(task.id, task.num_classes)
    x = batch_of(bench, task).x
    got = dict(algo.teachers.logits(x))
    with torch.no_grad():
        for p in (1, 2, 3):
            snap = algo.teachers[p] if teacher == "per_task" else algo.teachers[3]
            assert torch.allclose(got[p], head_logits(snap, snap.backbone(x, p), "til", p), atol=1e-6), p
        expected = sum(
            distance(head_logits(algo.model, algo.model.backbone(x, p), "til", p), got[p], "cross_entropy").item()
            for p in (1, 2, 3)
        )
    assert algo.training_step(batch_of(bench, task), task)["distillation_reg"].item() == pytest.approx(
        expected, rel=1e-5
    )
