"""Experiment trackers: Weights & Biases and MLflow (`logging.wandb`, `logging.mlflow`; optional extras).

Each logs what `metrics.jsonl` holds (every loss term, train accuracy and seconds per epoch, the test
accuracy of each task after each task), the accuracy matrix after each task, the resolved config, and the
run's final summary (`summary.json`'s numbers, and `unlearning.json`'s when there is one). Both stay off the
network by default: W&B in offline mode under `<run folder>/wandb` (`wandb sync` uploads it later), MLflow
in a local SQLite store `<run folder>/mlruns/mlflow.db` with its artifacts beside it
(`mlflow ui --backend-store-uri sqlite:///<run folder>/mlruns/mlflow.db`).
Only rank 0 logs under torchrun (only it has a run folder). The libraries are imported when a run asks.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from retain.config import Config, config_to_dict
from retain.config.sections import MlflowConfig, WandbConfig
from retain.errors import ConfigError
from retain.training.loop import LoopLogger

EXTRAS = {"wandb": "wandb", "mlflow": "mlflow"}  # logging key → the package (and pip extra) it needs


def require(key: str) -> Any:
    """The tracker's module, or a one-line error naming the key and the install command."""
    try:
        return importlib.import_module(EXTRAS[key])
    except ImportError:
        raise ConfigError(
            f"logging.{key}", True, f'needs the {EXTRAS[key]} package (pip install "retain[{key}]"), or set it to false'
        ) from None


def wanted(cfg: Config) -> list[str]:
    """The trackers `cfg` switches on (`logging.wandb` / `logging.mlflow` set to true or to a section)."""
    return [key for key in EXTRAS if getattr(cfg.logging, key) is not False]


def numbers(data: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a nested mapping (lists of numbers indexed from 1), keyed `a/b/1`."""
    out: dict[str, float] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) and math.isfinite(value):
            out[name] = float(value)
        elif isinstance(value, Mapping):
            out.update(numbers(value, name + "/"))
        elif isinstance(value, list) and value and all(isinstance(v, int | float) for v in value):
            out.update(numbers({str(i): v for i, v in enumerate(value, start=1)}, name + "/"))
    return out


def flat_params(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """The config as `{dotted.key: text}` (MLflow parameters are strings)."""
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat_params(value, name + "."))
        else:
            out[name] = str(value)
    return out


class Tracker(LoopLogger):
    """A tracker run: the loop's reports, then `finish` with the results, then `close`."""

    def __init__(self) -> None:
        self.epochs_done = 0
        self.matrix: list[list[float]] = []

    def on_epoch(self, task_id: int, epoch: int, terms: dict[str, float], seconds: float) -> None:
        self.epochs_done += 1
        values = {f"train/{k}": float(v) for k, v in terms.items()}
        self.log({**values, "train/seconds": seconds, "train/task": task_id, "train/epoch": epoch})

    def on_evaluation(self, after_task: int, accuracies: list[float]) -> None:
        self.matrix.append(list(accuracies))
        values = {f"test/task_{j}": acc for j, acc in enumerate(accuracies, start=1)}
        self.log({**values, "test/average_accuracy": sum(accuracies) / len(accuracies), "test/after_task": after_task})
        self.log_matrix(after_task)

    def log(self, values: dict[str, float]) -> None:
        raise NotImplementedError

    def log_matrix(self, after_task: int) -> None:
        raise NotImplementedError

    def finish(self, summary: Mapping[str, Any], unlearning: Mapping[str, Any] | None) -> None:
        raise NotImplementedError

    def close(self, failed: bool = False) -> None:
        raise NotImplementedError


class WandbTracker(Tracker):
    """One W&B run per retain run; the step is the epoch count over all tasks."""

    def __init__(self, options: WandbConfig, config: dict[str, Any], folder: Path) -> None:
        super().__init__()
        wandb = require("wandb")
        self.wandb = wandb
        self.run = wandb.init(
            project=options.project,
            entity=options.entity,
            name=options.name or folder.name,
            tags=list(options.tags),
            mode=options.mode,
            dir=str(folder),
            config=config,
            reinit="create_new",
        )

    def log(self, values: dict[str, float]) -> None:
        self.run.log(values, step=self.epochs_done)

    def log_matrix(self, after_task: int) -> None:
        num = len(self.matrix)
        columns = ["after task", *[f"task {j}" for j in range(1, num + 1)]]
        rows = [[t, *row, *[None] * (num - len(row))] for t, row in enumerate(self.matrix, start=1)]
        self.run.log({"accuracy_matrix": self.wandb.Table(columns=columns, data=rows)}, step=self.epochs_done)

    def finish(self, summary: Mapping[str, Any], unlearning: Mapping[str, Any] | None) -> None:
        self.run.summary.update(numbers(summary))
        if unlearning:
            self.run.summary.update(numbers(unlearning, "unlearning/"))

    def close(self, failed: bool = False) -> None:
        self.run.finish(exit_code=1 if failed else 0)


class MlflowTracker(Tracker):
    """One MLflow run per retain run, through an `MlflowClient` (no process-wide active run)."""

    def __init__(self, options: MlflowConfig, config: dict[str, Any], folder: Path) -> None:
        super().__init__()
        mlflow = require("mlflow")
        store = (folder / "mlruns").resolve()
        if options.tracking_uri is None:
            store.mkdir(parents=True, exist_ok=True)
        uri = options.tracking_uri or f"sqlite:///{store / 'mlflow.db'}"
        self.client = mlflow.tracking.MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(options.experiment)
        artifacts = (store / "artifacts").as_uri() if options.tracking_uri is None else None
        experiment = found.experiment_id if found else self.client.create_experiment(options.experiment, artifacts)
        self.run_id = self.client.create_run(experiment, run_name=options.run_name or folder.name).info.run_id
        for key, value in flat_params(config).items():
            self.client.log_param(self.run_id, key, value[:6000])
        self.client.log_dict(self.run_id, config, "config.json")

    def log(self, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.client.log_metric(self.run_id, key, float(value), step=self.epochs_done)

    def log_matrix(self, after_task: int) -> None:
        self.client.log_dict(
            self.run_id, {"accuracy_matrix": self.matrix}, f"accuracy_matrix/after_task_{after_task}.json"
        )

    def finish(self, summary: Mapping[str, Any], unlearning: Mapping[str, Any] | None) -> None:
        for key, value in numbers(summary, "summary/").items():
            self.client.log_metric(self.run_id, key, value)
        self.client.log_dict(self.run_id, dict(summary), "summary.json")
        if unlearning:
            for key, value in numbers(unlearning, "unlearning/").items():
                self.client.log_metric(self.run_id, key, value)
            self.client.log_dict(self.run_id, dict(unlearning), "unlearning.json")

    def close(self, failed: bool = False) -> None:
        self.client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")


def open_trackers(cfg: Config, folder: Path | None, rank: int = 0) -> list[Tracker]:
    """The trackers `cfg` asks for, started; none off rank 0 or without a run folder."""
    if rank != 0 or folder is None:
        return []
    config = config_to_dict(cfg)
    trackers: list[Tracker] = []
    if cfg.logging.wandb is not False:
        trackers.append(WandbTracker(_options(cfg.logging.wandb, WandbConfig), config, folder))
    if cfg.logging.mlflow is not False:
        trackers.append(MlflowTracker(_options(cfg.logging.mlflow, MlflowConfig), config, folder))
    return trackers


def _options(value: Any, cls: type) -> Any:
    return cls() if value is True else value
