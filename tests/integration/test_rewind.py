"""Exact unlearning by rewind: bit for bit the retrain reference trained from scratch, and its bad input."""

import copy
import functools
import json

import pytest
import torch

from retain.cli import main
from retain.errors import CheckpointError, ConfigError
from retain.experiment.result import load_run
from retain.experiment.run import run

BASE = {
    "seed": 0,
    "benchmark": {"name": "split_digits"},
    "backbone": {"name": "mlp", "hidden": [32]},
    "train": {"epochs": 1, "batch_size": 64, "device": "cpu"},
    "algorithm": {"name": "lwf"},
}


def _config(scenario, algorithm="lwf", **unlearning):
    cfg = copy.deepcopy(BASE)
    cfg.update(scenario=scenario, algorithm={"name": algorithm})
    if unlearning:
        cfg["unlearning"] = {"method": "rewind", "evaluate": False, **unlearning}
    return cfg


def _retrain(scenario, without, algorithm="lwf"):
    """The retrain reference from scratch (trained once per case: several tests compare with it)."""
    return _retrained(scenario, tuple(without), algorithm)


@functools.cache
def _retrained(scenario, without, algorithm):
    cfg = _config(scenario, algorithm)
    cfg["benchmark"]["without"] = list(without)
    return run(cfg, write=False, progress=False)


def assert_same_model(a, b):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def assert_rows_match(rewound, reference, unlearned, first_row):
    """From row `first_row` on, every retained task's accuracy is the reference's, row for row."""
    kept = [t for t in range(1, 6) if t not in unlearned]
    rows, ref_rows = rewound.summary["accuracy_matrix"], reference.summary["accuracy_matrix"]
    for s in range(first_row, 6):
        if s in unlearned:
            continue
        retained = [t for t in kept if t <= s]
        assert [rows[s - 1][t - 1] for t in retained] == ref_rows[len(retained) - 1], s


def test_rewind_equals_the_retrain_reference_bit_for_bit(tmp_path, scenario):
    rewound = run(_config(scenario, requests={4: [2]}), out=tmp_path / "rw", progress=False)
    reference = _retrain(scenario, [2])
    assert_same_model(rewound.algorithm, reference.algorithm)
    assert_rows_match(rewound, reference, [2], 4)
    # rows before the request are the run's own (tasks 1..3 with task 2 learnt), not the reference's
    assert len(rewound.summary["accuracy_matrix"][2]) == 3
    assert (tmp_path / "rw" / "rewind" / "without-2" / "checkpoints" / "task_04.pt").is_file()


@pytest.mark.parametrize("algorithm", ["finetuning", "joint", "independent"])
def test_rewind_is_exact_for_any_algorithm(tmp_path, algorithm):
    cfg = _config("til", algorithm, requests={4: [2]})
    cfg["unlearning"].update(evaluate=algorithm == "independent", membership=False)  # DD in its own numbering
    rewound = run(cfg, out=tmp_path / "rw", progress=False)
    reference = _retrain("til", [2], algorithm)
    assert_same_model(rewound.algorithm, reference.algorithm)
    assert_rows_match(rewound, reference, [2], 4)
    if rewound.unlearning is not None:
        assert rewound.unlearning["dd"] == 0.0


def test_several_requests_rewind_again_from_the_rewound_checkpoints(tmp_path):
    """{3: [3]} (nothing to retrain: the checkpoint after task 2 is the answer) then {5: [1]} (from the
    seeded initial model): the final model is the reference without tasks 1 and 3."""
    rewound = run(_config("dil", requests={3: [3], 5: [1]}), out=tmp_path / "rw", progress=False)
    assert_same_model(rewound.algorithm, _retrain("dil", [1, 3]).algorithm)
    after_3 = _retrain("dil", [3])
    assert rewound.summary["accuracy_matrix"][3][:2] == after_3.summary["accuracy_matrix"][2][:2]
    costs = json.loads((tmp_path / "rw" / "summary.json").read_text())["unlearning_events"]
    assert costs == {"3": [3], "5": [1]}


