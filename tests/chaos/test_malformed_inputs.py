"""Every malformed input of the corpus is one line `retain: error: ...` naming the problem, exit code 2."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from retain.cli import main
from tests.chaos.cases import CASES, FAST


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(["run", *FAST, "--set", "unlearning.method=amnesiac", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_malformed_input_is_one_line_and_exit_code_2(tmp_path, capsys, finished_run, name):
    argv, phrase = CASES[name](tmp_path, finished_run)
    capsys.readouterr()
    start = time.perf_counter()
    code = main(argv)
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("retain: error: ") and len(err.splitlines()) == 1, err
    assert phrase in err, err
    assert seconds < 20  # refused, never trained


def test_retain_unlearn_dot_from_inside_the_run_folder_works(finished_run, monkeypatch, tmp_path):
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(finished_run, folder)
    monkeypatch.chdir(folder)
    assert main(["unlearn", ".", "--tasks", "1", "--no-evaluate"]) == 0
    assert (tmp_path / "run-unlearned-1" / "summary.json").exists()
