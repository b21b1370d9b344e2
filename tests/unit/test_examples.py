"""The docs' worked example (examples/ewc.py) really runs, and its penalty does what the page says."""

import importlib.util
from pathlib import Path

import pytest
import torch

from retain.config import TrainConfig
from retain.training import run_sequence
from tests.conftest import tiny_benchmark, tiny_model

EXAMPLE = Path(__file__).parents[2] / "examples" / "ewc.py"


def load_example():
    spec = importlib.util.spec_from_file_location("ewc_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Terms:
    def __init__(self):
        self.epochs = []

    def on_task_start(self, task_id, epochs): ...

    def on_epoch(self, task_id, epoch, terms, seconds):
        self.epochs.append((task_id, terms))

    def on_evaluation(self, after_task, accuracies): ...


@pytest.mark.parametrize("scenario", ["til", "cil"])
def test_ewc_example_runs_a_full_sequence(scenario):
    ewc = load_example()
    torch.manual_seed(0)
    algorithm = ewc.EWC(tiny_model(scenario), ewc.EWCParams(ewc_lambda=50.0, fisher_batches=2))
    log = Terms()
    result = run_sequence(algorithm, tiny_benchmark(scenario), TrainConfig(epochs=2, batch_size=16),
                          torch.Generator().manual_seed(0), torch.device("cpu"), log)
    assert [len(row) for row in result.accuracy_matrix] == [1, 2]
    penalties = [terms["ewc_penalty"] for task, terms in log.epochs]
    assert penalties[:2] == [0.0, 0.0] and all(p > 0 for p in penalties[2:])  # only after task 1
    assert all((f >= 0).all() for f in algorithm.fisher.values()) and algorithm.fisher


def test_ewc_params_are_validated():
    ewc = load_example()
    with pytest.raises(ValueError, match="ewc_lambda"):
        ewc.EWCParams(ewc_lambda=-1)


def test_custom_dataset_example_runs():
    spec = importlib.util.spec_from_file_location("custom_dataset_example", EXAMPLE.with_name("custom_dataset.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert [len(row) for row in module.main()] == [1, 2, 3]
