"""The docs' worked examples (examples/*.py) really run; EWC (examples/ewc.py, docs/custom-algorithm.md)
computes eq. 3, resumes bit for bit, and unlearns through the Amnesiac wrapper."""

import importlib.util
import io
import os
import re
import signal
from pathlib import Path

import pytest
import torch
from examples import ewc

from retain.algorithms import ALGORITHMS, Batch, Finetuning
from retain.config import TrainConfig
from retain.errors import ConfigError, RunInterrupted
from retain.models import ContinualModel
from retain.scenarios.setting import make_heads
from retain.training.loop import LoopLogger, LoopSession, ResumePoint, SequenceResult, run_sequence
from retain.unlearning import Amnesiac
from tests.conftest import tiny_benchmark, tiny_model

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
CPU = torch.device("cpu")
CFG = TrainConfig(epochs=2, batch_size=16)


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"{name}_example", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Terms(LoopLogger):
    """The logged terms of every epoch, in order."""

    def __init__(self):
        self.epochs = []

    def on_epoch(self, task_id, epoch, terms, seconds):
        self.epochs.append((task_id, epoch, terms))


class AfterTask(LoopSession):
    """Calls `hook(task, algorithm, result, generator)` after every task."""

    def __init__(self, hook):
        self.hook = hook

    def after_task(self, task, algorithm, result, generator):
        self.hook(task, algorithm, result, generator)


def make_ewc(scenario, seed=0, **params):
    torch.manual_seed(seed)
    return ewc.EWC(tiny_model(scenario), ewc.EWCParams(**{"ewc_lambda": 50.0, **params}))


def train(algorithm, scenario, num_tasks=3, logger=None, session=None, resume=None, generator=None):
    generator = generator or torch.Generator().manual_seed(0)
    bench = tiny_benchmark(scenario, num_tasks=num_tasks)
    return run_sequence(algorithm, bench, CFG, generator, CPU, logger, session, resume)


