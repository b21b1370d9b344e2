"""The accuracy matrix against a from-scratch evaluation: which outputs each scenario tests with."""

import pytest
import torch
from torch import nn

from retain.algorithms import Finetuning
from retain.algorithms.base import TrainingData
from retain.config import TrainConfig
from retain.models import ContinualModel
from retain.scenarios.setting import make_heads
from retain.training.data import DeviceBatches
from retain.training.evaluate import accuracy
from retain.training.loop import run_sequence
from tests.conftest import tiny_benchmark, tiny_model


def raw_logits(model, x: torch.Tensor, scenario: str, task_id: int, seen: int) -> torch.Tensor:
    """TIL: task j's own head; DIL: the shared head; CIL: every output block of the `seen` tasks."""
    layers = model.heads.heads
    chosen = [layers[task_id - 1]] if scenario == "til" else [layers[0]] if scenario == "dil" else list(layers[:seen])
    features = model.backbone(x)
    return torch.cat([features @ h.weight.T + h.bias for h in chosen], dim=1)


def test_every_row_of_the_matrix_is_what_a_plain_evaluation_gives(scenario):
    bench = tiny_benchmark(scenario, num_tasks=2, construction="permuted")  # Finetuning forgets here
    torch.manual_seed(0)
    algo = Finetuning(tiny_model(scenario))
    result = run_sequence(
        algo, bench, TrainConfig(epochs=3, batch_size=8), torch.Generator().manual_seed(0), torch.device("cpu")
    )
    mean = torch.tensor(bench.mean).view(1, -1, 1, 1)
    std = torch.tensor(bench.std).view(1, -1, 1, 1)
    algo.model.eval()
    with torch.no_grad():
        last = [
            (raw_logits(algo.model, (t.x_test.float() / 255 - mean) / std, scenario, t.id, 2).argmax(1) == t.y_test)
            .sum()
            .item()
            / len(t.y_test)
            for t in bench.tasks
        ]
    assert result.accuracy_matrix[-1] == pytest.approx(last, abs=1e-9)


def test_cil_tests_an_old_task_with_every_class_seen_so_far():
    """A hand-made CIL model whose second output block always wins: task 1's samples are then all wrong
    after task 2 (argmax over all four classes), though its own block alone would classify them right."""
    backbone = nn.Flatten()
    backbone.output_dim = 2
    model = ContinualModel(backbone, make_heads("cil", 2))
    model.heads.setup_task(1, 2)
    model.heads.setup_task(2, 2)
    with torch.no_grad():
        first, second = model.heads.heads
        first.weight.copy_(torch.eye(2))
        first.bias.zero_()  # class = the larger input
        second.weight.zero_()
        second.bias.fill_(10.0)
    x = torch.tensor([[[[1.0, 0.0]]], [[[0.0, 1.0]]]])  # (2, 1, 1, 2)
    data = DeviceBatches(
        TrainingData((x * 255).to(torch.uint8), torch.tensor([0, 1])), (0.0,), (1.0,), torch.device("cpu")
    )
    algo = Finetuning(model)
    assert accuracy(algo, data, 1, 1, 8) == 1.0  # after task 1: only its own block exists
    assert accuracy(algo, data, 1, 2, 8) == 0.0  # after task 2: task 2's block wins every sample