@pytest.mark.parametrize("scenario", ["til", "cil"])
def test_a_later_request_for_an_earlier_task_rewinds_from_the_runs_own_checkpoint(tmp_path, scenario):
    """{4: [3]} rewinds to the run's checkpoint after task 2; {5: [2]} then needs the state after task 1,
    which only the run's folder holds (the first world trained from task 3 on)."""
    rewound = run(_config(scenario, requests={4: [3], 5: [2]}), out=tmp_path / "rw", progress=False)
    reference = _retrain(scenario, [2, 3])
    assert_same_model(rewound.algorithm, reference.algorithm)
    assert_rows_match(rewound, reference, [2, 3], 5)


def test_rewind_reports_its_cost(tmp_path):
    cfg = _config("til", requests={4: [2]})
    cfg["unlearning"]["evaluate"] = True
    rewound = run(cfg, out=tmp_path / "rw", progress=False)
    cost = json.loads((tmp_path / "rw" / "unlearning.json").read_text())["cost"]
    (request,) = cost["per_request"]
    assert request["restored_after_task"] == 1 and request["retrained_tasks"] == [3, 4]
    assert 0 < cost["seconds"] and cost["bytes_kept"] > 0
    assert rewound.unlearning is not None and rewound.unlearning["dd"] == 0.0  # the retrain reference itself
    attacks = rewound.unlearning["membership"]
    assert attacks["population"]["unlearned_model"] == attacks["population"]["retrain_reference"]
    assert attacks["likelihood_ratio"]["unlearned_model"]["in_fraction"] == 0.0


def test_rewind_without_a_run_folder_is_refused_before_training():
    with pytest.raises(ConfigError, match=r"unlearning\.method = 'rewind'.*task checkpoints"):
        run(_config("til", requests={4: [2]}), write=False, progress=False)


def test_rewind_with_keep_last_is_refused_before_training(tmp_path):
    cfg = _config("til", requests={4: [2]})
    cfg["checkpoint"] = {"keep": "last"}
    with pytest.raises(ConfigError, match=r"checkpoint\.keep = 'last'"):
        run(cfg, out=tmp_path / "rw", progress=False)
    assert not (tmp_path / "rw").exists()


def test_rewind_of_every_task_so_far_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"unlearning\.requests\.2.*every task learnt so far"):
        run(_config("til", requests={2: [1, 2]}), out=tmp_path / "rw", progress=False)


def test_a_deleted_checkpoint_is_named(tmp_path):
    out = tmp_path / "rw"

    def delete_first(task_id, epoch, step):
        if task_id == 4:
            (out / "checkpoints" / "task_01.pt").unlink(missing_ok=True)

    with pytest.raises(CheckpointError, match="task_01.pt"):
        run(_config("til", requests={4: [2]}), out=out, progress=False, step_hook=delete_first)


def test_retain_unlearn_method_rewind_equals_the_retrain_reference(tmp_path, scenario):
    source = run(_config(scenario), out=tmp_path / "src", progress=False)
    code = main(["unlearn", str(tmp_path / "src"), "--tasks", "2", "--method", "rewind", "--no-evaluate",
                 "--out", str(tmp_path / "rw")])  # fmt: skip
    assert code == 0
    rewound = load_run(tmp_path / "rw")
    reference = _retrain(scenario, [2])
    assert_same_model(rewound.algorithm, reference.algorithm)
    assert_rows_match(rewound, reference, [2], 5)
    assert rewound.summary["accuracy_matrix"][:4] == source.summary["accuracy_matrix"][:4]
    assert rewound.config.unlearning.method == "rewind" and rewound.config.unlearning.requests == {5: (2,)}


def test_retain_unlearn_rewind_of_a_run_with_requests_is_refused(tmp_path, capsys):
    cfg = _config("til", requests={4: [2]})
    run(cfg, out=tmp_path / "src", progress=False)
    assert main(["unlearn", str(tmp_path / "src"), "--tasks", "1", "--method", "rewind", "--no-evaluate"]) == 2
    assert "--method = 'rewind'" in capsys.readouterr().err


