"""What can be checked before training is checked before training, and a failed command leaves no folder."""

from __future__ import annotations

import time

from retain.cli import main

FAST = ["--set", "train.epochs=1", "--set", "backbone.hidden=[8]", "--set", "benchmark.num_tasks=2", "--quiet"]


def test_requests_that_unlearn_every_task_fail_before_training(tmp_path, capsys):
    out = tmp_path / "run"
    start = time.perf_counter()
    code = main(["run", *FAST, "--set", "unlearning.method=amnesiac", "--set", "unlearning.requests={2: [1, 2]}",
                 "--out", str(out)])  # fmt: skip
    assert code == 2 and time.perf_counter() - start < 5
    err = capsys.readouterr().err
    assert "unlearning.requests" in err and "unlearns all 2 tasks" in err and "benchmark.without" not in err
    assert not out.exists()


def test_unlearn_of_every_task_fails_before_writing_and_a_retry_is_not_blocked(tmp_path, capsys):
    source = tmp_path / "run"
    assert main(["run", *FAST, "--set", "unlearning.method=amnesiac", "--out", str(source)]) == 0
    assert main(["unlearn", str(source), "--tasks", "1,2"]) == 2
    assert "unlearns all 2 tasks" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert main(["unlearn", str(source), "--tasks", "1", "--no-evaluate"]) == 0
    assert (tmp_path / "run-unlearned-1" / "summary.json").exists()


def test_compare_rejects_an_unknown_algorithm_before_training_any(tmp_path, capsys):
    out = tmp_path / "cmp"
    start = time.perf_counter()
    assert main(["compare", *FAST[:-1], "--algorithms", "finetuning,nope", "--out", str(out)]) == 2
    assert time.perf_counter() - start < 5
    err = capsys.readouterr().err
    assert "--algorithms = 'finetuning,nope'" in err and "expected one of" in err
    assert not out.exists()
