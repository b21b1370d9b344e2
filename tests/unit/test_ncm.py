"""NCM (SimpleCIL): class means of the features, the nearest mean at test time, nothing trained."""

import copy

import pytest
import torch
import torch.nn.functional as F

from retain.algorithms import NCM, NCMParams
from retain.algorithms.class_means import ClassMeans
from retain.config import TrainConfig
from retain.training.data import normalise
from retain.training.loop import run_sequence
from tests.conftest import tiny_benchmark, tiny_model

CPU = torch.device("cpu")


def test_class_means_are_the_per_class_averages_in_any_batching():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, generator=g)
    y = torch.randint(0, 4, (50,), generator=g)
    whole, parts = ClassMeans(), ClassMeans()
    whole.add(x, y)
    for xs, ys in zip(x.split(7), y.split(7)):
        parts.add(xs, ys)
    expected = torch.stack([x[y == c].mean(0) for c in range(4)]).double()
    assert torch.allclose(whole.means(), expected) and torch.allclose(parts.means(), expected)
    first, second = ClassMeans(), ClassMeans()
    first.add(x[:20], y[:20])
    second.add(x[20:], y[20:])
    assert torch.allclose(ClassMeans.merged([first, second]).means(), expected)


def test_scores_prefer_the_nearest_mean_and_never_an_empty_class():
    means = ClassMeans()
    means.add(torch.tensor([[1.0, 0.0], [0.0, 2.0], [9.0, 9.0]]), torch.tensor([0, 1, 3]))  # class 2: none
    q = torch.tensor([[2.0, 0.1], [0.1, 0.5]])
    cos = means.scores(q, "cosine")
    assert torch.allclose(
        cos[:, :2], F.normalize(q, dim=1) @ F.normalize(torch.eye(2) * torch.tensor([1, 2.0]), dim=1).T
    )
    assert torch.isinf(cos[:, 2]).all() and cos.argmax(1).tolist() == [0, 1]
    euc = means.scores(q, "euclidean")
    assert torch.allclose(euc[0, 3], -((q[0] - 9).square().sum()))
    assert torch.equal(means.emptied().scores(q), torch.zeros(2, 4))


def _run(scenario, params=None, num_tasks=2):
    bench = tiny_benchmark(scenario, num_tasks=num_tasks)
    torch.manual_seed(0)
    algo = NCM(tiny_model(scenario), params)
    initial = copy.deepcopy(algo.model.state_dict())
    result = run_sequence(algo, bench, TrainConfig(epochs=3, batch_size=8), torch.Generator().manual_seed(0), CPU)
    return bench, algo, result, initial


def _oracle(algo, bench, scenario, metric):
    """The accuracy matrix by hand: means of the normalised training features, nearest mean of each test image."""
    model = algo.model.eval()

    def feats(x):
        return model.backbone(
            normalise(x, torch.tensor(bench.mean).view(1, -1, 1, 1), torch.tensor(bench.std).view(1, -1, 1, 1))
        )

    rows = []
    for seen in range(1, bench.num_tasks + 1):
        row = []
        for task in bench.tasks[:seen]:
            pool = [task] if scenario == "til" else bench.tasks[:seen]
            fx = torch.cat([feats(t.x_train) for t in pool])
            fy = torch.cat([t.y_train for t in pool])
            classes = sorted(set(fy.tolist()))
            means = torch.stack([fx[fy == c].mean(0) for c in classes])
            q = feats(task.x_test)
            if metric == "cosine":
                scores = F.normalize(q, dim=1) @ F.normalize(means, dim=1).T
            else:
                scores = -torch.cdist(q, means).square()
            pred = torch.tensor(classes)[scores.argmax(1)]
            row.append((pred == task.y_test).float().mean().item())
        rows.append(row)
    return rows


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_the_accuracy_matrix_is_the_nearest_mean_oracles(scenario, metric):
    bench, algo, result, _ = _run(scenario, NCMParams(metric=metric), num_tasks=2)
    expected = _oracle(algo, bench, scenario, metric)
    for got, want in zip(result.accuracy_matrix, expected):
        assert got == pytest.approx(want, abs=1e-6)  # the oracle averages in float32


def test_nothing_trains(scenario):
    _, algo, result, initial = _run(scenario)  # training_step raises if the loop called it
    after = algo.model.state_dict()
    assert all(torch.equal(initial[k], after[k]) for k in initial if not k.startswith("heads."))
    assert result.best_epoch_per_task == [0, 0]


def test_forgetting_a_task_is_exact_and_the_state_round_trips():
    bench, algo, _, _ = _run("cil")
    x = normalise(
        bench.tasks[1].x_test, torch.tensor(bench.mean).view(1, -1, 1, 1), torch.tensor(bench.std).view(1, -1, 1, 1)
    )
    only_second = NCM(algo.model)
    only_second.means = {2: algo.means[2]}
    restored = NCM(algo.model)
    restored.load_state_dict(algo.state_dict())
    assert torch.equal(restored.eval_logits(x, 2, 2), algo.eval_logits(x, 2, 2))
    algo.forget([1])
    logits = algo.eval_logits(x, 2, 2)
    assert torch.isinf(logits[:, :2]).all()  # task 1's classes are never predicted again
    assert torch.equal(logits, only_second.eval_logits(x, 2, 2))
