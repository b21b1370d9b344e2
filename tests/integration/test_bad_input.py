"""A batch of malformed inputs through the CLI: each gives one line `retain: error: ...` naming what was
wrong, exit code 2, no traceback, and runs no training."""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from retain.cli import KILL_AT_ENV, main
from retain.experiment.run import run

TINY = ["--set", "train.epochs=1", "--set", "backbone.hidden=[8]"]

# (--set overrides, the text the error must contain)
BAD_SETTINGS = [
    (["seed=x"], "seed"),
    (["seed=-1"], "seed"),
    (["seed=1.5"], "seed"),
    (["seed=99999999999999999999"], "seed"),
    (["scenario=xil"], "scenario"),
    (["scenario=5"], "scenario"),
    (["benchmark=3"], "benchmark"),
    (["benchmark.name=split_digit"], "did you mean 'split_digits'"),
    (["benchmark.num_tasks=0"], "benchmark.num_tasks"),
    (["benchmark.num_tasks=3"], "benchmark.num_tasks"),
    (["benchmark.class_order=random"], "benchmark.class_order"),
    (["benchmark.seed=-2"], "benchmark.seed"),
    (["benchmark.download=maybe"], "benchmark.download"),
    (["backbone.name=mpl"], "did you mean 'mlp'"),
    (["backbone.hidden=[]"], "backbone.hidden"),
    (["backbone.hidden=[0]"], "backbone.hidden"),
    (["backbone.hidden=32"], "backbone.hidden"),
    (["backbone.channels=[a]"], "backbone.channels"),
    (["algorithm=lwf"], "algorithm"),
    (["algorithm.name=lwff"], "did you mean 'lwf'"),
    (["algorithm.teacher=all"], "algorithm.teacher"),
    (["algorithm.distillation_reg_temperature=-1"], "algorithm.distillation_reg_temperature"),
    (["algorithm.distillation_reg_factor=.nan"], "algorithm.distillation_reg_factor"),
    (["algorithm.distillation_reg_factor=.inf"], "algorithm.distillation_reg_factor"),
    (["algorithm.name=joint", "algorithm.teacher=previous"], "algorithm.teacher"),
    (["train.epochs=0"], "train.epochs"),
    (["train.epochs=1.5"], "train.epochs"),
    (["train.batch_size=-1"], "train.batch_size"),
    (["train.optimizer.name=rmsprop"], "train.optimizer.name"),
    (["train.optimizer.lr=0"], "train.optimizer.lr"),
    (["train.optimizer.lr=abc"], "train.optimizer.lr"),
    (["train.optimizer.lr=.nan"], "train.optimizer.lr"),
    (["train.optimizer.momentum=-1"], "train.optimizer.momentum"),
    (["train.device=tpu"], "train.device"),
    (["train.on_nan=ignore"], "train.on_nan"),
    (["checkpoint.every_epochs=-1"], "checkpoint.every_epochs"),
    (["checkpoint.keep=none"], "checkpoint.keep"),
    (["benchmark.without=[1,2,3,4,5]"], "must leave at least one"),
    (["benchmark.val_fraction=0.9999"], "no training sample"),
    (["out=[1]"], "out"),
    (["train=5"], "train"),
    (["trian.epochs=1"], "did you mean 'train'"),
    (["train.epochs"], "--set"),
    (["train.epochs=[1"], "train.epochs"),
    (["train.epochs.x=1"], "train.epochs"),
    (["scenario=cil", "memory.size=100", "memory.per_class=5"], "memory.per_class = 5 is not valid: not together"),
    (["scenario=cil", "memory.size=0"], "memory.size"),
    (["scenario=cil", "memory.size=100", "memory.selection=best"], "memory.selection"),
    (["scenario=cil", "eval.classifier=nme"], "eval.classifier = 'nme' is not valid: needs an exemplar memory"),
    (["memory.size=100"], "memory.size = 100 is not valid: a memory needs a cil or dil scenario"),
    (["scenario=cil", "memory.size=5000"], "memory.size = 5000 is not valid: must be below"),
    (["scenario=cil", "memory.per_class=1000"], "memory.per_class = 1000 is not valid: must be at most"),
    (["scenario=cil", "memory.size=100", "eval.classifier=nme", "benchmark.val_fraction=0.1"], "eval.classifier"),
    (["scenario=dil", "memory.size=100", "memory.weight_aligning=true"], "memory.weight_aligning = True"),
    (["scenario=cil", "memory.weight_aligning=true"], "memory.weight_aligning = True is not valid: only with a memory"),
]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("retain: error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("overrides,named", BAD_SETTINGS)
def test_bad_setting(tmp_path, capsys, overrides, named):
    args = [a for o in overrides for a in ("--set", o)]
    assert main(["run", *args, "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert named in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


BAD_FILES = [
    ("train: [1, 2\n", "is not valid YAML"),
    ("- 1\n- 2\n", "must hold a mapping"),
    ("train:\n  epochs: '2'\n", "train.epochs"),
    ("!!python/object/apply:os.system ['touch pwned']\n", "is not valid YAML"),
    ("train: !!python/name:os.system\n", "is not valid YAML"),
    ("\x00\x01binary", "--config"),
]


@pytest.mark.parametrize("text,named", BAD_FILES)
def test_bad_config_file(tmp_path, capsys, monkeypatch, text, named):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert main(["run", "--config", str(path), "--quiet"]) == 2
    assert named in one_error_line(capsys)
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "runs").exists()


def test_missing_config_file(tmp_path, capsys):
    assert main(["run", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot be read" in one_error_line(capsys)


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def fmnist_folder(root: Path) -> Path:
    """Four small valid idx files in the Fashion-MNIST names (20 training, 10 test images)."""
    root.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("t10k", 10)):
        write_idx(root / f"{split}-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28)))
        write_idx(root / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    return root


def damage(root: Path, how: str) -> str:
    images = root / "train-images-idx3-ubyte"
    if how == "truncated":
        images.write_bytes(images.read_bytes()[:-100])
    elif how == "bad_magic":
        images.write_bytes(b"\x01\x02" + images.read_bytes()[2:])
    elif how == "empty":
        images.write_bytes(b"")
    elif how == "count_mismatch":
        write_idx(root / "train-labels-idx1-ubyte", np.arange(19) % 10)
    elif how == "labels_as_images":
        write_idx(images, np.arange(20) % 10)
    elif how == "label_range":
        write_idx(root / "train-labels-idx1-ubyte", np.full(20, 200))
    elif how in ("gzip_garbage", "gzip_truncated", "gzip_flipped"):
        packed = gzip.compress(images.read_bytes())
        images.unlink()
        if how == "gzip_garbage":
            packed = os.urandom(300)
        elif how == "gzip_truncated":
            packed = packed[: len(packed) // 2]
        else:
            packed = packed[:20] + bytes(b ^ 0xFF for b in packed[20:60]) + packed[60:]
        (root / "train-images-idx3-ubyte.gz").write_bytes(packed)
    return "train-images" if "label" not in how and how != "count_mismatch" else "train"


@pytest.mark.parametrize(
    "how",
    [
        "truncated",
        "bad_magic",
        "empty",
        "count_mismatch",
        "labels_as_images",
        "label_range",
        "gzip_garbage",
        "gzip_truncated",
        "gzip_flipped",
    ],
)
def test_corrupt_data_file(tmp_path, capsys, how):
    root = fmnist_folder(tmp_path / "data")
    named = damage(root, how)
    args = ["--set", "benchmark.name=split_fmnist", "--set", f"benchmark.root={root}", *TINY]
    assert main(["run", *args, "--out", str(tmp_path / "run"), "--quiet"]) == 2
    line = one_error_line(capsys)
    assert str(root) in line and named in line
    if how not in ("count_mismatch", "labels_as_images", "label_range"):  # a damaged file: say how to replace it
        assert "fresh copy" in line and "benchmark.download=true" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("cut", [0.5, 0.95])
def test_truncated_npz_is_one_line(tmp_path, capsys, cut):
    path = tmp_path / "data.npz"
    x, y = np.zeros((20, 1, 4, 4), np.uint8), np.arange(20) % 2
    np.savez(path, x_train=x, y_train=y, x_test=x, y_test=y)
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * cut)])
    args = ["--set", "benchmark.name=custom", "--set", f"benchmark.path={path}", *TINY]
    assert main(["run", *args, "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert str(path) in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_hyperparameters_for_an_algorithm_without_any_are_named(tmp_path, capsys):
    args = ["--set", "algorithm.name=finetuning", "--set", "algorithm.teacher=previous"]
    assert main(["run", *args, "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "algorithm.teacher" in (line := one_error_line(capsys)) and "'finetuning' takes no hyperparameters" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_one_line(tmp_path, capsys):
    assert main(["run", "--set", "train.device=cuda", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "train.device = 'cuda'" in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


class Crash(BaseException):
    pass


def crash_before_task_3(task_id: int, epoch: int, step: int) -> None:
    if task_id == 3:
        raise Crash


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """A run folder left behind after task 2 (checkpoints task_01.pt and task_02.pt)."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    with pytest.raises(Crash):
        run(
            {"train": {"epochs": 1}, "backbone": {"hidden": [8]}},
            out=out,
            progress=False,
            step_hook=crash_before_task_3,
        )
    return out


class Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def spoil_checkpoint(run_dir: Path, how: str) -> str:
    last = run_dir / "checkpoints" / "task_02.pt"
    if how == "truncated":
        last.write_bytes(last.read_bytes()[:3000])
        return "truncated or corrupt"
    if how == "garbage":
        last.write_bytes(os.urandom(5000))
        return "corrupt"
    if how == "evil_torch":
        torch.save({"format": "retain.checkpoint", "x": Evil(run_dir / "pwned")}, last)
        return "refused"
    if how == "evil_pickle":
        last.write_bytes(pickle.dumps({"x": Evil(run_dir / "pwned")}, protocol=2))
        return "would need arbitrary unpickling"
    if how == "foreign":
        torch.save({"state_dict": {"w": torch.ones(2)}}, last)
        return "not a retain checkpoint"
    if how == "wrong_shapes":
        payload = torch.load(last, weights_only=True)
        payload["model"] = {k: torch.zeros(3) for k in payload["model"]}
        torch.save(payload, last)
        return "does not fit"
    if how == "progress_garbage":
        (run_dir / "checkpoints" / "progress.pt").write_bytes(b"PK\x03\x04 not really a zip")
        return "progress.pt"
    if how == "config_yaml":
        shutil.rmtree(run_dir / "checkpoints")
        (run_dir / "config.yaml").write_text("train: [\n")
        return "config.yaml"
    if how == "no_config":
        (run_dir / "config.yaml").unlink()
        return "not a retain run folder"
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "truncated",
        "garbage",
        "evil_torch",
        "evil_pickle",
        "foreign",
        "wrong_shapes",
        "progress_garbage",
        "config_yaml",
        "no_config",
    ],
)
def test_bad_checkpoint_or_run_folder(tmp_path, capsys, stopped_run, how):
    run_dir = tmp_path / "run"
    shutil.copytree(stopped_run, run_dir)
    named = spoil_checkpoint(run_dir, how)
    assert main(["run", "--resume", str(run_dir), "--quiet"]) == 2
    assert named in one_error_line(capsys)
    assert not (run_dir / "pwned").exists() and not (run_dir / "summary.json").exists()


@pytest.mark.parametrize(
    "args,named",
    [
        (["run", "--resume", "{tmp}/nowhere"], "not a retain run folder"),
        (["run", "--resume", "{run}", "--out", "{tmp}/x"], "--out"),
        (["run", "--force"], "--force"),
        (["run", "--out", "{run}"], "already exists"),
    ],
)
def test_bad_command_line(tmp_path, capsys, stopped_run, args, named):
    args = [a.format(tmp=tmp_path, run=stopped_run) for a in args]
    assert main([*args, "--quiet"]) == 2
    assert named in one_error_line(capsys)


def test_bad_test_hook_value(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(KILL_AT_ENV, "soon")
    assert main(["run", *TINY, "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert KILL_AT_ENV in one_error_line(capsys)


def test_nan_loss_is_one_line_naming_task_epoch_step(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", *TINY, "--set", "train.optimizer.lr=1e30", "--out", str(out), "--quiet"]) == 2
    line = one_error_line(capsys)
    assert "non-finite loss at task 1, epoch 1, step" in line
