"""The Python API: build and run one experiment from a Config, writing a run folder."""

from __future__ import annotations

import contextlib
import json
import platform
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from retain.algorithms import ALGORITHMS, Algorithm

__all__ = ["RunResult", "as_config", "build", "build_algorithm", "compare", "event_marks", "load_run", "run"]
from retain.config import Config, config_to_dict, read_config_data
from retain.errors import ConfigError, DataError
from retain.experiment.build import as_config, build, build_algorithm, config_from_dict, keep_own_hyperparameters
from retain.metrics import summarise
from retain.runs.checkpoint import CheckpointSession
from retain.runs.loggers import JsonlLogger, Loggers, ProgressLogger, TensorBoardLogger, require_tensorboard
from retain.runs.model_file import FILENAME as MODEL_FILE
from retain.runs.model_file import load_model_file, save_model
from retain.runs.model_file import restore as restore_model
from retain.runs.report import matrix_table, metrics_table, plot_accuracy_matrix, unlearning_table
from retain.runs.resume import ResumedRun, open_run, restore
from retain.runs.signals import stop_on_signals
from retain.runs.store import RunFolder, default_run_name
from retain.scenarios import Benchmark
from retain.scenarios.setting import upper_bound
from retain.training.distributed import Distributed, process_group
from retain.training.loop import LoopLogger, LoopSession, ResumePoint, resolve_device, run_sequence


@dataclass(frozen=True)
class RunResult:
    """What `run` returns: the summary (as in `summary.json`), the config, the run folder (if written),
    and the trained algorithm (its `.model`) with the benchmark it learnt."""

    summary: dict[str, Any]
    config: Config
    path: Path | None
    algorithm: Algorithm | None = field(default=None, repr=False, compare=False)
    benchmark: Benchmark | None = field(default=None, repr=False, compare=False)
    unlearning: dict[str, Any] | None = None


def environment(device: torch.device) -> dict[str, Any]:
    """What `env.json` records about the machine and the library versions."""
    from retain import __version__

    return {
        "retain": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "cuda": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "threads": torch.get_num_threads(),
    }


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
    cfg = resumed.config if resumed else as_config(config)
    if cfg.logging.tensorboard and not write:
        raise ConfigError("logging.tensorboard", True, "needs a run folder to write to (write=True)")
    if cfg.logging.tensorboard:
        require_tensorboard()  # fail before the run folder exists, not after
    if cfg.unlearning.requests and cfg.unlearning.evaluate:
        from retain.unlearning.workflow import check_given_references

        check_given_references(cfg)  # reference folders to reuse: checked before anything is trained
    with process_group(resolve_device(cfg.train.device)) as (ranks, device):
        return _run_on(cfg, resumed, ranks, device, out, write, console, progress, step_hook)


