"""Every registered algorithm × every scenario runs a short sequence and fills the accuracy matrix."""

import pytest
import torch

from retain.algorithms import ALGORITHMS, Joint
from retain.config import TrainConfig
from retain.training import run_sequence
from tests.conftest import tiny_benchmark, tiny_model


def run_tiny(name: str, scenario: str, construction: str = "split", epochs: int = 3, seed: int = 0, **params):
    bench = tiny_benchmark(scenario, num_tasks=2, construction=construction)
    torch.manual_seed(seed)
    algo_cls = ALGORITHMS[name]
    algo = algo_cls(tiny_model(scenario), algo_cls.Params(**params))
    cfg = TrainConfig(epochs=epochs, batch_size=8)
    return run_sequence(algo, bench, cfg, torch.Generator().manual_seed(seed), torch.device("cpu")), algo


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
@pytest.mark.parametrize("construction", ["split", "permuted"])
def test_fills_the_accuracy_matrix(name, scenario, construction):
    result, _ = run_tiny(name, scenario, construction)
    matrix = result.accuracy_matrix
    assert [len(row) for row in matrix] == [1, 2]
    assert all(0.0 <= v <= 1.0 for row in matrix for v in row)
    assert len(result.train_seconds_per_task) == 2
    # the task just trained is learnt (the synthetic data is separable)
    assert matrix[0][0] > 0.6 and matrix[1][1] > 0.6


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_same_seed_gives_identical_matrix(name, scenario):
    first, _ = run_tiny(name, scenario, seed=3)
    second, _ = run_tiny(name, scenario, seed=3)
    assert first.accuracy_matrix == second.accuracy_matrix


@pytest.mark.parametrize("teacher", ["per_task", "previous"])
@pytest.mark.parametrize("distance", ["cross_entropy", "kl", "mse"])
@pytest.mark.parametrize("train_old_heads", [False, True])
def test_every_lwf_option_runs(scenario, teacher, distance, train_old_heads):
    result, algo = run_tiny("lwf", scenario, epochs=1, teacher=teacher, distance=distance, train_old_heads=train_old_heads)
    assert [len(row) for row in result.accuracy_matrix] == [1, 2]
    assert sorted(algo.teachers) == ([1, 2] if teacher == "per_task" else [2])


def test_independent_never_forgets(scenario):
    result, algo = run_tiny("independent", scenario)
    assert result.accuracy_matrix[1][0] == result.accuracy_matrix[0][0]
    assert sorted(algo.models) == [1, 2]


def test_joint_trains_on_every_seen_task():
    bench = tiny_benchmark("til", num_tasks=2)
    algo = Joint(tiny_model("til"))
    data = algo.training_data(bench, bench.tasks[1])
    assert len(data.y) == sum(len(t.y_train) for t in bench.tasks)
    assert data.task_ids.tolist().count(1) == len(bench.tasks[0].y_train)


def test_finetuning_and_lwf_differ_only_after_the_first_task():
    ft, ft_algo = run_tiny("finetuning", "til", seed=1)
    lwf, lwf_algo = run_tiny("lwf", "til", seed=1, distillation_reg_factor=5.0)
    assert ft.accuracy_matrix[0] == lwf.accuracy_matrix[0]  # task 1 has no teacher yet
    ft_weights = ft_algo.model.backbone.state_dict()
    assert any(not torch.equal(ft_weights[k], v) for k, v in lwf_algo.model.backbone.state_dict().items())
