"""Resume after SIGKILL, SIGINT and SIGTERM gives exactly the results of an uninterrupted run (CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from retain.cli import KILL_AT_ENV, main
from retain.experiment.run import run

SRC = Path(__file__).resolve().parents[2] / "src"
FAST = ["--set", "train.epochs=2", "--set", "backbone.hidden=[32]", "--set", "train.device=cpu"]
TIMING = ("train_seconds_per_task", "total_seconds")


def summary_without_timing(folder: Path) -> dict:
    summary = json.loads((folder / "summary.json").read_text())
    return {k: v for k, v in summary.items() if k not in TIMING}


def metrics_without_timing(folder: Path) -> list[dict]:
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def assert_same_run(resumed: Path, reference: Path) -> None:
    """Identical matrix, summary (but wall-clock fields), accuracy.csv and log (but epoch seconds)."""
    assert summary_without_timing(resumed) == summary_without_timing(reference)
    assert (resumed / "accuracy.csv").read_text() == (reference / "accuracy.csv").read_text()
    assert metrics_without_timing(resumed) == metrics_without_timing(reference)
    assert len(json.loads((resumed / "summary.json").read_text())["train_seconds_per_task"]) == 5


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    assert main(["run", *FAST, "--quiet", "--out", str(out)]) == 0
    return out


def cli(*args: str, kill_at: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), KILL_AT_ENV: kill_at}
    return subprocess.run([sys.executable, "-m", "retain", *args], env=env, capture_output=True, text=True, timeout=120)


def test_sigkill_mid_task_3_resumes_from_task_2_to_the_same_results(tmp_path, reference):
    out = tmp_path / "run"
    proc = cli("run", *FAST, "--quiet", "--out", str(out), kill_at="3.1.2")
    assert proc.returncode == -signal.SIGKILL
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["task_01.pt", "task_02.pt"]
    assert not (out / "summary.json").exists()
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert_same_run(out, reference)


def test_sigkill_mid_epoch_resumes_from_the_mid_task_checkpoint(tmp_path, reference):
    out = tmp_path / "run"
    proc = cli("run", *FAST, "--set", "checkpoint.every_epochs=1", "--quiet", "--out", str(out), kill_at="3.2.1")
    assert proc.returncode == -signal.SIGKILL
    assert (out / "checkpoints" / "progress.pt").exists()
    records = metrics_without_timing(out)
    assert records[-1]["event"] == "epoch" and (records[-1]["task"], records[-1]["epoch"]) == (3, 1)
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert_same_run(out, reference)  # mid-task checkpoints change files only, never the numbers
    assert not (out / "checkpoints" / "progress.pt").exists()


def test_sigint_mid_epoch_checkpoints_says_how_to_resume_and_resumes_exactly(tmp_path, reference, monkeypatch, capsys):
    out = tmp_path / "run"
    monkeypatch.setenv(KILL_AT_ENV, "3.2.1:INT")
    handler = signal.getsignal(signal.SIGINT)
    assert main(["run", *FAST, "--quiet", "--out", str(out)]) == 128 + signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is handler  # the run's handler is gone again
    err = capsys.readouterr().err
    assert "SIGINT during task 3" in err and f"retain run --resume {out}" in err and "Traceback" not in err
    assert (out / "checkpoints" / "progress.pt").exists() and not (out / "summary.json").exists()
    monkeypatch.delenv(KILL_AT_ENV)
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert_same_run(out, reference)


def test_sigterm_then_resume_twice_in_a_row(tmp_path, reference, monkeypatch, capsys):
    out = tmp_path / "run"
    monkeypatch.setenv(KILL_AT_ENV, "2.1.0:TERM")
    assert main(["run", *FAST, "--quiet", "--out", str(out)]) == 128 + signal.SIGTERM
    monkeypatch.setenv(KILL_AT_ENV, "4.2.3:TERM")  # interrupted again while resumed
    assert main(["run", "--resume", str(out), "--quiet"]) == 128 + signal.SIGTERM
    assert "SIGTERM during task 4" in capsys.readouterr().err
    monkeypatch.delenv(KILL_AT_ENV)
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert_same_run(out, reference)


class Crash(BaseException):
    """Stands in for SIGKILL in-process: nothing catches it, so nothing is written on the way out."""


def crash_at(point: tuple[int, int, int]):
    def hook(*at: int) -> None:
        if at == point:
            raise Crash

    return hook


@pytest.mark.parametrize("point", [(1, 1, 1), (2, 1, 0), (5, 2, 2)])
def test_crash_at_any_point_leaves_a_resumable_folder(tmp_path, reference, point):
    out = tmp_path / "run"
    cfg = yaml.safe_load((reference / "config.yaml").read_text())
    with pytest.raises(Crash):
        run(cfg, out=out, progress=False, step_hook=crash_at(point))
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert_same_run(out, reference)


def test_resume_with_a_different_config_is_refused_naming_the_keys(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(Crash):
        run(
            {"train": {"epochs": 1}, "backbone": {"hidden": [8]}},
            out=out,
            progress=False,
            step_hook=crash_at((2, 1, 0)),
        )
    before = (out / "checkpoints" / "task_01.pt").read_bytes()
    assert main(["run", "--resume", str(out), "--set", "train.epochs=2", "--set", "seed=3", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "train.epochs: 1 → 2" in err and "seed: 0 → 3" in err and "--force" in err
    assert (out / "checkpoints" / "task_01.pt").read_bytes() == before
    assert main(["run", "--resume", str(out), "--set", "train.epochs=2", "--force", "--quiet"]) == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["epochs"] == 2
    assert yaml.safe_load((out / "config.previous.yaml").read_text())["train"]["epochs"] == 1
    assert json.loads((out / "summary.json").read_text())["accuracy_matrix"][-1]


def test_a_complete_run_is_not_resumed_and_not_touched(reference, capsys):
    before = {p: p.read_bytes() for p in reference.rglob("*") if p.is_file()}
    assert main(["run", "--resume", str(reference), "--quiet"]) == 2
    assert "already complete" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in reference.rglob("*") if p.is_file()} == before


def test_checkpoint_holds_plain_data_and_every_random_state(reference):
    payload = torch.load(reference / "checkpoints" / "task_05.pt", weights_only=True)
    assert payload["tasks_done"] == 5 and payload["progress"] is None
    assert set(payload["rng"]) == {"python", "numpy", "torch", "cuda", "generator"}
    assert sorted(payload["algorithm"]["teachers"]) == [1, 2, 3, 4, 5]  # LwF per-task teachers
    assert payload["accuracy_matrix"] == json.loads((reference / "summary.json").read_text())["accuracy_matrix"]
    assert payload["config"] == yaml.safe_load((reference / "config.yaml").read_text())


def test_ctrl_c_from_outside_stops_with_a_checkpoint_and_resumes_exactly(tmp_path):
    """A real SIGINT sent by another process, as a terminal's Ctrl-C would."""
    import time

    args = ["--set", "train.epochs=5", "--set", "backbone.hidden=[16]", "--set", "train.device=cpu", "--quiet"]
    out, reference = tmp_path / "run", tmp_path / "reference"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop(KILL_AT_ENV, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "retain", "run", *args, "--out", str(out)], env=env, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not (out / "checkpoints" / "task_01.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 128 + signal.SIGINT, err
    assert "stopped by SIGINT" in err and f"retain run --resume {out}" in err and "Traceback" not in err
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert main(["run", *args, "--out", str(reference)]) == 0
    assert summary_without_timing(out) == summary_without_timing(reference)