def test_the_retrain_reference_starts_from_the_runs_checkpoint_and_equals_one_from_scratch(tmp_path, scenario):
    cfg = _config(scenario, requests={4: [2]})
    cfg["unlearning"].update(method="amnesiac", evaluate=True)
    run(cfg, out=tmp_path / "am", progress=False)
    folder = tmp_path / "am" / "references" / "retrain"
    assert json.loads((folder / "started_from.json").read_text())["after_task"] == 1
    started = load_run(folder)
    scratch = _retrain(scenario, [2])
    assert_same_model(started.algorithm, scratch.algorithm)
    assert started.summary["accuracy_matrix"] == scratch.summary["accuracy_matrix"]
    training = json.loads((tmp_path / "am" / "unlearning.json").read_text())["reference_training"]
    assert training["retrain_started_after_task"] == 1
    assert training["retrain_seconds_saved"] == started.summary["train_seconds_per_task"][0] > 0


def test_amnesiac_reports_cost_relapse_and_the_headline_numbers(tmp_path):
    cfg = _config("dil", requests={3: [2]})
    cfg["unlearning"].update(method="amnesiac", evaluate=True)
    result = run(cfg, out=tmp_path / "am", progress=False)
    report = json.loads((tmp_path / "am" / "unlearning.json").read_text())
    (request,) = report["cost"]["per_request"]
    assert request["after_task"] == 3 and request["records_bytes"] == report["bytes_kept"] > 0
    assert report["cost"]["retrain_reference_seconds"] == report["retrain_reference_seconds"] > 0
    column = [row[1] for row in result.summary["accuracy_matrix"][2:]]
    assert report["relapse"]["per_task"]["2"]["after_request"] == column
    assert report["relapse_max"] == max(v - column[0] for v in column[1:])
    population = report["membership"]["population"]
    assert report["mia_auc"] == population["unlearned_model"]["auc"]
    assert report["mia_member_rate_original"] == population["original_reference"]["member_rate"]
    after = report["relapse"]["attack_after_request"]
    assert sorted(after) == ["3", "4", "5"]
    assert after["5"] == population["unlearned_model"]  # the last row's attack is the final model's
    aucs = [after[t]["auc"] for t in ("3", "4", "5")]
    assert report["relapse"]["attack_auc_rise"] == max(a - aucs[0] for a in aucs[1:])


class TaskConditioned(torch.nn.Module):
    """A backbone whose features depend on the task id (a learnt offset per task)."""

    task_conditioned = True
    options = ("hidden",)

    def __init__(self, input_shape, hidden=(8,)):
        super().__init__()
        self.output_dim = 8
        self.body = torch.nn.Linear(int(torch.tensor(input_shape).prod()), 8)
        self.offset = torch.nn.Embedding(16, 8)

    def forward(self, x, task_id):
        return torch.relu(self.body(x.flatten(1)) + self.offset.weight[task_id])


def test_rewind_of_a_task_conditioned_backbone_equals_the_reference_and_its_dd_is_zero(tmp_path, monkeypatch):
    from retain.models import BACKBONES

    monkeypatch.setitem(BACKBONES, "conditioned", TaskConditioned)
    cfg = _config("til", requests={4: [2]})
    cfg["backbone"] = {"name": "conditioned"}
    cfg["unlearning"].update(evaluate=True, membership=False)
    rewound = run(cfg, out=tmp_path / "rw", progress=False)
    plain = _config("til")
    plain.update(backbone={"name": "conditioned"}, benchmark={"name": "split_digits", "without": [2]})
    reference = run(plain, write=False, progress=False)
    assert_same_model(rewound.algorithm, reference.algorithm)
    assert_rows_match(rewound, reference, [2], 4)
    assert rewound.unlearning is not None and rewound.unlearning["dd"] == 0.0  # compared in the world's ids
