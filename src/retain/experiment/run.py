"""Run one experiment: build it from its config, train the tasks in order, test after each, write the run folder.

`run` is the story of an experiment in order: check the config, open (or reopen) the run folder,
train the sequence (`retain.training.loop.run_sequence`), judge any unlearning against its references,
then write the results and print them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from retain.algorithms import Algorithm
from retain.config import Config, config_to_dict
from retain.errors import ConfigError
from retain.experiment.build import as_config, build
from retain.experiment.references import ReferenceTraining, check_given_references, evaluate_unlearning
from retain.experiment.result import RunResult, environment, event_marks
from retain.experiment.resume import open_run
from retain.metrics import summarise
from retain.runs.checkpoint import CheckpointSession, has_checkpoint
from retain.runs.loggers import JsonlLogger, Loggers, ProgressLogger, TensorBoardLogger, require_tensorboard
from retain.runs.model_file import save_model
from retain.runs.report import matrix_table, metrics_table, plot_accuracy_matrix, unlearning_table
from retain.runs.resume import ResumedRun, restore
from retain.runs.signals import stop_on_signals
from retain.runs.store import RunFolder, atomic_write_bytes, default_run_name, resource_failure
from retain.scenarios import Benchmark
from retain.training.distributed import Distributed, process_group
from retain.training.loop import LoopLogger, LoopSession, ResumePoint, SequenceResult, resolve_device, run_sequence
from retain.unlearning.requests import check_leaves_a_task

StepHook = Callable[[int, int, int], None]


@dataclass(frozen=True)
class _Options:
    """How `run` was asked to run: where to write, whether to, where to print, and the test hook."""

    out: str | Path | None
    write: bool
    console: Console | None
    progress: bool
    step_hook: StepHook | None


def run(
    config: Config | Mapping[str, Any] | None = None,
    *,
    out: str | Path | None = None,
    write: bool = True,
    console: Console | None = None,
    progress: bool = True,
    resume: str | Path | None = None,
    force: bool = False,
    step_hook: Callable[[int, int, int], None] | None = None,
) -> RunResult:
    """Run one experiment: train the tasks in order, test after each, return and save the results.

    A written run checkpoints after every task (`RUN/checkpoints/`); SIGINT/SIGTERM stop it after the
    current step with a checkpoint (`RunInterrupted`), and `resume=RUN` continues it. With unlearning
    requests (and `unlearning.evaluate`), the unlearned model is judged against the retrain and
    original references and `unlearning.json` is written.

    Args:
        config: the experiment (a Config, a mapping as in YAML, or None for the defaults; with
            `resume`, None means the run's own config).
        out: the run folder; default `config.out`, else `runs/<benchmark>-<scenario>-<algorithm>-seed<S>-<time>`.
        write: False runs without writing any file (and without checkpoints).
        console: where tables and the progress bar go (default: the terminal).
        progress: show the progress bar and print the tables.
        resume: an earlier run's folder to continue from its last complete checkpoint.
        force: with `resume`, accept a config that differs from the checkpoint's.
        step_hook: called before every training step with (task id, epoch, step); for tests.
    """
    resumed = None
    if resume is not None:
        if out is not None or not write:
            raise ConfigError("--out", out, "not used with --resume: a resumed run continues in its own folder")
        resumed = open_run(resume, None if config is None else as_config(config), force)
    with contextlib.ExitStack() as stack:  # the run folder's lock is held until the run ends
        if resumed:
            folder = resumed.folder
            stack.push(lambda kind, err, tb: _after_run(folder, err, created=False))
        cfg = resumed.config if resumed else as_config(config)
        if cfg.logging.tensorboard and not write:
            raise ConfigError("logging.tensorboard", True, "needs a run folder to write to (write=True)")
        if cfg.logging.tensorboard:
            require_tensorboard()  # fail before the run folder exists, not after
        if cfg.unlearning.requests and cfg.unlearning.evaluate:
            check_given_references(cfg)  # reference folders to reuse: checked before anything is trained
        with process_group(resolve_device(cfg.train.device)) as (ranks, device):
            return _run_on(cfg, resumed, ranks, device, _Options(out, write, console, progress, step_hook), stack)
    raise AssertionError("unreachable")  # mypy: the with block returns or raises


def _run_on(
    cfg: Config,
    resumed: ResumedRun | None,
    ranks: Distributed,
    device: torch.device,
    opts: _Options,
    stack: contextlib.ExitStack,
) -> RunResult:
    """The body of `run` once the config, the device and this process's rank are known; a new run folder
    is released (or, failing before its first checkpoint, removed) when `stack` closes."""
    lead = ranks.rank == 0  # under torchrun only rank 0 writes files and prints
    benchmark, algorithm = build(cfg)
    if cfg.unlearning.requests and cfg.unlearning.evaluate:  # the task count may be known only now
        check_leaves_a_task(cfg.unlearning.requests, benchmark.num_tasks)
    generator = torch.Generator().manual_seed(cfg.seed)
    start_at, elapsed, folder = None, 0.0, None
    if resumed:
        folder = resumed.folder
        start_at, elapsed = _continue(resumed, cfg, algorithm, benchmark, generator, device)
    elif opts.write and lead:
        folder = _new_folder(cfg, benchmark, device, opts.out, stack)
    console = opts.console or Console(stderr=False)
    progress = opts.progress and lead
    label = f"{cfg.algorithm.name} on {benchmark.name} ({cfg.scenario})"
    clock = time.perf_counter() - elapsed
    trained = _Trained(algorithm, benchmark, generator, device, ranks)
    result = _train(cfg, trained, folder, start_at, elapsed, console if progress else None, label, opts.step_hook)
    summary = _summary(cfg, benchmark, result, time.perf_counter() - clock)
    unlearning = None
    if cfg.unlearning.requests and cfg.unlearning.evaluate:
        resume_command = f"retain run --resume {folder.path}" if folder else None
        how = ReferenceTraining(run, console, opts.step_hook, resume_command)
        unlearning = evaluate_unlearning(cfg, benchmark, algorithm, result.accuracy_matrix[-1], device, folder, how)
    if folder:
        _write_results(folder, cfg, trained, result, summary, unlearning, label)
    if progress:
        _print_results(console, cfg, result, summary, unlearning, folder, label)
    return RunResult(summary, cfg, folder.path if folder else None, algorithm, benchmark, unlearning)


@dataclass(frozen=True)
class _Trained:
    """What is trained and where: the algorithm (its model), the benchmark, the data RNG, device and ranks."""

    algorithm: Algorithm
    benchmark: Benchmark
    generator: torch.Generator
    device: torch.device
    ranks: Distributed


def _train(
    cfg: Config,
    trained: _Trained,
    folder: RunFolder | None,
    start_at: ResumePoint | None,
    elapsed: float,
    bar_console: Console | None,
    label: str,
    step_hook: StepHook | None,
) -> SequenceResult:
    """Train the task sequence with the run's loggers, checkpoints, signal handling and progress bar."""
    loggers: list[LoopLogger] = [JsonlLogger(folder)] if folder else []
    session = LoopSession()
    if folder:
        every, keep = cfg.checkpoint.every_epochs, cfg.checkpoint.keep
        session = CheckpointSession(folder, config_to_dict(cfg), every, keep, elapsed, step_hook)
    with contextlib.ExitStack() as stack:
        if folder and cfg.logging.tensorboard:
            board = TensorBoardLogger(folder.path / "tensorboard")
            stack.callback(board.close)
            loggers.append(board)
        if folder:
            stack.enter_context(stop_on_signals(session))
        if bar_console is not None:
            bar = stack.enter_context(ProgressLogger(bar_console, trained.benchmark.num_tasks, cfg.train.epochs, label))
            bar.skip(_epochs_done(start_at, cfg.train.epochs))
            loggers.append(bar)
        return run_sequence(
            trained.algorithm, trained.benchmark, cfg.train, trained.generator, trained.device, Loggers(*loggers),
            session, start_at, trained.ranks,
        )  # fmt: skip


def _summary(cfg: Config, benchmark: Benchmark, result: SequenceResult, seconds: float) -> dict[str, Any]:
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
    if benchmark.tasks and benchmark.tasks[0].has_validation:
        summary["best_epoch_per_task"] = result.best_epoch_per_task
    return summary


def _write_results(
    folder: RunFolder,
    cfg: Config,
    trained: _Trained,
    result: SequenceResult,
    summary: dict[str, Any],
    unlearning: dict[str, Any] | None,
    label: str,
) -> None:
    save_model(folder.path, trained.algorithm, trained.benchmark)
    folder.write_accuracy_csv(result.accuracy_matrix)
    plot_accuracy_matrix(result.accuracy_matrix, folder.path / "plots", label, event_marks(cfg))
    if unlearning is not None:
        folder.write_json("unlearning.json", unlearning)
    folder.write_json("summary.json", summary)  # last: its presence marks the run complete


def _print_results(
    console: Console,
    cfg: Config,
    result: SequenceResult,
    summary: dict[str, Any],
    unlearning: dict[str, Any] | None,
    folder: RunFolder | None,
    label: str,
) -> None:
    assert result.data_path is not None
    console.print(f"data path: {result.data_path.name} ({result.data_path.reason})")
    console.print(matrix_table(result.accuracy_matrix, f"accuracy matrix: {label}", event_marks(cfg)))
    console.print(metrics_table({cfg.algorithm.name: summary}))
    if unlearning is not None:
        console.print(unlearning_table(unlearning))
    if folder:
        console.print(f"run folder: {folder.path}")


def _new_folder(
    cfg: Config, benchmark: Benchmark, device: torch.device, out: str | Path | None, stack: contextlib.ExitStack
) -> RunFolder:
    """A fresh run folder holding the resolved config and the environment, locked until `stack` closes;
    removed then if the run failed before its first checkpoint (nothing half-written blocks a retry)."""
    name = default_run_name(benchmark.name, str(cfg.scenario), cfg.algorithm.name, cfg.seed)
    folder = RunFolder(out or cfg.out or Path("runs") / name)
    stack.push(lambda kind, err, tb: _after_run(folder, err, created=True))
    folder.write_yaml("config.yaml", config_to_dict(cfg))
    folder.write_json("env.json", environment(device))
    return folder


def _after_run(folder: RunFolder, failure: BaseException | None, created: bool) -> None:
    """Release the folder. A new run failing (an `Exception`; a kill or its stand-in leaves the folder
    resumable) before its first checkpoint removes it; an OS error or out-of-memory becomes one line
    saying whether the checkpoint is intact and how to resume."""
    if created and isinstance(failure, Exception) and not has_checkpoint(folder.path):
        folder.discard()
    folder.release()
    if failure is not None and (plain := resource_failure(failure, folder.path)) is not None:
        raise plain from None


def _continue(
    resumed: ResumedRun,
    cfg: Config,
    algorithm: Algorithm,
    benchmark: Benchmark,
    generator: torch.Generator,
    device: torch.device,
) -> tuple[ResumePoint | None, float]:
    """Restore a resumed run (see `retain.runs.resume`); returns where to start and the time spent so far."""
    if resumed.changed:  # forced: keep the config it started with next to the new one
        previous = (resumed.folder.path / "config.yaml").read_bytes()  # checked: not a link (RunFolder)
        atomic_write_bytes(resumed.folder.path / "config.previous.yaml", previous)
        resumed.folder.write_yaml("config.yaml", config_to_dict(cfg))
    start_at = restore(resumed, algorithm, benchmark, generator, device)
    return start_at, resumed.checkpoint["elapsed_seconds"] if resumed.checkpoint else 0.0


def _epochs_done(start_at: ResumePoint | None, epochs: int) -> int:
    if start_at is None:
        return 0
    return len(start_at.result.accuracy_matrix) * epochs + (start_at.progress.epoch if start_at.progress else 0)