def _run_on(
    cfg: Config,
    resumed: ResumedRun | None,
    ranks: Distributed,
    device: torch.device,
    out: str | Path | None,
    write: bool,
    console: Console | None,
    progress: bool,
    step_hook: Callable[[int, int, int], None] | None,
) -> RunResult:
    """The body of `run` once the config, the device and this process's rank are known."""
    if ranks.rank > 0:  # under torchrun only rank 0 writes files and prints
        write, progress = False, False
    benchmark, algorithm = build(cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    start_at, elapsed = None, 0.0
    if resumed:
        folder = resumed.folder
        start_at, elapsed = _continue(resumed, cfg, algorithm, benchmark, generator, device)
    else:
        folder = _new_folder(cfg, benchmark, device, out) if write else None
    console = console or Console(stderr=False)
    loggers: list[LoopLogger] = [JsonlLogger(folder)] if folder else []
    board = TensorBoardLogger(folder.path / "tensorboard") if folder and cfg.logging.tensorboard else None
    if board:
        loggers.append(board)
    session = (
        CheckpointSession(
            folder, config_to_dict(cfg), cfg.checkpoint.every_epochs, cfg.checkpoint.keep, elapsed, step_hook
        )
        if folder
        else LoopSession()
    )
    clock = time.perf_counter() - elapsed
    label = f"{cfg.algorithm.name} on {benchmark.name} ({cfg.scenario})"
    try:
        with stop_on_signals(session) if folder else contextlib.nullcontext():
            if progress:
                with ProgressLogger(console, benchmark.num_tasks, cfg.train.epochs, label) as bar:
                    bar.skip(_epochs_done(start_at, cfg.train.epochs))
                    result = run_sequence(
                        algorithm,
                        benchmark,
                        cfg.train,
                        generator,
                        device,
                        Loggers(*loggers, bar),
                        session,
                        start_at,
                        ranks,
                    )
            else:
                result = run_sequence(
                    algorithm, benchmark, cfg.train, generator, device, Loggers(*loggers), session, start_at, ranks
                )
    finally:
        if board:
            board.close()
    summary = {
        **summarise(result.accuracy_matrix),
        "train_seconds_per_task": result.train_seconds_per_task,
        "total_seconds": time.perf_counter() - clock,
        "seed": cfg.seed,
        "benchmark": benchmark.name,
        "scenario": cfg.scenario,
        "algorithm": cfg.algorithm.name,
        "unlearning_events": {str(t): list(us) for t, us in sorted(cfg.unlearning.requests.items())},
        "data_path": result.data_path.name,
        "data_path_reason": result.data_path.reason,
    }
    if benchmark.tasks and benchmark.tasks[0].has_validation:
        summary["best_epoch_per_task"] = result.best_epoch_per_task
    unlearning = None
    if cfg.unlearning.requests and cfg.unlearning.evaluate:
        from retain.unlearning.workflow import evaluate_unlearning  # it trains references through run()

        unlearning = evaluate_unlearning(
            cfg,
            benchmark,
            algorithm,
            result.accuracy_matrix[-1],
            device,
            folder,
            console,
            step_hook,
            f"retain run --resume {folder.path}" if folder else None,
        )
    if folder:
        save_model(folder.path, algorithm, benchmark)
        folder.write_accuracy_csv(result.accuracy_matrix)
        plot_accuracy_matrix(result.accuracy_matrix, folder.path / "plots", label, event_marks(cfg))
        if unlearning is not None:
            folder.write_json("unlearning.json", unlearning)
        folder.write_json("summary.json", summary)  # last: its presence marks the run complete
    if progress:
        console.print(f"data path: {result.data_path.name} ({result.data_path.reason})")
        console.print(matrix_table(result.accuracy_matrix, f"accuracy matrix: {label}", event_marks(cfg)))
        console.print(metrics_table({cfg.algorithm.name: summary}))
        if unlearning is not None:
            console.print(unlearning_table(unlearning))
        if folder:
            console.print(f"run folder: {folder.path}")
    return RunResult(summary, cfg, folder.path if folder else None, algorithm, benchmark, unlearning)


def event_marks(cfg: Config) -> dict[int, str]:
    """Row labels for the accuracy matrix: after task t, which tasks were unlearned."""
    return {t: "unlearned " + ", ".join(map(str, us)) for t, us in cfg.unlearning.requests.items()}


def load_run(path: str | Path, device: torch.device | None = None) -> RunResult:
    """Rebuild a finished run from its folder: config, summary and the trained model (`model.pt`)."""
    folder = Path(path)
    if not (folder / "config.yaml").is_file():
        raise DataError(f"{folder} is not a run folder: config.yaml is missing")
    cfg = config_from_dict(read_config_data(folder / "config.yaml"))
    device = device or resolve_device(cfg.train.device)
    benchmark, algorithm = build(cfg)
    restore_model(algorithm, load_model_file(folder / MODEL_FILE), device)
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{folder / 'summary.json'} cannot be read: {err}") from None
    return RunResult(summary, cfg, folder, algorithm, benchmark)


def _new_folder(cfg: Config, benchmark: Benchmark, device: torch.device, out: str | Path | None) -> RunFolder:
    """A fresh run folder holding the resolved config and the environment."""
    name = default_run_name(benchmark.name, cfg.scenario, cfg.algorithm.name, cfg.seed)
    folder = RunFolder(out or cfg.out or Path("runs") / name)
    folder.write_yaml("config.yaml", config_to_dict(cfg))
    folder.write_json("env.json", environment(device))
    return folder


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
        shutil.copyfile(resumed.folder.path / "config.yaml", resumed.folder.path / "config.previous.yaml")
        resumed.folder.write_yaml("config.yaml", config_to_dict(cfg))
    start_at = restore(resumed, algorithm, benchmark, generator, device)
    return start_at, resumed.checkpoint["elapsed_seconds"] if resumed.checkpoint else 0.0


def _epochs_done(start_at: ResumePoint | None, epochs: int) -> int:
    if start_at is None:
        return 0
    return len(start_at.result.accuracy_matrix) * epochs + (start_at.progress.epoch if start_at.progress else 0)


def compare(
    config: Mapping[str, Any] | None = None,
    algorithms: Sequence[str] | None = None,
    *,
    out: str | Path | None = None,
    write: bool = True,
    console: Console | None = None,
) -> dict[str, RunResult]:
    """Run the same experiment with several algorithms and print one table.

    The default algorithms are finetuning (lower bound), lwf, and the scenario's upper bound
    (independent for TIL, joint for DIL and CIL). Hyperparameters in `config["algorithm"]` go to the
    algorithms that have them; the others ignore them.
    """
    data = dict(config or {})
    base = config_from_dict({**data, "algorithm": {}})
    names = list(algorithms or ("finetuning", "lwf", upper_bound(base.scenario)))
    console = console or Console()
    root = Path(
        out
        or data.get("out")
        or Path("runs") / f"compare-{base.benchmark.name}-{base.scenario}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    results = {}
    for name in names:
        if name not in ALGORITHMS:
            raise ConfigError("--algorithms", name, f"expected registered algorithms ({', '.join(ALGORITHMS)})")
        cfg = config_from_dict({**keep_own_hyperparameters(data, name), "out": None})
        results[name] = run(cfg, out=root / name if write else None, write=write, console=console, progress=False)
        console.log(f"{name}: final average accuracy {results[name].summary['final_average_accuracy']:.4f}")
    console.print(
        metrics_table(
            {n: r.summary for n, r in results.items()}, f"{base.benchmark.name} · {base.scenario} · seed {base.seed}"
        )
    )
    if write:
        console.print(f"run folders: {root}/")
    return results
