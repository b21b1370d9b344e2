"""Two writers, one folder: the second fails at once naming the holder; nothing is mixed. A sweep killed
by SIGKILL takes its workers with it, and a re-run recovers what they left."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from retain.cli import main
from tests.chaos.cases import FAST
from tests.chaos.helpers import alive, children, finish, results, start

LONGER = [*FAST, "--set", "train.epochs=3"]


def test_two_runs_into_one_folder_one_wins_and_the_other_names_it(tmp_path):
    out = tmp_path / "run"
    procs = [start("run", *LONGER, "--set", f"seed={seed}", "--out", str(out)) for seed in (1, 2)]
    outcomes = [finish(p) for p in procs]
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 2], outcomes
    loser = next(err for code, err in outcomes if code == 2)
    assert "is in use by pid" in loser or "already exists and is not empty" in loser, loser
    winner_seed = 1 if outcomes[0][0] == 0 else 2
    reference = tmp_path / "reference"
    assert main(["run", *LONGER, "--set", f"seed={winner_seed}", "--out", str(reference)]) == 0
    assert results(out) == results(reference)  # not a record of the other seed in it


def test_two_resumes_of_one_run_one_continues_and_the_other_is_refused(tmp_path):
    out = tmp_path / "run"
    code, _ = finish(start("run", *LONGER, "--out", str(out), kill_at="2.1.0"))
    assert code == -signal.SIGKILL
    outcomes = [finish(p) for p in [start("run", "--resume", str(out), "--quiet") for _ in range(2)]]
    assert sorted(code for code, _ in outcomes) == [0, 2], outcomes
    reference = tmp_path / "reference"
    assert main(["run", *LONGER, "--out", str(reference)]) == 0
    assert results(out) == results(reference)


def test_a_second_identical_sweep_fails_at_once(tmp_path):
    from retain.runs.lock import FolderLock

    (tmp_path / "sweep").mkdir()
    with FolderLock(tmp_path / "sweep"):  # the first sweep, holding the folder
        code = main(["sweep", *FAST[:-1], "--grid", "seed=1,2", "--out", str(tmp_path / "sweep")])
    assert code == 2
    assert not (tmp_path / "sweep" / "seed-1").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_a_sweep_takes_its_workers_and_a_rerun_recovers(tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", *FAST[:-1], "--set", "train.epochs=40", "--set", "checkpoint.every_epochs=1",
            "--grid", "seed=1,2", "--jobs", "2", "--out", str(out)]  # fmt: skip
    sweep = start(*args)
    deadline = time.time() + 120
    while time.time() < deadline and not all((out / f"seed-{s}" / "metrics.jsonl").exists() for s in (1, 2)):
        time.sleep(0.5)
    workers = [pid for pid in children(sweep.pid) if alive(pid)]
    assert len(workers) >= 2, "the workers never started training"
    os.kill(sweep.pid, signal.SIGKILL)
    sweep.wait()
    deadline = time.time() + 40
    while time.time() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.25)
    assert not any(alive(pid) for pid in workers), "orphan workers outlived the sweep"
    code, err = finish(start(*args), timeout=600)
    assert code == 0, err
    assert all((out / f"seed-{s}" / "summary.json").exists() for s in (1, 2))
