"""Unlearning requests from the CLI, their validation, the evaluation, and `retain unlearn`."""

import hashlib
import json

import pytest

from retain import run
from retain.cli import main

FAST = ["--set", "train.epochs=1", "--set", "backbone.hidden=[32]", "--quiet"]


@pytest.mark.parametrize(
    "requests,named",
    [
        ("{4: [7]}", "task 7 does not exist"),
        ("{9: [1]}", "task 9 does not exist"),
        ("{2: [3]}", "task 3 is not learnt yet"),
        ("{3: [2], 4: [2]}", "task 2 was already unlearned"),
    ],
)
def test_invalid_requests_exit_2_naming_the_task(tmp_path, capsys, requests, named):
    out = tmp_path / "run"
    code = main(
        [
            "run",
            *FAST,
            "--set",
            "algorithm.name=amnesiac_lwf",
            "--set",
            f"unlearning.requests={requests}",
            "--out",
            str(out),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert named in err and "unlearning.requests" in err
    assert not out.exists()


def test_request_without_an_unlearning_method(capsys, tmp_path):
    assert (
        main(
            [
                "run",
                *FAST,
                "--set",
                "algorithm.name=lwf",
                "--set",
                "unlearning.requests={4: [2]}",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    assert "set unlearning.method: amnesiac" in capsys.readouterr().err
    assert (
        main(
            [
                "run",
                *FAST,
                "--set",
                "algorithm.name=amnesiac_lwf",
                "--set",
                "algorithm.disable_unlearning=true",
                "--set",
                "unlearning.requests={4: [2]}",
                "--out",
                str(tmp_path / "s"),
            ]
        )
        == 2
    )
    assert "disable_unlearning" in capsys.readouterr().err


def test_run_with_requests_writes_unlearning_json(tmp_path):
    out = tmp_path / "run"
    assert (
        main(
            [
                "run",
                *FAST,
                "--set",
                "algorithm.name=amnesiac_lwf",
                "--set",
                "unlearning.requests={4: [2]}",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads((out / "unlearning.json").read_text())
    assert report["unlearned_tasks"] == [2] and report["remaining_tasks"] == [1, 3, 4, 5]
    for key in (
        "ag",
        "dd",
        "unlearned_model_accuracy_on_unlearned",
        "unlearned_model_accuracy_on_remaining",
        "original_reference_accuracy_on_unlearned",
        "retrain_reference_accuracy_on_remaining",
    ):
        assert isinstance(report[key], float), key
    summary = json.loads((out / "summary.json").read_text())
    assert summary["unlearning_events"] == {"4": [2]}
    assert (out / "references" / "retrain" / "summary.json").exists()
    retrain = json.loads((out / "references" / "retrain" / "summary.json").read_text())
    assert len(retrain["accuracy_matrix"]) == 4  # trained without task 2
    # relative to the run folder: a moved run folder still points at its own references
    assert report["references"] == {"original": "references/original", "retrain": "references/retrain"}
    original = json.loads((out / "references" / "original" / "summary.json").read_text())
    assert report["accuracy"]["original_reference"]["2"] == original["accuracy_matrix"][-1][1]
    # the headline numbers from the files' own per-task values: AG over the kept tasks, DD over task 2
    acc = report["accuracy"]
    assert acc["unlearned_model"] == {str(j): v for j, v in enumerate(summary["accuracy_matrix"][-1], start=1)}
    assert acc["original_reference"] == {str(j): v for j, v in enumerate(original["accuracy_matrix"][-1], start=1)}
    assert acc["retrain_reference"]["2"] is None
    assert [acc["retrain_reference"][k] for k in ("1", "3", "4", "5")] == retrain["accuracy_matrix"][-1]
    kept = ["1", "3", "4", "5"]
    assert report["ag"] == pytest.approx(
        sum(acc["unlearned_model"][j] - acc["original_reference"][j] for j in kept) / 4
    )
    assert report["dd"] == report["dd_per_task"]["2"] > 0
    assert report["unlearned_model_accuracy_on_unlearned"] == acc["unlearned_model"]["2"]


def unlearning_report(scenario, algorithm, requests):
    config = {"scenario": scenario, "algorithm": {"name": algorithm}, "unlearning": {"requests": requests}}
    return run(config, write=False, progress=False).unlearning


@pytest.mark.parametrize("algorithm", ["amnesiac_finetuning", "amnesiac_lwf"])
def test_unlearned_task_moves_to_the_retrain_reference_and_remaining_tasks_stay(algorithm):
    # DIL on the digits: the shared head lets the retrain reference be tested on the task it never saw
    report = unlearning_report("dil", algorithm, {5: [3]})
    acc = {name: values["3"] for name, values in report["accuracy"].items()}
    assert abs(acc["unlearned_model"] - acc["retrain_reference"]) < abs(
        acc["original_reference"] - acc["retrain_reference"]
    )
    assert acc["unlearned_model"] < acc["original_reference"] - 0.15
    assert abs(report["ag"]) <= 0.05  # remaining tasks: what unlearning cost them (measured −0.024 / −0.021)


def test_til_unlearned_task_falls_to_chance_and_remaining_tasks_stay():
    report = unlearning_report("til", "amnesiac_lwf", {5: [3]})
    assert report["accuracy"]["unlearned_model"]["3"] < 0.6  # 2 classes: chance is 0.5; before: 0.97
    assert report["accuracy"]["original_reference"]["3"] > 0.9
    assert report["accuracy"]["retrain_reference"]["3"] is None  # no head for a task it never learnt
    assert abs(report["ag"]) <= 0.02


def test_unlearning_the_last_task_right_away_equals_the_retrain_reference():
    # amnesiac unlearning is exact when no later task built on the unlearned one
    report = unlearning_report("dil", "amnesiac_finetuning", {5: [5]})
    assert report["dd"] == pytest.approx(0.0, abs=1e-4)
    for task in ("1", "2", "3", "4"):
        assert report["accuracy"]["unlearned_model"][task] == pytest.approx(
            report["accuracy"]["retrain_reference"][task], abs=1e-9
        )


def digest(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("scenario,own,events", [("cil", None, [2]), ("til", "{5: [1]}", [1, 2])])
def test_retain_unlearn_writes_a_new_folder_and_leaves_the_source_intact(tmp_path, scenario, own, events):
    """In CIL the new row tests every task over all classes; a source's own request after its last task is
    kept beside the new one. Either way the new config, run from scratch, reproduces the new row."""
    source, target = tmp_path / "source", tmp_path / "target"
    extra = ["--set", f"unlearning.requests={own}", "--set", "unlearning.evaluate=false"] if own else []
    assert (
        main(
            [
                "run",
                *FAST,
                "--set",
                f"scenario={scenario}",
                "--set",
                "algorithm.name=amnesiac_finetuning",
                *extra,
                "--out",
                str(source),
            ]
        )
        == 0
    )
    before = digest(source)
    assert main(["unlearn", str(source), "--tasks", "2", "--out", str(target)]) == 0
    assert digest(source) == before
    summary = json.loads((target / "summary.json").read_text())
    report = json.loads((target / "unlearning.json").read_text())
    assert summary["unlearning_events"] == {"5": events}
    if own is None:
        assert report["references"]["original"] == str(source)
    original_row = json.loads((source / "summary.json").read_text())["accuracy_matrix"][-1]
    assert summary["accuracy_matrix"][-1] != original_row
    # the new folder's config reproduces the unlearned model from scratch
    again = tmp_path / "again"
    assert main(["run", "--config", str(target / "config.yaml"), "--quiet", "--out", str(again)]) == 0
    assert json.loads((again / "summary.json").read_text())["accuracy_matrix"][-1] == summary["accuracy_matrix"][-1]


def test_retain_unlearn_refuses_bad_requests(tmp_path, capsys):
    source = tmp_path / "source"
    assert main(["run", *FAST, "--set", "algorithm.name=lwf", "--out", str(source)]) == 0
    assert main(["unlearn", str(source), "--tasks", "2", "--out", str(tmp_path / "t")]) == 2
    assert "set unlearning.method: amnesiac" in capsys.readouterr().err
    assert main(["unlearn", str(tmp_path / "nowhere"), "--tasks", "2"]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert main(["unlearn", str(source), "--tasks", "two"]) == 2


def _model_file_tensors(folder):
    import torch

    state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    teachers = {int(t): snap["weights"] for t, snap in state["algorithm"]["inner"]["teachers"].items()}
    return state["model"], teachers


@pytest.mark.parametrize("teacher", ["per_task", "previous"])
def test_retain_unlearn_retakes_the_last_teacher_as_an_in_run_request_would(tmp_path, teacher):
    import torch

    lwf = [*FAST, "--set", "algorithm.name=amnesiac_lwf", "--set", f"algorithm.teacher={teacher}"]
    source, target, in_run = tmp_path / "source", tmp_path / "target", tmp_path / "in_run"
    assert main(["run", *lwf, "--out", str(source)]) == 0
    assert main(["unlearn", str(source), "--tasks", "2", "--no-evaluate", "--out", str(target)]) == 0
    model, teachers = _model_file_tensors(target)
    _, source_teachers = _model_file_tensors(source)
    expected_keys = [5] if teacher == "previous" else [1, 3, 4, 5]
    assert sorted(teachers) == expected_keys
    # the stored teacher of the last task is the unlearned model, not the model before unlearning
    assert teachers[5].keys() <= model.keys() and all(torch.equal(teachers[5][k], model[k]) for k in teachers[5])
    assert any(not torch.equal(teachers[5][k], source_teachers[5][k]) for k in teachers[5])
    # the same run with the request {5: [2]} in its config gives the same model and teachers, bit for bit
    assert (
        main(
            [
                "run",
                *lwf,
                "--set",
                "unlearning.requests={5: [2]}",
                "--set",
                "unlearning.evaluate=false",
                "--out",
                str(in_run),
            ]
        )
        == 0
    )
    model_in_run, teachers_in_run = _model_file_tensors(in_run)
    assert model.keys() == model_in_run.keys() and all(torch.equal(model[k], model_in_run[k]) for k in model)
    assert sorted(teachers_in_run) == expected_keys
    for key, snapshot in teachers_in_run.items():
        assert all(torch.equal(teachers[key][k], snapshot[k]) for k in snapshot), key


def test_dil_retrain_reference_tests_an_unlearned_last_task_with_its_own_last_model():
    # Independent keeps one model per task: the reference, which never learnt task 5, tests it with model 4
    report = unlearning_report("dil", "amnesiac_independent", {5: [5]})
    retrain = report["accuracy"]["retrain_reference"]
    assert retrain["5"] is not None and 0.0 <= retrain["5"] <= 1.0
    assert [retrain[t] for t in "1234"] == [report["accuracy"]["original_reference"][t] for t in "1234"]  # same seed


def test_any_algorithm_is_unlearned_through_the_method_joint_included(tmp_path):
    out = tmp_path / "joint"
    args = ["--set", "algorithm.name=joint", "--set", "unlearning.method=amnesiac"]
    assert main(["run", *FAST, *args, "--set", "unlearning.requests={3: [2]}", "--out", str(out)]) == 0
    report = json.loads((out / "unlearning.json").read_text())
    assert report["unlearned_tasks"] == [2] and {"ag", "dd"} <= set(report)
    saved = (out / "config.yaml").read_text()
    assert "name: joint" in saved and "method: amnesiac" in saved
    references = sorted((out / "references").iterdir())
    assert len(references) == 2
    for ref in references:  # the references are Joint alone: no unlearning method
        assert "method: none" in (ref / "config.yaml").read_text()
