"""`unlearning.json`'s headline numbers against hand-computed values, and the models DD compares."""

import pytest
import torch

from retain.algorithms import Independent
from retain.config import TrainConfig
from retain.experiment.build import config_from_dict
from retain.training.loop import run_sequence
from retain.unlearning.evaluate import unlearning_report
from tests.conftest import tiny_benchmark, tiny_model

FINAL = {1: 0.9, 2: 0.3, 3: 0.8}
ORIGINAL = {1: 0.95, 2: 0.9, 3: 0.6}
RETRAIN = {1: 0.93, 2: None, 3: 0.7}
DD = {1: 1.0, 2: 5.0, 3: 3.0}


def report(**unlearning):
    cfg = config_from_dict(
        {
            "algorithm": {"name": "amnesiac_finetuning"},
            "unlearning": {"requests": {3: [2]}, "evaluate": False, **unlearning},
        }
    )
    return unlearning_report(cfg, tiny_benchmark("til", num_tasks=3), FINAL, ORIGINAL, RETRAIN, DD, {})


def test_default_scopes_ag_over_remaining_dd_over_unlearned():
    r = report()
    assert r["unlearned_tasks"] == [2] and r["remaining_tasks"] == [1, 3]
    assert r["ag"] == pytest.approx(((0.9 - 0.95) + (0.8 - 0.6)) / 2)
    assert r["dd"] == pytest.approx(5.0)  # task 2's distance only


@pytest.mark.parametrize(
    "scope,ag,dd",
    [
        ("all", ((0.9 - 0.95) + (0.3 - 0.9) + (0.8 - 0.6)) / 3, 3.0),
        ("remaining", ((0.9 - 0.95) + (0.8 - 0.6)) / 2, 2.0),
        ("unlearned", 0.3 - 0.9, 5.0),
    ],
)
def test_each_scope_averages_its_own_tasks(scope, ag, dd):
    r = report(ag_scope=scope, dd_scope=scope)
    assert r["ag"] == pytest.approx(ag) and r["dd"] == pytest.approx(dd)


def test_accuracies_on_unlearned_and_remaining_tasks():
    r = report()
    assert r["unlearned_model_accuracy_on_unlearned"] == pytest.approx(0.3)
    assert r["unlearned_model_accuracy_on_remaining"] == pytest.approx(0.85)
    assert r["original_reference_accuracy_on_unlearned"] == pytest.approx(0.9)
    assert r["retrain_reference_accuracy_on_unlearned"] is None  # the retrain reference never learnt task 2
    assert r["retrain_reference_accuracy_on_remaining"] == pytest.approx(0.815)


def test_independent_compares_each_task_through_its_own_model():
    """DD feeds `eval_features`: for Independent, task j's features come from model j, not the live model."""
    bench = tiny_benchmark("til", num_tasks=2)
    torch.manual_seed(0)
    algo = Independent(tiny_model("til"))
    run_sequence(
        algo, bench, TrainConfig(epochs=1, batch_size=8), torch.Generator().manual_seed(0), torch.device("cpu")
    )
    x = bench.tasks[0].x_test.float() / 255
    first = algo.models[1].backbone(x, 1) if algo.model.task_conditioned else algo.models[1].backbone(x)
    assert torch.equal(algo.eval_features(x, 1), first)
    assert not torch.allclose(algo.eval_features(x, 1), algo.eval_features(x, 2))


class ViewFeatures:
    """A stand-in algorithm whose backbone output under task view v is `scale · v · x` (flattened)."""

    def __init__(self, scale: float, conditioned: bool) -> None:
        self.model = torch.nn.Linear(1, 1)  # only .eval()/.train()/.training are used
        self.model.task_conditioned = conditioned
        self.scale = scale

    def eval_features(self, x: torch.Tensor, view: int) -> torch.Tensor:
        return self.scale * view * x.flatten(1)


@pytest.mark.parametrize("conditioned", [False, True])
def test_dd_compares_each_task_under_the_reference_s_own_ids(conditioned):
    """Task 2 is unlearned: the retrain reference knows tasks 1, 3 as its 1, 2, and feeds task 2 to its last
    view. A task-conditioned backbone is compared under every task's view, the distances averaged."""
    from retain.metrics.unlearning import euclidean
    from retain.training.data import test_batches
    from retain.unlearning.evaluate import distribution_distances

    bench = tiny_benchmark("til", num_tasks=3)
    ids = {1: 1, 3: 2}
    tests = {t.id: test_batches(t, bench, torch.device("cpu")) for t in bench.tasks}
    got = distribution_distances(
        ViewFeatures(1.0, conditioned), ViewFeatures(2.0, conditioned), tests, ids, euclidean, 1000
    )
    mean = torch.tensor(bench.mean).view(1, -1, 1, 1)
    std = torch.tensor(bench.std).view(1, -1, 1, 1)
    for task in bench.tasks:
        x = ((task.x_test.float() / 255 - mean) / std).flatten(1)
        views = [1, 2, 3] if conditioned else [task.id]
        by_view = [euclidean(v * x, 2.0 * ids.get(v, 2) * x) for v in views]
        assert got[task.id] == pytest.approx(sum(by_view) / len(by_view), rel=1e-5), task.id
