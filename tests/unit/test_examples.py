"""The docs' worked example (examples/ewc.py) really runs, and its penalty does what the page says."""

import importlib.util
from pathlib import Path

import pytest
import torch

from retain.config import TrainConfig
from retain.training.loop import run_sequence
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
    result = run_sequence(
        algorithm,
        tiny_benchmark(scenario),
        TrainConfig(epochs=2, batch_size=16),
        torch.Generator().manual_seed(0),
        torch.device("cpu"),
        log,
    )
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


def test_amnesiac_custom_example_unlearns_during_and_after_a_run():
    spec = importlib.util.spec_from_file_location("amnesiac_example", EXAMPLE.with_name("amnesiac_custom.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    in_run = module.main({3: [2]})
    assert sorted(in_run.inner.anchors) == [1, 3] and in_run.unlearned == [2]
    later = module.main()
    assert sorted(later.inner.anchors) == [1, 2, 3]
    later.unlearn_after(module.three_tasks().task(3), [2])
    # unlearning the finished run equals the in-run request: same weights, same anchors
    for name, value in in_run.model.state_dict().items():
        assert torch.equal(later.model.state_dict()[name], value), name
    assert sorted(later.inner.anchors) == [1, 3]
    for task_id, anchor in in_run.inner.anchors.items():
        assert all(torch.equal(later.inner.anchors[task_id][n], a) for n, a in anchor.items())
    last = dict(later.model.backbone.named_parameters())  # the last anchor is the unlearned model
    assert all(torch.equal(last[n], a) for n, a in later.inner.anchors[3].items())
