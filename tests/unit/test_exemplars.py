"""The exemplar memory: budgets, herding, rebuild at task end, forgetting, reopening and its saved state."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F

from retain.algorithms.exemplars import ExemplarMemory, MemoryBudget, herding_order, random_order
from retain.algorithms.nme import class_means, nearest_mean_logits


def task_data(task_id: int, classes=(0, 1), per_class: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images whose pixels encode (task, class, index), so every sample is distinct."""
    y = torch.tensor(classes).repeat_interleave(per_class)
    x = torch.zeros(len(y), 1, 2, 2, dtype=torch.uint8)
    x[:, 0, 0, 0] = task_id
    x[:, 0, 0, 1] = y.to(torch.uint8)
    x[:, 0, 1, 0] = torch.arange(len(y)).to(torch.uint8)
    return x, y


def flat_features(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).float() + 1.0


def test_budget_is_total_over_classes_seen_or_fixed_per_class():
    assert MemoryBudget(size=10).per_class_budget(4) == 2
    assert MemoryBudget(per_class=3).per_class_budget(40) == 3
    with pytest.raises(ValueError):
        MemoryBudget(size=10, per_class=3)


def test_herding_picks_the_sample_that_keeps_the_running_mean_closest_to_the_class_mean():
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(30, 5, generator=gen)
    order = herding_order(features, 6)
    phi = F.normalize(features.double(), dim=1)
    mu = phi.mean(0)
    chosen: list[int] = []
    for k in range(6):  # brute force, sample by sample
        best = min(
            (i for i in range(30) if i not in chosen), key=lambda i: (mu - (phi[chosen + [i]].sum(0)) / (k + 1)).norm()
        )
        chosen.append(best)
    assert order.tolist() == chosen
    assert len(set(herding_order(features, 30).tolist())) == 30  # each sample at most once


def test_random_order_depends_on_the_seed_only():
    assert torch.equal(random_order(50, 5, 7), random_order(50, 5, 7))
    assert not torch.equal(random_order(50, 5, 7), random_order(50, 5, 8))


@pytest.mark.parametrize("selection", ["random", "herding"])
def test_rebuild_shrinks_old_classes_to_a_prefix_and_fills_the_new_ones(selection):
    memory = ExemplarMemory(MemoryBudget(size=8), selection, seed=3)
    memory.update(1, *task_data(1), flat_features)
    assert len(memory) == 8 and memory.y.tolist().count(0) == 4
    first = memory.x.clone()
    memory.update(2, *task_data(2, (2, 3)), flat_features)
    assert len(memory) == 8  # 4 classes × 2
    for c in (0, 1):  # the first two of each old class, in the order they were selected
        assert torch.equal(memory.x[memory.y == c], first[(memory.y.new_tensor([0] * 4 + [1] * 4) == c)][:2])
    assert memory.task.tolist() == [1] * 4 + [2] * 4


def test_per_class_budget_keeps_every_class_whole():
    memory = ExemplarMemory(MemoryBudget(per_class=3))
    memory.update(1, *task_data(1))
    memory.update(2, *task_data(2, (2, 3)))
    assert torch.bincount(memory.y).tolist() == [3, 3, 3, 3]


def test_dil_tasks_sharing_labels_each_keep_their_own_exemplars():
    memory = ExemplarMemory(MemoryBudget(size=8))
    memory.update(1, *task_data(1))
    memory.update(2, *task_data(2))  # the same labels 0 and 1
    assert sorted(zip(memory.task.tolist(), memory.y.tolist())) == sorted([(t, c) for t in (1, 2) for c in (0, 1)] * 2)


def test_forget_deletes_a_task_for_good_and_leaves_the_others_as_without_the_request():
    plain, forgetting = (ExemplarMemory(MemoryBudget(size=12), "herding") for _ in range(2))
    for t in (1, 2):
        plain.update(t, *task_data(t, (2 * t, 2 * t + 1)), flat_features)
        forgetting.update(t, *task_data(t, (2 * t, 2 * t + 1)), flat_features)
    forgetting.forget([1])
    assert 1 not in forgetting.task.tolist()
    for memory in (plain, forgetting):
        memory.update(3, *task_data(3, (6, 7)), flat_features)
    keep = plain.task != 1
    assert torch.equal(forgetting.x, plain.x[keep]) and torch.equal(forgetting.y, plain.y[keep])
    forgetting.reopen(3)  # an unlearned task does not come back when a task is redone
    forgetting.update(3, *task_data(3, (6, 7)), flat_features)
    assert 1 not in forgetting.task.tolist()


def test_forgetting_the_task_being_closed_keeps_none_of_it():
    memory = ExemplarMemory(MemoryBudget(size=6))
    memory.update(1, *task_data(1))
    memory.forget([2])
    memory.update(2, *task_data(2, (2, 3)))
    assert set(memory.task.tolist()) == {1}
    assert torch.bincount(memory.y).tolist() == [1, 1]  # 6 // 4 classes seen: the budget counts task 2's


def test_reopen_then_update_gives_the_same_memory():
    memory = ExemplarMemory(MemoryBudget(size=8), "herding")
    memory.update(1, *task_data(1), flat_features)
    memory.update(2, *task_data(2, (2, 3)), flat_features)
    before = memory.state_dict()
    memory.reopen(2)
    assert set(memory.task.tolist()) == {1}
    memory.update(2, *task_data(2, (2, 3)), flat_features)
    after = memory.state_dict()
    assert torch.equal(before["x"], after["x"]) and before["classes"] == after["classes"]


def test_state_round_trips_exactly_through_a_weights_only_file():
    memory = ExemplarMemory(MemoryBudget(size=8), "random", seed=5)
    memory.update(1, *task_data(1))
    memory.forget([7])
    buffer = io.BytesIO()
    torch.save(memory.state_dict(), buffer)
    buffer.seek(0)
    restored = ExemplarMemory(MemoryBudget(size=8), "random", seed=5)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    for name in ("x", "y", "task"):
        assert torch.equal(getattr(memory, name), getattr(restored, name))
    assert restored.classes == memory.classes and restored.forgotten == {7}
    memory.update(2, *task_data(2, (2, 3)))
    restored.update(2, *task_data(2, (2, 3)))
    assert torch.equal(memory.x, restored.x)


def test_nearest_mean_predicts_the_closest_class_and_never_a_class_without_exemplars():
    features = torch.tensor([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 3.0]])
    labels = torch.tensor([0, 0, 1, 1])
    means = class_means(features, labels, 3)
    assert means[2].isnan().all()
    logits = nearest_mean_logits(torch.tensor([[5.0, 0.5], [0.2, 1.0]]), means)
    assert logits.argmax(1).tolist() == [0, 1]
    assert torch.isinf(logits[:, 2]).all()
