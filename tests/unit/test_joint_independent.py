"""Joint's loss and Independent's fresh start, against from-scratch computations."""

import pytest
import torch
import torch.nn.functional as F

from retain.algorithms import Independent, Joint
from retain.algorithms.base import Batch
from tests.conftest import tiny_benchmark, tiny_model


def raw_logits(model, features: torch.Tensor, scenario: str, task_id: int, seen: int) -> torch.Tensor:
    layers = model.heads.heads
    chosen = [layers[task_id - 1]] if scenario == "til" else [layers[0]] if scenario == "dil" else list(layers[:seen])
    return torch.cat([features @ h.weight.T + h.bias for h in chosen], dim=1)


def test_joint_loss_is_the_batch_mean_of_each_samples_own_test_head(scenario):
    """TIL: a sample of task j through head j; DIL: the shared head; CIL: every class seen so far."""
    bench = tiny_benchmark(scenario, num_tasks=2)
    torch.manual_seed(0)
    algo = Joint(tiny_model(scenario))
    for task in bench.tasks:
        algo.model.heads.setup_task(task.id, task.num_classes)
    data = algo.training_data(bench, bench.tasks[1])
    pick = torch.cat([torch.arange(0, 6), torch.arange(len(data.y) - 6, len(data.y))])  # both tasks' samples
    mean = torch.tensor(bench.mean).view(1, -1, 1, 1)
    std = torch.tensor(bench.std).view(1, -1, 1, 1)
    x = (data.x[pick].float() / 255 - mean) / std
    batch = Batch(x, data.y[pick], data.task_ids[pick])
    out = algo.training_step(batch, bench.tasks[1])
    with torch.no_grad():
        features = algo.model.backbone(x)
        losses = [
            F.cross_entropy(raw_logits(algo.model, features[i : i + 1], scenario, int(j), 2), batch.y[i : i + 1])
            for i, j in enumerate(batch.task_ids)
        ]
    assert set(batch.task_ids.tolist()) == {1, 2}
    assert out["loss"].item() == pytest.approx(torch.stack(losses).mean().item(), rel=1e-5)


def test_independent_starts_every_task_from_fresh_weights():
    bench = tiny_benchmark("til", num_tasks=2)
    algo = Independent(tiny_model("til"))
    algo.model.heads.setup_task(1, 2)
    with torch.no_grad():
        for p in algo.model.parameters():
            p.fill_(0.5)  # as if task 1 had trained them
    algo.on_task_start(bench.tasks[1])
    for name, p in algo.model.named_parameters():
        assert not torch.any(p == 0.5), name
