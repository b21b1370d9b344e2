"""The Python API: build and run one experiment from a Config, writing a run folder."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from retain.algorithms import ALGORITHMS, Algorithm
from retain.config import Config, config_from_dict, config_to_dict
from retain.errors import ConfigError
from retain.metrics import summarise
from retain.models import ContinualModel, build_backbone
from retain.runs.loggers import JsonlLogger, Loggers, ProgressLogger, TensorBoardLogger, require_tensorboard
from retain.runs.report import matrix_table, metrics_table, plot_accuracy_matrix
from retain.runs.store import RunFolder, default_run_name
from retain.scenarios import Benchmark, build_benchmark
from retain.scenarios.setting import make_heads
from retain.training import resolve_device, run_sequence
from retain.training.loop import LoopLogger


@dataclass(frozen=True)
class RunResult:
    """What `run` returns: the summary (as in `summary.json`), the config and the run folder (if written)."""

    summary: dict[str, Any]
    config: Config
    path: Path | None


def as_config(config: Config | Mapping[str, Any] | None) -> Config:
    """Accept a Config, a plain mapping (as in YAML) or None (every default)."""
    if isinstance(config, Config):
        return config.resolved()
    return config_from_dict(config or {})


def build(cfg: Config) -> tuple[Benchmark, Algorithm]:
    """Build the benchmark, the model and the algorithm of `cfg` (seeds the model's initialisation)."""
    cfg = cfg.resolved()
    benchmark = build_benchmark(cfg.benchmark, cfg.scenario, cfg.seed)
    torch.manual_seed(cfg.seed)  # the model's initial weights follow the run's seed
    try:
        backbone = build_backbone(cfg.backbone, benchmark.input_shape)
    except ValueError as err:
        raise ConfigError("backbone", cfg.backbone.name, str(err)) from None
    model = ContinualModel(backbone, make_heads(cfg.scenario, backbone.output_dim))
    algorithm = ALGORITHMS[cfg.algorithm.name](model, cfg.algorithm.params)
    return benchmark, algorithm


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
) -> RunResult:
    """Run one experiment: train the tasks in order, test after each, return and save the results.

    Args:
        config: the experiment (a Config, a mapping as in YAML, or None for the defaults).
        out: the run folder; default `config.out`, else `runs/<benchmark>-<scenario>-<algorithm>-seed<S>-<time>`.
        write: False runs without writing any file.
        console: where tables and the progress bar go (default: the terminal).
        progress: show the progress bar and print the tables.
    """
    cfg = as_config(config)
    if cfg.logging.tensorboard and not write:
        raise ConfigError("logging.tensorboard", True, "needs a run folder to write to (write=True)")
    if cfg.logging.tensorboard:
        require_tensorboard()  # fail before the run folder exists, not after
    device = resolve_device(cfg.train.device)
    benchmark, algorithm = build(cfg)
    folder = None
    if write:
        name = default_run_name(benchmark.name, cfg.scenario, cfg.algorithm.name, cfg.seed)
        folder = RunFolder(out or cfg.out or Path("runs") / name)
        folder.write_yaml("config.yaml", config_to_dict(cfg))
        folder.write_json("env.json", environment(device))
    console = console or Console(stderr=False)
    loggers: list[LoopLogger] = [JsonlLogger(folder)] if folder else []
    board = TensorBoardLogger(folder.path / "tensorboard") if folder and cfg.logging.tensorboard else None
    if board:
        loggers.append(board)
    generator = torch.Generator().manual_seed(cfg.seed)
    start = time.perf_counter()
    label = f"{cfg.algorithm.name} on {benchmark.name} ({cfg.scenario})"
    try:
        if progress:
            with ProgressLogger(console, benchmark.num_tasks, cfg.train.epochs, label) as bar:
                result = run_sequence(algorithm, benchmark, cfg.train, generator, device, Loggers(*loggers, bar))
        else:
            result = run_sequence(algorithm, benchmark, cfg.train, generator, device, Loggers(*loggers))
    finally:
        if board:
            board.close()
    summary = {
        **summarise(result.accuracy_matrix),
        "train_seconds_per_task": result.train_seconds_per_task,
        "total_seconds": time.perf_counter() - start,
        "seed": cfg.seed,
        "benchmark": benchmark.name,
        "scenario": cfg.scenario,
        "algorithm": cfg.algorithm.name,
    }
    if folder:
        folder.write_accuracy_csv(result.accuracy_matrix)
        plot_accuracy_matrix(result.accuracy_matrix, folder.path / "plots", label)
        folder.write_json("summary.json", summary)
    if progress:
        console.print(matrix_table(result.accuracy_matrix, f"accuracy matrix: {label}"))
        console.print(metrics_table({cfg.algorithm.name: summary}))
        if folder:
            console.print(f"run folder: {folder.path}")
    return RunResult(summary, cfg, folder.path if folder else None)


UPPER_BOUND = {"til": "independent", "dil": "joint", "cil": "joint"}


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
    names = list(algorithms or ("finetuning", "lwf", UPPER_BOUND[base.scenario]))
    console = console or Console()
    root = Path(out or data.get("out") or Path("runs") / f"compare-{base.benchmark.name}-{base.scenario}-{time.strftime('%Y%m%d-%H%M%S')}")
    results = {}
    for name in names:
        if name not in ALGORITHMS:
            raise ConfigError("--algorithms", name, f"expected registered algorithms ({', '.join(ALGORITHMS)})")
        params = {f: v for f, v in dict(data.get("algorithm") or {}).items() if f in _param_names(name)}
        cfg = config_from_dict({**data, "out": None, "algorithm": {"name": name, **params}})
        results[name] = run(cfg, out=root / name if write else None, write=write, console=console, progress=False)
        console.log(f"{name}: final average accuracy {results[name].summary['final_average_accuracy']:.4f}")
    console.print(metrics_table({n: r.summary for n, r in results.items()}, f"{base.benchmark.name} · {base.scenario} · seed {base.seed}"))
    if write:
        console.print(f"run folders: {root}/")
    return results


def _param_names(algorithm: str) -> set[str]:
    import dataclasses

    return {f.name for f in dataclasses.fields(ALGORITHMS[algorithm].Params)}
