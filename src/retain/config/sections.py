"""The config's sections around training: checkpoints, loggers (TensorBoard, W&B, MLflow), the exemplar
memory and how the model is tested. Each frozen dataclass checks its own values (`retain.config.schema`
assembles them into `Config`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from retain.config.checks import non_negative, positive
from retain.errors import ConfigError


@dataclass(frozen=True)
class CheckpointConfig:
    """Checkpoints in `RUN/checkpoints/`: always one per finished task; optionally mid-task ones.

    `every_epochs: N` (> 0) also writes `progress.pt` every N epochs inside a task (optimizer
    included); 0 writes task checkpoints only. `keep: last` deletes older task checkpoints; `keep:
    reachable` keeps the last one and those that the run's unlearning requests will restore (the
    task before each request's first unlearned task, and before the first of all of them), and deletes
    the rest.
    """

    every_epochs: int = 0
    keep: Literal["all", "last", "reachable"] = "all"

    def __post_init__(self) -> None:
        non_negative("every_epochs", self.every_epochs)


@dataclass(frozen=True)
class WandbConfig:
    """Weights & Biases (`pip install "retain[wandb]"`). `mode: offline` (default) writes under the run
    folder for a later `wandb sync`; `online` needs a network and a login."""

    project: str = "retain"
    mode: Literal["offline", "online"] = "offline"
    entity: str | None = None
    name: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class MlflowConfig:
    """MLflow (`pip install "retain[mlflow]"`). `tracking_uri: null` (default) keeps a local store in
    `<run folder>/mlruns`; a server URI (`http://...`) needs a network."""

    tracking_uri: str | None = None
    experiment: str = "retain"
    run_name: str | None = None


@dataclass(frozen=True)
class LoggingConfig:
    """Optional loggers on top of `metrics.jsonl` (always written). `tensorboard: true` writes the run's
    losses, accuracies and accuracy matrix to `<run folder>/tensorboard` (needs `pip install tensorboard`).
    `wandb` and `mlflow`: `true` (their defaults) or a section of options; rank 0 only under torchrun."""

    tensorboard: bool = False
    wandb: bool | WandbConfig = False
    mlflow: bool | MlflowConfig = False


@dataclass(frozen=True)
class MemoryConfig:
    """An exemplar memory replayed with any algorithm (docs/memory.md); off unless `size` or `per_class`.

    `size` exemplars in total, shared equally by the classes seen, or `per_class` for each class (not
    both); `selection: random` or `herding` (iCaRL's, on the backbone's normalised features). The memory
    is rebuilt at the end of every task; its exemplars are appended to each later task's training data.
    `weight_aligning` (CIL only) rescales each new task's output weights to the old ones' mean norm (WA).
    """

    size: int | None = None
    per_class: int | None = None
    selection: Literal["random", "herding"] = "random"
    weight_aligning: bool = False

    def __post_init__(self) -> None:
        for key in ("size", "per_class"):
            if getattr(self, key) is not None:
                positive(key, getattr(self, key))
        if self.size is not None and self.per_class is not None:
            raise ConfigError(
                "per_class",
                self.per_class,
                f"not together with size = {self.size}: give a total (size) or a per-class budget",
            )
        if self.weight_aligning and not self.enabled:
            raise ConfigError("weight_aligning", True, "only with a memory (set size or per_class)")

    @property
    def enabled(self) -> bool:
        return self.size is not None or self.per_class is not None


@dataclass(frozen=True)
class EvalConfig:
    """How the model is tested: `classifier: head` (the model's heads) or `nme` (the nearest mean of the
    memory's exemplars in normalised feature space, iCaRL's classifier; needs a memory)."""

    classifier: Literal["head", "nme"] = "head"
