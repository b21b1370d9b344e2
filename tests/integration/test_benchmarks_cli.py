"""The benchmark suite through the command line: listing, a 10-task Permuted Fashion-MNIST run, custom
data from YAML, and missing files failing fast."""

import json
import time

import numpy as np
import yaml

from retain.cli import main
from retain.scenarios import BENCHMARKS
from tests.fakedata import write_idx_set

FAST = ["--set", "train.epochs=1", "--set", "backbone.hidden=[16]", "--quiet"]


def test_list_shows_every_benchmark(capsys):
    assert main(["list"]) == 0
    printed = capsys.readouterr().out.replace("\n", " ")
    for name in (
        "split_mnist",
        "permuted_mnist",
        "rotated_mnist",
        "split_fmnist",
        "permuted_fmnist",
        "split_kmnist",
        "permuted_kmnist",
        "split_emnist_letters",
        "permuted_emnist_letters",
        "split_cifar10",
        "split_cifar100",
        "split_cifar100_20x5",
        "split_tinyimagenet",
        "split_imagenet_r",
        "split_cub200",
        "split_digits",
        "permuted_digits",
        "custom",
    ):
        assert name in BENCHMARKS and name in printed


def test_permuted_fashion_mnist_with_ten_tasks(tmp_path):
    write_idx_set(tmp_path / "data" / "FashionMNIST" / "raw", n_train=60, n_test=20)
    out = tmp_path / "run"
    code = main(
        [
            "run",
            *FAST,
            "--set",
            "benchmark.name=permuted_fmnist",
            "--set",
            f"benchmark.root={tmp_path / 'data'}",
            "--set",
            "train.data_path=loader",
            "--set",
            "train.num_workers=0",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [len(r) for r in summary["accuracy_matrix"]] == list(range(1, 11))
    assert summary["scenario"] == "dil" and summary["data_path"] == "loader"
    assert summary["data_path_reason"] == "train.data_path = 'loader'"


def test_custom_npz_with_validation_from_a_yaml_file(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (80, 6, 6), dtype=np.uint8), np.arange(80) % 4
    np.savez(tmp_path / "mine.npz", x_train=x, y_train=y, x_test=x[:20], y_test=y[:20])
    config = {
        "benchmark": {"name": "custom", "path": str(tmp_path / "mine.npz"), "num_tasks": 2, "val_fraction": 0.25},
        "train": {"epochs": 2},
    }
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", "--config", str(tmp_path / "exp.yaml"), "--out", str(tmp_path / "run")]) == 0
    assert "data path: device (auto: cpu trains from host memory" in capsys.readouterr().out.replace("\n", " ")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["scenario"] == "til" and len(summary["best_epoch_per_task"]) == 2
    assert summary["data_path"] == "device" and "host memory" in summary["data_path_reason"]


def test_missing_files_fail_in_under_a_second_with_the_message(tmp_path, capsys):
    start = time.perf_counter()
    code = main(
        [
            "run",
            *FAST,
            "--set",
            "benchmark.name=split_cifar10",
            "--set",
            f"benchmark.root={tmp_path}",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert time.perf_counter() - start < 1.0
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_1") in err and "benchmark.download=true" in err
