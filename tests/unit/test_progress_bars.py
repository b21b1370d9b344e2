"""The run's progress: step-level bars with ETAs on a terminal, one line per task elsewhere."""

from __future__ import annotations

import io

from rich.console import Console

from retain.runs.loggers import ProgressLogger


def _drive(console: Console) -> None:
    with ProgressLogger(console, num_tasks=2, epochs=2, label="lwf on tiny") as bar:
        for task in (1, 2):
            bar.on_task_start(task, 2)
            for epoch in (1, 2):
                for step in range(1, 4):
                    bar.on_step(task, epoch, step, 3)
                    bar.progress.refresh()
                bar.on_epoch(task, epoch, {"loss": 0.5}, 0.1)
            bar.on_evaluation(task, [0.9] * task)


def test_a_terminal_gets_step_bars_with_an_eta():
    out = io.StringIO()
    _drive(Console(file=out, force_terminal=True, width=160))
    text = out.getvalue()
    assert "epoch 2/2 step 3/3" in text and "task 2/2" in text and "ETA" in text
    assert text.count("after task") == 2


def test_a_log_file_gets_one_line_per_task_and_no_bar():
    out = io.StringIO()
    _drive(Console(file=out, force_terminal=False, width=160))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("after task 1/2: average accuracy 0.9000 loss 0.5000, task ")
    assert "run ETA 0:00:0" in lines[0] and "step" not in out.getvalue()


def test_an_unlearning_run_says_which_reference_it_trains():
    from retain.experiment.run import run

    out = io.StringIO()
    data = {
        "benchmark": {"name": "split_digits", "num_tasks": 5, "without": [4, 5]},
        "backbone": {"hidden": [16]},
        "algorithm": {"name": "amnesiac_finetuning"},
        "unlearning": {"requests": {3: [2]}},
        "train": {"epochs": 1},
    }
    run(data, write=False, console=Console(file=out, force_terminal=False, width=160))
    text = out.getvalue()
    assert "training the original reference (no unlearning)" in text
    assert "training the retrain reference (without task 2)" in text
    assert text.count("after task 3/3") == 1  # the references print no per-task lines of their own


def test_compare_prints_one_line_per_algorithm_with_the_time_left():
    from retain.experiment.compare import compare

    out = io.StringIO()
    data = {"benchmark": {"name": "split_digits", "num_tasks": 2}, "backbone": {"hidden": [16]}, "train": {"epochs": 1}}
    compare(data, ["finetuning", "lwf"], write=False, console=Console(file=out, force_terminal=False, width=200))
    text = out.getvalue()
    assert "[1/2] finetuning: final average accuracy" in text and "[2/2] lwf: final average accuracy" in text
    assert "left)" in text and "after task" not in text
