"""`retain sweep` end to end on the embedded digits: every point runs, finished points are skipped,
a crashed point's folder is moved aside and re-run, failures do not stop the others."""

import json
import shutil
import signal
import sys

import pytest

from retain.cli import main
from retain.errors import RetainError, RunInterrupted
from retain.experiment import launchers
from retain.experiment.build import config_from_dict
from retain.experiment.run import run
from retain.experiment.sweep import expand, sweep

TINY = {"benchmark": {"num_tasks": 2}, "backbone": {"hidden": [8]}, "train": {"epochs": 1}}
GRID = [("algorithm.name", ["finetuning", "lwf"]), ("seed", [1])]
NAMES = ["algorithm.name-finetuning_seed-1", "algorithm.name-lwf_seed-1"]


def test_sweep_skips_finished_points_and_reruns_a_crashed_one(tmp_path):
    root = tmp_path / "sweep"
    first = sweep(TINY, GRID, root)
    assert sorted(first.ran) == NAMES and not first.skipped and not first.failed
    for name in NAMES:
        summary = json.loads((root / name / "summary.json").read_text())
        assert summary["algorithm"] == name.split("_")[0].split("-")[1] and summary["seed"] == int(name[-1])
    kept = (root / NAMES[0] / "summary.json").stat().st_mtime_ns
    # a crash before the first task finished leaves a folder without summary.json and without checkpoints
    (root / NAMES[1] / "summary.json").unlink()
    shutil.rmtree(root / NAMES[1] / "checkpoints")
    second = sweep(TINY, GRID, root)
    assert second.ran == (NAMES[1],) and second.skipped == (NAMES[0],)
    assert (root / NAMES[1] / "summary.json").exists()
    assert (root / f"{NAMES[1]}.incomplete-1" / "config.yaml").exists()  # kept for inspection
    assert (root / NAMES[0] / "summary.json").stat().st_mtime_ns == kept  # untouched
    third = sweep(TINY, GRID, root)
    assert not third.ran and len(third.skipped) == 2


def test_a_different_sweep_in_the_same_folder_is_refused(tmp_path):
    root = tmp_path / "sweep"
    sweep(TINY, [("seed", [1])], root)
    with pytest.raises(RetainError, match="different sweep"):
        sweep(TINY, [("seed", [1, 2])], root)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(RetainError, match="no sweep.json"):
        sweep(TINY, [("seed", [1])], other)


def test_a_failing_point_does_not_stop_the_others(tmp_path, monkeypatch):
    real = launchers.run_point

    def flaky(data, out, threads=None):
        if data["seed"] == 1:
            raise RuntimeError("boom")
        return real(data, out, threads)

    monkeypatch.setattr(launchers, "run_point", flaky)
    outcome = sweep(TINY, [("seed", [1, 2])], tmp_path / "s")
    assert outcome.failed == {"seed-1": "RuntimeError: boom"} and outcome.ran == ("seed-2",)


def test_cli_sweep_with_two_worker_processes_then_resume(tmp_path, capsys):
    out = tmp_path / "sw"
    args = [
        "sweep",
        "--set",
        "benchmark.num_tasks=2",
        "--set",
        "backbone.hidden=[8]",
        "--set",
        "train.epochs=1",
        "--grid",
        "algorithm.name=finetuning,lwf",
        "--grid",
        "seed=1",
        "--jobs",
        "2",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    printed = " ".join(capsys.readouterr().out.split())  # the terminal may wrap lines
    assert "2 run, 0 already finished" in printed and "1 (1)" in printed
    assert main(args) == 0
    assert "0 run, 2 already finished" in " ".join(capsys.readouterr().out.split())


def test_cli_sweep_errors(tmp_path, capsys):
    assert main(["sweep", "--grid", "train.epochs=1,-1", "--out", str(tmp_path / "a")]) == 2
    assert "train.epochs" in capsys.readouterr().err and not (tmp_path / "a").exists()
    assert main(["sweep", "--grid", "seed=1", "--launcher", "slurmx", "--out", str(tmp_path / "b")]) == 2
    assert "--launcher" in capsys.readouterr().err


def test_submitit_launcher_without_submitit_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import fails as if not installed
    with pytest.raises(RetainError, match="submitit package is not installed"):
        sweep(TINY, [("seed", [1])], tmp_path / "s", launcher="submitit")


class Crash(BaseException):
    """A SIGKILL stand-in: nothing after it runs, whatever the run had written stays."""


def test_an_interrupted_point_resumes_from_its_task_checkpoint(tmp_path):
    reference = sweep(TINY, GRID, tmp_path / "a")
    assert not reference.failed
    root = tmp_path / "b"
    sweep(TINY, GRID, root)
    shutil.rmtree(root / NAMES[1])
    point = next(p for p in expand(TINY, GRID) if p.name == NAMES[1])

    def crash_in_task_2(task_id, epoch, step):
        if task_id == 2:
            raise Crash

    with pytest.raises(Crash):
        run(config_from_dict(point.data), out=root / NAMES[1], progress=False, step_hook=crash_in_task_2)
    first_task = root / NAMES[1] / "checkpoints" / "task_01.pt"
    written = first_task.stat().st_mtime_ns
    assert not (root / NAMES[1] / "summary.json").exists()
    again = sweep(TINY, GRID, root)
    assert again.ran == (NAMES[1],) and not list(root.glob("*.incomplete-*"))  # resumed, not set aside
    assert first_task.stat().st_mtime_ns == written  # task 1 was not trained again
    for name in NAMES:
        resumed = json.loads((root / name / "summary.json").read_text())
        expected = json.loads((tmp_path / "a" / name / "summary.json").read_text())
        assert resumed["accuracy_matrix"] == expected["accuracy_matrix"]


def test_ctrl_c_stops_the_sweep_and_says_how_to_continue(tmp_path, monkeypatch, capsys):
    started = []

    def interrupted(data, out, threads=None):
        started.append(out)
        raise RunInterrupted("stopped", signal.SIGINT)

    monkeypatch.setattr(launchers, "run_point", interrupted)
    with pytest.raises(RunInterrupted, match="same command") as info:
        sweep(TINY, GRID, tmp_path / "s")
    assert info.value.signal_number == signal.SIGINT and len(started) == 1  # the second point never started
    args = ["sweep", "--set", "benchmark.num_tasks=2", "--grid", "seed=1,2", "--out", str(tmp_path / "cli")]
    assert main(args) == 128 + signal.SIGINT
    assert "same command" in capsys.readouterr().err


def test_run_interrupted_crosses_process_boundaries():
    import pickle

    err = pickle.loads(pickle.dumps(RunInterrupted("stopped after task 2", signal.SIGTERM)))
    assert str(err) == "stopped after task 2" and err.exit_code == 128 + signal.SIGTERM
