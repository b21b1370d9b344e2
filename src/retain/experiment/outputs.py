"""A run's outputs: what `summary.json` holds, the files a finished run writes, the tables it prints."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from retain.config import Config
from retain.experiment.result import event_marks, forgotten_cells
from retain.experiment.sequence import Trained
from retain.metrics import old_new_accuracy, summarise
from retain.runs.model_file import save_model
from retain.runs.report import matrix_table, metrics_table, plot_accuracy_matrix, unlearning_table
from retain.runs.store import RunFolder
from retain.scenarios import Benchmark
from retain.training.loop import SequenceResult


def summary_of(cfg: Config, benchmark: Benchmark, result: SequenceResult, seconds: float) -> dict[str, Any]:
    """What `summary.json` holds: the metrics of the accuracy matrix and how the run went."""
    assert result.data_path is not None  # run_sequence always chooses one
    summary = {
        **summarise(result.accuracy_matrix),
        "train_seconds_per_task": result.train_seconds_per_task,
        "total_seconds": seconds,
        "seed": cfg.seed,
        "benchmark": benchmark.name,
        "scenario": cfg.scenario,
        "algorithm": cfg.algorithm.name,
        "unlearning_events": {str(t): list(us) for t, us in sorted(cfg.unlearning.requests.items())},
        "data_path": result.data_path.name,
        "data_path_reason": result.data_path.reason,
    }
    if cfg.train.on_nan == "skip_batch":
        summary["skipped_batches_per_task"] = result.skipped_batches_per_task
    if cfg.scenario == "cil":  # the recency bias of the growing head, row by row
        summary.update(old_new_accuracy(result.accuracy_matrix))
    if benchmark.tasks and benchmark.tasks[0].has_validation:
        summary["best_epoch_per_task"] = result.best_epoch_per_task
    return summary


def write_results(
    folder: RunFolder,
    cfg: Config,
    trained: Trained,
    result: SequenceResult,
    summary: dict[str, Any],
    unlearning: dict[str, Any] | None,
    label: str,
) -> None:
    """The run's results, `summary.json` last (its presence marks the run complete)."""
    save_model(folder.path, trained.algorithm, trained.benchmark)
    folder.write_accuracy_csv(result.accuracy_matrix)
    plot_accuracy_matrix(result.accuracy_matrix, folder.path / "plots", label, event_marks(cfg), forgotten_cells(cfg))
    if unlearning is not None:
        folder.write_json("unlearning.json", unlearning)
    folder.write_json("summary.json", summary)  # last: its presence marks the run complete


def print_results(
    console: Console,
    cfg: Config,
    result: SequenceResult,
    summary: dict[str, Any],
    unlearning: dict[str, Any] | None,
    folder: RunFolder | None,
    label: str,
) -> None:
    """The run's tables on the terminal: data path, accuracy matrix, metrics, unlearning."""
    assert result.data_path is not None
    console.print(f"data path: {result.data_path.name} ({result.data_path.reason})")
    cil = cfg.scenario == "cil"
    console.print(matrix_table(result.accuracy_matrix, f"accuracy matrix: {label}", event_marks(cfg), cil))
    console.print(metrics_table({cfg.algorithm.name: summary}))
    if unlearning is not None:
        console.print(unlearning_table(unlearning))
    if folder:
        console.print(f"run folder: {folder.path}")