def params(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def through_file(state):
    """`state` saved with `torch.save` and read back as checkpoints are: `weights_only=True`."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_ewc_runs_a_full_sequence(scenario):
    algorithm, log = make_ewc(scenario), Terms()
    result = train(algorithm, scenario, logger=log)
    assert [len(row) for row in result.accuracy_matrix] == [1, 2, 3]
    penalties = {(task, epoch): terms["ewc_penalty"] for task, epoch, terms in log.epochs}
    assert penalties[(1, 1)] == penalties[(1, 2)] == 0.0  # no finished task yet
    assert all(p > 0 for (task, _), p in penalties.items() if task > 1)
    assert sorted(algorithm.fisher) == [1, 2, 3] and equal(algorithm.anchor, params(algorithm.model))
    assert all((f >= 0).all() for fisher in algorithm.fisher.values() for f in fisher.values())
    if scenario == "til":  # task k's Fisher covers the backbone and head k, the only head it uses
        heads = {k: {n for n in fisher if n.startswith("heads.")} for k, fisher in algorithm.fisher.items()}
        assert heads == {k: {f"heads.heads.{k - 1}.weight", f"heads.heads.{k - 1}.bias"} for k in (1, 2, 3)}
    assert set(algorithm.memory_bytes()) == {"fisher", "anchor"} and algorithm.memory_bytes()["anchor"] > 0


def test_ewc_penalty_is_eq_3_computed_by_hand():
    algorithm = ewc.EWC(tiny_model("til"), ewc.EWCParams(ewc_lambda=0.5))
    model = algorithm.model
    model.heads.setup_task(1, 2)
    bias = model.heads.heads[0].bias
    with torch.no_grad():
        bias.copy_(torch.tensor([0.5, -1.0]))
    assert algorithm.penalty().item() == 0.0  # no task finished: no term
    algorithm.anchor = params(model)
    algorithm.anchor["heads.heads.0.bias"] = torch.tensor([-0.5, 1.0])  # θ − θ* = (1, −2)
    name = "heads.heads.0.bias"
    algorithm.fisher = {1: {name: torch.tensor([3.0, 0.5])}, 2: {name: torch.tensor([1.0, 1.0])}}
    # Σ_k Σ_i F_k,i (θ_i − θ*_i)² = 3·1 + 0.5·4 + 1·1 + 1·4 = 10; λ/2 · 10 = 2.5
    assert algorithm.penalty().item() == 10.0
    x, y = torch.zeros(2, 1, 4, 4), torch.tensor([0, 1])
    terms = algorithm.training_step(Batch(x, y), tiny_benchmark("til").task(1))
    assert terms["ewc_penalty"].item() == 2.5 and terms["loss"].item() == terms["loss_cls"].item() + 2.5
    model.zero_grad()
    terms["ewc_penalty"].backward()  # ∂/∂θ = λ · Σ_k F_k (θ − θ*) = 0.5 · (4·1, 1.5·(−2))
    assert bias.grad.tolist() == [2.0, -1.5] and model.heads.heads[0].weight.grad is None


class NormedMLP(torch.nn.Sequential):
    """A backbone with BatchNorm: its statistics depend on the mode (a batch of one fails in training mode)."""

    output_dim = 8

    def __init__(self):
        super().__init__(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU())


@pytest.mark.parametrize("scenario,backbone", [("til", "mlp"), ("dil", "mlp"), ("cil", "mlp"), ("til", "batchnorm")])
def test_ewc_fisher_is_the_mean_squared_per_sample_gradient(scenario, backbone):
    """An oracle with torch.func: per-sample gradients of −log p(y | x, θ) over the whole training set of
    task 2 (`fisher_samples` above its size), squared and averaged, in evaluation mode; the estimate leaves
    the model's mode and BatchNorm statistics as they were."""
    torch.manual_seed(0)
    normed = ContinualModel(NormedMLP(), make_heads(scenario, NormedMLP.output_dim))
    model = normed if backbone == "batchnorm" else tiny_model(scenario)
    algorithm = ewc.EWC(model, ewc.EWCParams(ewc_lambda=50.0, fisher_samples=10_000))
    train(algorithm, scenario, num_tasks=2)
    bench = tiny_benchmark(scenario)
    task, mean, std = bench.task(2), torch.tensor(bench.mean), torch.tensor(bench.std)
    model.train()
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    assert equal(algorithm.estimate_fisher(task), algorithm.fisher[2])  # the same whenever it is taken
    assert model.training and equal(dict(model.named_buffers()), buffers)
    x = (task.x_train.float() / 255 - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    weights = {n: p.detach() for n, p in model.named_parameters()}

    def nll(weights, x, y):
        logits = torch.func.functional_call(model, weights, (x[None], task.id))
        return torch.nn.functional.cross_entropy(logits, y[None])

    model.eval()
    grads = torch.func.vmap(torch.func.grad(nll), in_dims=(None, 0, 0))(weights, x, task.y_train)
    expected = {n: (g**2).mean(0) for n, g in grads.items() if g.abs().sum() > 0}
    fisher = algorithm.fisher[2]
    assert fisher.keys() == expected.keys()
    for name, value in expected.items():
        torch.testing.assert_close(fisher[name], value, rtol=1e-5, atol=1e-9)


def test_ewc_with_lambda_zero_trains_exactly_as_finetuning(scenario):
    """The Fisher estimate draws from no shared random stream and leaves weights, gradients and mode alone."""
    torch.manual_seed(0)
    finetuning = Finetuning(tiny_model(scenario))
    expected = train(finetuning, scenario).accuracy_matrix
    algorithm = make_ewc(scenario, ewc_lambda=0.0)
    assert train(algorithm, scenario).accuracy_matrix == expected
    assert equal(params(algorithm.model), params(finetuning.model)) and sorted(algorithm.fisher) == [1, 2, 3]


def test_ewc_resumed_between_tasks_continues_bit_for_bit(scenario):
    """Cut after task 2 (two Fishers): model and `state_dict()` through `torch.save` / `torch.load(weights_only=
    True)` into a fresh EWC; task 3 then logs the same terms and ends with the same weights and state."""
    saved = {}

    def keep(task, algorithm, result, generator):
        if task.id == 2:
            saved.update(
                model=through_file(algorithm.model.state_dict()),
                algorithm=through_file(algorithm.state_dict()),
                penalty=algorithm.penalty(),
                rng=(torch.get_rng_state(), generator.get_state()),
                matrix=[list(row) for row in result.accuracy_matrix],
            )

    whole, whole_log = make_ewc(scenario), Terms()
    whole_result = train(whole, scenario, logger=whole_log, session=AfterTask(keep))
    resumed, log = make_ewc(scenario, seed=1), Terms()  # other initial weights: all must come from the file
    for task in tiny_benchmark(scenario, num_tasks=3).tasks[:2]:
        resumed.model.heads.setup_task(task.id, task.num_classes)
    resumed.model.load_state_dict(saved["model"])
    resumed.load_state_dict(saved["algorithm"])
    assert resumed.penalty().item() == saved["penalty"].item()
    torch.set_rng_state(saved["rng"][0])
    generator = torch.Generator()
    generator.set_state(saved["rng"][1])
    resume = ResumePoint(SequenceResult(saved["matrix"], [0.0, 0.0]))
    result = train(resumed, scenario, logger=log, resume=resume, generator=generator)
    assert result.accuracy_matrix == whole_result.accuracy_matrix
    assert log.epochs == [e for e in whole_log.epochs if e[0] == 3]  # every logged loss, exactly
    assert equal(params(resumed.model), params(whole.model)) and equal(resumed.anchor, whole.anchor)
    assert resumed.fisher.keys() == whole.fisher.keys()
    assert all(equal(resumed.fisher[k], whole.fisher[k]) for k in whole.fisher)


def test_amnesiac_ewc_forgets_the_unlearned_task(scenario):
    """After task 2, unlearn task 1: its Fisher goes, and the anchor is the unlearned model."""
    seen = {}

    def look(task, algorithm, result, generator):
        seen[task.id] = (sorted(algorithm.inner.fisher), equal(algorithm.inner.anchor, params(algorithm.model)))

    algorithm = Amnesiac(make_ewc(scenario))
    algorithm.schedule({2: [1]})
    result = train(algorithm, scenario, session=AfterTask(look))
    assert [len(row) for row in result.accuracy_matrix] == [1, 2, 3] and algorithm.unlearned == [1]
    assert seen == {1: ([1], True), 2: ([2], True), 3: ([2, 3], True)}
    assert algorithm.inner.forgotten == [1]


def test_a_task_unlearned_right_after_it_is_trained_leaves_no_fisher():
    algorithm = Amnesiac(make_ewc("dil"))
    algorithm.schedule({2: [2]})
    train(algorithm, "dil")
    assert sorted(algorithm.inner.fisher) == [1, 3]


def test_ewc_forget_and_reopen_task_drop_what_on_task_end_stored():
    algorithm = make_ewc("til")
    bench = tiny_benchmark("til", num_tasks=3)
    train(algorithm, "til")
    fisher, anchor = {k: dict(f) for k, f in algorithm.fisher.items()}, dict(algorithm.anchor)
    algorithm.reopen_task(3)
    assert sorted(algorithm.fisher) == [1, 2] and algorithm.anchor == {}
    with torch.no_grad():  # e.g. called from evaluation code: the Fisher needs gradients all the same
        algorithm.on_task_end(bench.task(3))  # taken again: the same Fisher and anchor
    assert equal(algorithm.fisher[3], fisher[3]) and equal(algorithm.anchor, anchor)
    algorithm.forget([1])
    assert sorted(algorithm.fisher) == [2, 3] and algorithm.anchor == {} and algorithm.penalty().item() == 0.0


def load_finished(finished):
    """A fresh `Amnesiac(EWC)` (other initial weights) loaded from a finished TIL run of 3 tasks, as
    `retain unlearn` loads `model.pt`: heads re-created, weights and state read with weights_only."""
    loaded = Amnesiac(make_ewc("til", seed=1))
    bench = tiny_benchmark("til", num_tasks=3)
    for task in bench.tasks:
        loaded.model.heads.setup_task(task.id, task.num_classes)
    loaded.model.load_state_dict(through_file(finished.model.state_dict()))
    loaded.load_state_dict(through_file(finished.state_dict()))
    return loaded, bench


def test_a_loaded_run_keeps_its_unlearned_tasks():
    """A run that unlearnt task 3 right after it, loaded and unlearning task 1 (`retain unlearn`): task 3's
    end is taken again, and still without a Fisher of task 3."""
    finished = Amnesiac(make_ewc("til"))
    finished.schedule({3: [3]})
    train(finished, "til")
    loaded, bench = load_finished(finished)
    loaded.unlearn_after(bench.task(3), [1])
    assert sorted(loaded.inner.fisher) == [2] and loaded.inner.forgotten == [3, 1]


def test_unlearning_a_loaded_run_equals_the_in_run_request():
    """`retain unlearn` loads the state (weights_only) and calls `unlearn_after`: no data hook runs, so
    `on_task_end` works from the saved normalisation; the result is the in-run request's, bit for bit."""
    in_run = Amnesiac(make_ewc("til"))
    in_run.schedule({3: [2]})
    train(in_run, "til")
    finished = Amnesiac(make_ewc("til"))
    train(finished, "til")
    loaded, bench = load_finished(finished)
    loaded.unlearn_after(bench.task(3), [2])
    assert equal(params(loaded.model), params(in_run.model))
    assert sorted(loaded.inner.fisher) == sorted(in_run.inner.fisher) == [1, 3]
    assert all(equal(loaded.inner.fisher[k], in_run.inner.fisher[k]) for k in (1, 3))
    assert equal(loaded.inner.anchor, in_run.inner.anchor) and equal(loaded.inner.anchor, params(loaded.model))


def sigterm_at(point):
    def hook(*at):
        if at == point:
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def test_registered_ewc_runs_from_a_config_resumes_and_unlearns_a_saved_run(tmp_path, monkeypatch):
    """The docs' checklist: once in the registry, `algorithm: {name: ewc, ewc_lambda: 100}` runs with run
    folders (checkpoints read with weights_only), resumes mid-task exactly, and `retain unlearn` works."""
    from retain.experiment.run import run
    from retain.experiment.unlearn import unlearn_run

    monkeypatch.setitem(ALGORITHMS, "ewc", ewc.EWC)
    cfg = {
        "scenario": "til",
        "algorithm": {"name": "ewc", "ewc_lambda": 100},
        "benchmark": {"num_tasks": 3, "classes_per_task": 3},
        "backbone": {"hidden": [8]},
        "train": {"epochs": 2, "batch_size": 128, "device": "cpu"},
        "unlearning": {"method": "amnesiac"},
    }
    whole = run(cfg, out=tmp_path / "whole", progress=False)
    with pytest.raises(RunInterrupted):
        run(cfg, out=tmp_path / "cut", progress=False, step_hook=sigterm_at((2, 2, 1)))
    resumed = run(None, resume=tmp_path / "cut", progress=False)
    assert resumed.summary["accuracy_matrix"] == whole.summary["accuracy_matrix"]
    assert equal(params(resumed.algorithm.model), params(whole.algorithm.model))
    unlearned = unlearn_run(tmp_path / "whole", [2], out=tmp_path / "unlearned", evaluate=False)
    request = {"method": "amnesiac", "requests": {3: [2]}, "evaluate": False}
    in_run = run({**cfg, "unlearning": request}, out=tmp_path / "in-run", progress=False)
    assert unlearned.summary["accuracy_matrix"] == in_run.summary["accuracy_matrix"]
    assert equal(params(unlearned.algorithm.model), params(in_run.algorithm.model))
    assert sorted(unlearned.algorithm.inner.fisher) == [1, 3]


def test_the_python_on_the_docs_page_runs(capsys):
    """Every ```python block of docs/custom-algorithm.md but the included file, in order, in one namespace."""
    page = (ROOT / "docs" / "custom-algorithm.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "--8<--" not in b]
    assert len(blocks) == 2
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/custom-algorithm.md", "exec"), namespace)
    assert len(namespace["result"].accuracy_matrix) == 5
    algorithm = namespace["algorithm"]
    assert algorithm.unlearned == [2] and sorted(algorithm.inner.fisher) == [1, 3, 4, 5]
    assert capsys.readouterr().out.splitlines()[-1] == "[2] [1, 3, 4, 5]"  # the comment on the page


@pytest.mark.parametrize(
    "change", [{"ewc_lambda": -1}, {"ewc_lambda": float("nan")}, {"ewc_lambda": float("inf")}, {"fisher_samples": 0}]
)
def test_ewc_params_are_validated(change):
    with pytest.raises(ConfigError, match=next(iter(change))):
        ewc.EWCParams(**change)


def test_custom_dataset_example_runs():
    assert [len(row) for row in load_example("custom_dataset").main()] == [1, 2, 3]


def test_amnesiac_custom_example_unlearns_during_and_after_a_run():
    module = load_example("amnesiac_custom")
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
