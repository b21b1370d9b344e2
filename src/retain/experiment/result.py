"""What a run gives back (`RunResult`), a finished run read back from its folder, and what `env.json` records."""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from retain._version import __version__
from retain.algorithms import Algorithm
from retain.config import Config, read_config_data
from retain.errors import DataError
from retain.experiment.build import build, config_from_dict
from retain.runs.model_file import FILENAME as MODEL_FILE
from retain.runs.model_file import load_model_file
from retain.runs.model_file import restore as restore_model
from retain.scenarios import Benchmark
from retain.training.loop import resolve_device
from retain.training.threads import ThreadChoice, usable_cores


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


def environment(device: torch.device, threads: ThreadChoice | None = None) -> dict[str, Any]:
    """What `env.json` records about the machine, the library versions and the CPU threads chosen."""
    return {
        "retain": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "cuda": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        "threads_setting": threads.setting if threads else None,
        "threads_reason": threads.reason if threads else None,
        "usable_cores": usable_cores(),
    }


def event_marks(cfg: Config) -> dict[int, str]:
    """Row labels for the accuracy matrix: after task t, which tasks were unlearned."""
    return {t: "unlearned " + ", ".join(map(str, us)) for t, us in cfg.unlearning.requests.items()}


def forgotten_cells(cfg: Config) -> dict[int, int]:
    """Unlearned task → the accuracy-matrix row of its request (outlined on the heatmap)."""
    return {u: t for t, us in cfg.unlearning.requests.items() for u in us}
