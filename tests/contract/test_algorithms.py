"""Every registered algorithm × every scenario (× every unlearning method) runs a short sequence and fills
the accuracy matrix."""

import pytest
import torch

from retain.algorithms import ALGORITHMS, Joint
from retain.config import TrainConfig
from retain.training.loop import LoopLogger, run_sequence
from retain.unlearning import UNLEARNING_METHODS
from tests.conftest import tiny_benchmark, tiny_model

METHODS = ("none", *sorted(UNLEARNING_METHODS))


class TermsLogger(LoopLogger):
    """Keeps the logged per-epoch terms, keyed by (task, epoch)."""

    def __init__(self) -> None:
        self.terms: dict[tuple[int, int], dict[str, float]] = {}

    def on_epoch(self, task_id, epoch, terms, seconds):
        self.terms[(task_id, epoch)] = terms


def run_tiny(
    name: str,
    scenario: str,
    construction: str = "split",
    epochs: int = 3,
    seed: int = 0,
    logger: LoopLogger | None = None,
    method: str = "none",
    requests: dict[int, list[int]] | None = None,
    **params,
):
    bench = tiny_benchmark(scenario, num_tasks=2, construction=construction)
    torch.manual_seed(seed)
    algo_cls = ALGORITHMS[name]
    algo = algo_cls(tiny_model(scenario), algo_cls.Params(**params))
    if method != "none":
        algo = UNLEARNING_METHODS[method](algo)
        algo.schedule(requests or {})
    cfg = TrainConfig(epochs=epochs, batch_size=8)
    return run_sequence(algo, bench, cfg, torch.Generator().manual_seed(seed), torch.device("cpu"), logger), algo


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
@pytest.mark.parametrize("construction", ["split", "permuted"])
@pytest.mark.parametrize("method", METHODS)
def test_fills_the_accuracy_matrix(name, scenario, construction, method):
    result, _ = run_tiny(name, scenario, construction, method=method)
    matrix = result.accuracy_matrix
    assert [len(row) for row in matrix] == [1, 2]
    assert all(0.0 <= v <= 1.0 for row in matrix for v in row)
    assert len(result.train_seconds_per_task) == 2
    # the task just trained is learnt (the synthetic data is separable; every head has two classes)
    assert matrix[0][0] > 0.6 and matrix[1][1] > 0.6


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
@pytest.mark.parametrize("seed", [0, 3])
def test_old_tasks_show_each_algorithms_signature(name, scenario, seed):
    """On permuted inputs Finetuning forgets task 1 in DIL and CIL (the shared outputs are overwritten),
    Independent and NCM (in TIL) never do, Joint keeps it, LwF keeps more of it than Finetuning in DIL."""
    matrix = run_tiny(name, scenario, "permuted", seed=seed)[0].accuracy_matrix
    base = name.removeprefix("amnesiac_")
    if base == "independent":
        assert matrix[1][0] == matrix[0][0]
    elif base == "joint":
        assert matrix[1][0] >= 0.9
    elif base == "ncm":  # nothing trains: a TIL task's means never change (DIL/CIL add means beside them)
        assert scenario != "til" or matrix[1][0] == matrix[0][0]
    elif scenario != "til":
        assert matrix[1][0] <= matrix[0][0] - 0.15  # forgotten (LwF without replay too, in CIL)
    if base == "lwf" and scenario == "dil":
        assert matrix[1][0] > run_tiny("finetuning", scenario, "permuted", seed=seed)[0].accuracy_matrix[1][0]


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
@pytest.mark.parametrize("method", sorted(UNLEARNING_METHODS))
def test_every_algorithm_can_be_unlearned_by_every_method(name, scenario, method):
    """Wrapped without a request, the algorithm trains exactly as alone; with one, task 1's update leaves
    the weights (of the model, or of what the algorithm keeps: Independent's model 1, LwF's teacher 1)."""
    alone, plain = run_tiny(name, scenario, "permuted")
    wrapped, _ = run_tiny(name, scenario, "permuted", method=method)
    assert wrapped.accuracy_matrix == alone.accuracy_matrix
    unlearned, algo = run_tiny(name, scenario, "permuted", method=method, requests={2: [1]})
    assert algo.unlearned == [1]
    assert unlearned.accuracy_matrix[0] == alone.accuracy_matrix[0]
    before, after = weights(plain), weights(algo.inner)
    changed = before.keys() != after.keys() or any(not torch.equal(before[k], after[k]) for k in before)
    assert changed and any(k.startswith("model.") for k in after)


def weights(algo) -> dict[str, torch.Tensor]:
    """Every tensor of the model and of the algorithm's state, by a path name."""
    found = {f"model.{k}": v for k, v in algo.model.state_dict().items()}

    def walk(prefix: str, value) -> None:
        if isinstance(value, torch.Tensor):
            found[prefix] = value
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}", v)

    walk("state", algo.state_dict())
    return found


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_same_seed_gives_identical_matrix(name, scenario):
    first, _ = run_tiny(name, scenario, seed=3)
    second, _ = run_tiny(name, scenario, seed=3)
    assert first.accuracy_matrix == second.accuracy_matrix


@pytest.mark.parametrize("teacher", ["per_task", "previous"])
@pytest.mark.parametrize("distance", ["cross_entropy", "kl", "mse"])
@pytest.mark.parametrize("train_old_heads", [False, True])
def test_every_lwf_option_distils_from_task_2_on(scenario, teacher, distance, train_old_heads):
    logger = TermsLogger()
    result, algo = run_tiny(
        "lwf", scenario, epochs=1, logger=logger, teacher=teacher, distance=distance, train_old_heads=train_old_heads
    )
    assert [len(row) for row in result.accuracy_matrix] == [1, 2]
    assert sorted(algo.teachers) == ([1, 2] if teacher == "per_task" else [2])
    assert logger.terms[(1, 1)]["distillation_reg"] == 0.0  # no teacher yet
    assert logger.terms[(2, 1)]["distillation_reg"] > 0.0  # two-class heads: KL and MSE are not 0 by construction
    second = logger.terms[(2, 1)]
    assert second["loss"] == pytest.approx(second["loss_cls"] + second["distillation_reg"], rel=1e-5)


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
