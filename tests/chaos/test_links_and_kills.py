"""Links planted in a run folder are refused and nothing outside it is written; runs SIGKILLed at random
points resume to exactly the results of an uninterrupted run."""

from __future__ import annotations

import os
import random
import shutil
import signal
from pathlib import Path

import pytest

from retain.cli import main
from tests.chaos.cases import FAST
from tests.chaos.helpers import finish, results, snapshot, start

KILL_RUN = [*FAST, "--set", "train.epochs=2", "--set", "checkpoint.every_epochs=1", "--set", "train.batch_size=32"]
LINKS = ("metrics.jsonl", "config.previous.yaml", "plots", "checkpoints/progress.pt", "accuracy.csv")


@pytest.fixture(scope="module")
def killed(tmp_path_factory) -> Path:
    """A run killed inside task 2 (task_01.pt written), to plant links in."""
    out = tmp_path_factory.mktemp("killed") / "run"
    code, err = finish(start("run", *KILL_RUN, "--out", str(out), kill_at="2.2.0"))
    assert code == -signal.SIGKILL, err
    return out


@pytest.mark.parametrize("name", LINKS)
def test_a_planted_link_is_refused_and_nothing_outside_is_written(tmp_path, killed, name):
    folder, outside = tmp_path / "run", tmp_path / "outside"
    shutil.copytree(killed, folder)
    outside.mkdir()
    (outside / "victim").write_text("x" * 100_000)
    target = folder / name
    if target.is_dir():
        shutil.rmtree(target)
        target.symlink_to(outside, target_is_directory=True)
    else:
        target.unlink(missing_ok=True)
        target.symlink_to(outside / "victim")
    before = snapshot(outside)
    code = main(["run", "--resume", str(folder), "--set", "train.optimizer.lr=0.05", "--force", "--quiet"])
    assert code == 2
    assert snapshot(outside) == before


def kill_points(count: int, seed: int) -> list[str]:
    """`count` random points TASK.EPOCH.STEP of the kill run (2 tasks, 2 epochs, steps 0..5)."""
    rng = random.Random(seed)
    return [f"{rng.randint(1, 2)}.{rng.randint(1, 2)}.{rng.randint(0, 5)}" for _ in range(count)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    assert main(["run", *KILL_RUN, "--out", str(out)]) == 0
    return out


SEED = int(os.environ.get("RETAIN_CHAOS_SEED", "0"))  # another seed draws other kill points


@pytest.mark.parametrize("point", kill_points(3, SEED))
def test_a_run_killed_at_a_random_point_resumes_to_identical_results(tmp_path, uninterrupted, point):
    out = tmp_path / "run"
    code, err = finish(start("run", *KILL_RUN, "--out", str(out), kill_at=point))
    assert code == -signal.SIGKILL, err
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert results(out) == results(uninterrupted)
