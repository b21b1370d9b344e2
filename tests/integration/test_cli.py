"""The command line end to end on the embedded digits."""

import csv
import json
import subprocess
import sys

import pytest
import yaml

from retain.cli import main

FAST = ["--set", "train.epochs=1", "--set", "backbone.hidden=[32]"]


def test_run_writes_a_complete_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", *FAST, "--set", "algorithm.name=lwf", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    matrix = summary["accuracy_matrix"]
    assert [len(r) for r in matrix] == [1, 2, 3, 4, 5]
    for key in (
        "final_average_accuracy",
        "average_incremental_accuracy",
        "bwt",
        "forgetting",
        "train_seconds_per_task",
        "seed",
    ):
        assert key in summary
    assert summary["final_average_accuracy"] == pytest.approx(sum(matrix[-1]) / 5)
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["algorithm"]["name"] == "lwf" and config["scenario"] == "til"
    rows = list(csv.reader((out / "accuracy.csv").open()))
    assert rows[0] == ["after_task", "task_1", "task_2", "task_3", "task_4", "task_5"]
    assert float(rows[5][5]) == pytest.approx(matrix[4][4], abs=1e-6)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["event"] == "epoch"]
    assert len(epochs) == 5 and {"loss", "loss_cls", "distillation_reg", "acc"} <= set(epochs[0])
    assert sum(r["event"] == "eval" for r in records) == 15
    assert (out / "plots" / "accuracy_matrix.png").stat().st_size > 1000
    assert (out / "env.json").exists()
    printed = capsys.readouterr().out
    assert "accuracy matrix" in printed and "final avg acc" in printed


def test_resolved_config_reruns_to_the_same_matrix(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    main(["run", *FAST, "--quiet", "--out", str(first)])
    main(["run", "--config", str(first / "config.yaml"), "--quiet", "--out", str(second)])
    matrices = [json.loads((p / "summary.json").read_text())["accuracy_matrix"] for p in (first, second)]
    assert matrices[0] == matrices[1]


def test_existing_output_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["run", *FAST, "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize(
    "args,named",
    [
        (["--set", "train.epochs=zero"], "train.epochs"),
        (["--set", "algorithm.distillation_reg_factor=0"], "algorithm.distillation_reg_factor"),
        (["--set", "algorithm.name=lwff"], "algorithm.name"),
        (["--set", "benchmark.nam=split_digits"], "benchmark.nam"),
        (["--set", "benchmark.num_tasks=3"], "benchmark.num_tasks"),
        (["--set", "scenario=xil"], "scenario"),
    ],
)
def test_bad_config_exits_2_naming_the_key_before_training(tmp_path, capsys, args, named):
    out = tmp_path / "run"
    assert main(["run", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("retain: error: ") and named in err and len(err.strip().splitlines()) == 1
    assert not (out / "summary.json").exists()


def test_bad_config_file_exits_2(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  batch_size: -4\n")
    assert main(["run", "--config", str(path)]) == 2
    assert "train.batch_size" in capsys.readouterr().err


def test_list_names_every_registry(capsys):
    assert main(["list"]) == 0
    printed = capsys.readouterr().out
    for name in (
        "split_digits",
        "permuted_digits",
        "split_fmnist",
        "permuted_fmnist",
        "mlp",
        "small_cnn",
        "resnet18",
        "finetuning",
        "lwf",
        "joint",
        "independent",
    ):
        assert name in printed


def test_compare_prints_one_table_with_each_algorithm(tmp_path, capsys):
    assert main(["compare", *FAST, "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    for name in ("finetuning", "lwf", "independent"):
        assert name in printed
        assert (tmp_path / "cmp" / name / "summary.json").exists()


def test_console_script_exit_code(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "retain", "run", "--set", "seed=x"], capture_output=True, text=True)
    assert proc.returncode == 2 and "seed" in proc.stderr and "Traceback" not in proc.stderr
