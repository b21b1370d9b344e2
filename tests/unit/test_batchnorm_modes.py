"""BatchNorm statistics: testing uses the running statistics; Independent starts each task afresh."""

import torch
from torch import nn

from retain.algorithms import Finetuning, Independent
from retain.algorithms.base import TrainingData
from retain.models import ContinualModel
from retain.scenarios.setting import make_heads
from retain.training.data import DeviceBatches
from retain.training.evaluate import accuracy
from tests.conftest import tiny_benchmark


class NormedMLP(nn.Sequential):
    output_dim = 8

    def __init__(self) -> None:
        super().__init__(nn.Flatten(), nn.Linear(16, 8), nn.BatchNorm1d(8))


def normed_model(scenario: str = "til") -> ContinualModel:
    torch.manual_seed(0)
    return ContinualModel(NormedMLP(), make_heads(scenario, 8))


def test_testing_uses_running_statistics_and_restores_training_mode():
    bench = tiny_benchmark("til", num_tasks=2)
    model = normed_model()
    model.heads.setup_task(1, 2)
    bn = model.backbone[2]
    with torch.no_grad():  # running statistics far from any batch's: eval and train mode disagree
        bn.running_mean.fill_(5.0)
        bn.running_var.fill_(0.01)
    task = bench.tasks[0]
    data = DeviceBatches(TrainingData(task.x_test, task.y_test), bench.mean, bench.std, torch.device("cpu"))
    model.train()
    got = accuracy(Finetuning(model), data, 1, 1, 7)  # batches of 7: batch statistics would differ per batch
    assert model.training
    with torch.no_grad():
        x = next(data.in_order(len(data))).x
        expected = (model.eval()(x, 1).argmax(1) == task.y_test).sum().item() / len(task.y_test)
    assert got == expected


def test_independent_resets_batchnorm_statistics_at_each_task_start():
    bench = tiny_benchmark("til", num_tasks=2)
    model = normed_model()
    algo = Independent(model)
    bn = model.backbone[2]
    with torch.no_grad():
        bn.running_mean.fill_(3.0)
        bn.running_var.fill_(7.0)
    bn.num_batches_tracked.fill_(11)
    algo.on_task_start(bench.tasks[1])
    assert torch.equal(bn.running_mean, torch.zeros(8)) and torch.equal(bn.running_var, torch.ones(8))
    assert bn.num_batches_tracked.item() == 0
