"""The experiment configuration: frozen dataclasses, one per section, each checking its own values.

These checks need nothing but the values themselves (ranges, types, keys that go together). What needs
the registries (known benchmark, backbone, algorithm and unlearning-method names, an algorithm's
hyperparameters, task ids that depend on a benchmark's size, the default scenario) is checked where a
config meets the components: `retain.experiment.build.check_config`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from retain.config.checks import check_seed, non_negative, positive
from retain.config.sections import CheckpointConfig, EvalConfig, LoggingConfig, MemoryConfig
from retain.errors import ConfigError, one_of

CUSTOM = "custom"  # the benchmark whose source is `benchmark.path`


@dataclass(frozen=True)
class BenchmarkConfig:
    """Which benchmark to build (`retain list` shows the names) and where its data lives.

    `val_fraction` moves that fraction of each task's training set into a validation set; when it is
    > 0 the loop keeps the weights of the epoch with the best validation accuracy (and stops early after
    `train.patience` epochs without improvement). `path` and `construction` (`split`, `permuted` or `rotated`) are for `name: custom`.
    """

    name: str = "split_digits"
    num_tasks: int | None = None
    classes_per_task: int | None = None
    class_order: Literal["fixed", "shuffle"] | tuple[int, ...] = "fixed"
    seed: int | None = None
    root: str | None = None
    download: bool = False
    without: tuple[int, ...] = ()
    val_fraction: float = 0.0
    augment: bool | None = None
    path: str | None = None
    construction: str | None = None

    def __post_init__(self) -> None:
        if self.num_tasks is not None:
            positive("num_tasks", self.num_tasks)
        if len(set(self.without)) != len(self.without) or any(t < 1 for t in self.without):
            raise ConfigError("without", list(self.without), "distinct task ids >= 1 (the tasks left out)")
        if self.classes_per_task is not None:
            positive("classes_per_task", self.classes_per_task)
        if not 0 <= self.val_fraction < 1:
            raise ConfigError("val_fraction", self.val_fraction, "expected 0 <= val_fraction < 1 (0: no validation)")
        if self.name == CUSTOM:
            if self.path is None:
                raise ConfigError("path", None, "required with name 'custom': a .npz file or an ImageFolder directory")
        else:
            for key in ("path", "construction"):
                if getattr(self, key) is not None:
                    raise ConfigError(
                        key, getattr(self, key), f"only used with name 'custom' (leave it null for {self.name!r})"
                    )
        check_seed("seed", self.seed)


PRETRAINED = ("timm", "torchvision")  # the backbones that take `model`, `weights`, `freeze`, ...
FREEZE = re.compile(r"none|all|blocks:[1-9][0-9]*")
PRETRAINED_DEFAULTS = {"model": None, "weights": None, "freeze": "none", "download": False, "image_size": None}
MAX_WIDTH = 1 << 16


@dataclass(frozen=True)
class BackboneConfig:
    """The feature extractor: `mlp` (uses `hidden`), `small_cnn` (uses `channels`), `resnet18`, or a
    pretrained network (docs/pretrained.md): `timm` (any timm architecture) or `torchvision` (its ResNets).

    For `timm` and `torchvision`: `model` names the architecture, `weights` a local weights file
    (.safetensors, .pth or a timm checkpoint), `freeze` what does not train (`none`, `all`, or `blocks:K`:
    all but the last K blocks), `download: true` lets timm/torchvision fetch their pretrained weights,
    `image_size` overrides the model's input size. `cache_features`: with `freeze: all` and no random
    augmentation, each task's features are computed once and the heads train on them (exact).
    """

    name: str = "mlp"
    hidden: tuple[int, ...] = (256, 256)
    channels: tuple[int, ...] = (32, 64)
    model: str | None = None
    weights: str | None = None
    freeze: str = "none"
    download: bool = False
    image_size: int | None = None
    cache_features: bool = True

    def __post_init__(self) -> None:
        for key in ("hidden", "channels"):
            values = getattr(self, key)
            if not values or any(v <= 0 for v in values):
                raise ConfigError(key, list(values), "a non-empty list of positive integers")
            if any(v > MAX_WIDTH for v in values):
                raise ConfigError(
                    key, list(values), f"widths of at most {MAX_WIDTH:,} (larger would not fit in memory)"
                )
        if not FREEZE.fullmatch(self.freeze):
            raise ConfigError(
                "freeze", self.freeze, "expected 'none', 'all' or 'blocks:K' (the last K blocks train, K >= 1)"
            )
        if self.image_size is not None:
            positive("image_size", self.image_size)
        if self.name in PRETRAINED:
            if not self.model:
                raise ConfigError("model", self.model, f"required with name {self.name!r}: an architecture name")
            return
        for key, default in PRETRAINED_DEFAULTS.items():
            if getattr(self, key) != default:
                raise ConfigError(
                    key, getattr(self, key), f"only used with name 'timm' or 'torchvision', not {self.name!r}"
                )


@dataclass(frozen=True)
class AlgorithmConfig:
    """The algorithm's registered name plus its hyperparameters.

    `params` holds the hyperparameters as given: a mapping read from YAML (`{lambda: 2}`), the
    algorithm's own `Params` object, or None for its defaults. The composition layer turns them into the
    algorithm's `Params`, checking every key (`retain.experiment.build.check_config`).
    """

    name: str = "lwf"
    params: Any = None

    @classmethod
    def from_mapping(cls, data: Any) -> AlgorithmConfig:
        """Split `{name: ..., <hyperparameter>: ...}` into the name and the hyperparameters."""
        return cls(name=data.get("name", cls.name), params={k: v for k, v in data.items() if k != "name"})


@dataclass(frozen=True)
class OptimizerConfig:
    """A fresh optimizer is built for every task (`sgd`, `adam` or `adamw`)."""

    name: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        positive("lr", self.lr)
        non_negative("momentum", self.momentum)
        non_negative("weight_decay", self.weight_decay)


@dataclass(frozen=True)
class TrainConfig:
    """How each task is trained: epochs, batch size, optimizer and device (`auto` picks CUDA if present).

    `data_path`: `device` keeps each task's uint8 data on the training device and batches by index;
    `loader` streams batches through a `DataLoader` (`num_workers` processes, pinned memory on CUDA);
    `auto` picks `device` when the benchmark fits in half the free device memory. `patience`: with a
    validation split, stop a task after that many epochs without a better validation accuracy.
    `precision: bf16` runs each training step's forward under bfloat16 autocast (backward and optimizer
    in float32); `channels_last` stores convolution weights and image batches channels-last (faster
    convolutions on recent GPUs; no effect on MLPs). `compile` compiles the backbone in place with
    `torch.compile` (`compile_backend`, default inductor): teachers copied from it run compiled too.
    `sync_batchnorm`: under torchrun on CUDA, `auto` turns the backbone's BatchNorm layers into
    SyncBatchNorm (statistics over the global batch, as in one process); on CPU ranks PyTorch has no
    SyncBatchNorm, so `auto` keeps per-rank statistics with a warning and `true` is refused.
    `threads`: torch's CPU threads; `auto` respects `OMP_NUM_THREADS` when set, else takes the idle
    cores this process may use (affinity, cgroup quota, what is busy now), and for a small fully
    connected model one thread unless more measure faster in a short trial; `retain.training.threads`
    explains the choice.
    """

    epochs: int = 5
    batch_size: int = 64
    eval_batch_size: int = 1024
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    data_path: Literal["auto", "device", "loader"] = "auto"
    num_workers: int = 2
    patience: int | None = None
    on_nan: Literal["stop", "skip_batch"] = "stop"
    skip_warn_fraction: float = 0.1  # skip_batch: warn when a task skips more than this share of its batches
    precision: Literal["fp32", "bf16"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    compile_backend: str = "inductor"
    sync_batchnorm: bool | Literal["auto"] = "auto"
    threads: int | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        if self.compile:
            from torch._dynamo import list_backends  # only when asked for: it is slow to import

            backends = list_backends(exclude_tags=())
            if self.compile_backend not in backends:
                raise ConfigError("compile_backend", self.compile_backend, one_of(backends, self.compile_backend))
        positive("epochs", self.epochs)
        positive("batch_size", self.batch_size)
        positive("eval_batch_size", self.eval_batch_size)
        non_negative("num_workers", self.num_workers)
        if self.threads != "auto":
            positive("threads", self.threads)
        if not 0.0 <= self.skip_warn_fraction <= 1.0:
            raise ConfigError("skip_warn_fraction", self.skip_warn_fraction, "a fraction between 0 and 1")
        if self.patience is not None:
            positive("patience", self.patience)


@dataclass(frozen=True)
class UnlearningConfig:
    """The unlearning method, its requests and how the result is judged (docs/unlearning.md).

    `method: amnesiac` wraps the algorithm (any of them) in amnesiac unlearning; `none` (the default)
    trains the algorithm alone, and refuses requests.

    `method: rewind` is exact unlearning: a request restores the task checkpoint before the first unlearned
    task and trains the following tasks again without the unlearned ones (needs `checkpoint.keep: all` or
    `reachable`).

    `requests: {4: [2]}` unlearns task 2 right after task 4 is trained. With `evaluate`, the retrain
    reference (the sequence without the unlearned tasks) and the original reference (no unlearning) are
    trained with the same seed, or read from the run folders given here, and AG/DD are reported; with
    `membership`, the membership-inference attacks too, each fitted on at most `membership_samples`
    members and as many non-members, refused before training when fewer than `membership_min_samples`
    of either (or of the unlearned tasks' samples) exist.
    """

    method: str = "none"
    requests: dict[int, tuple[int, ...]] = field(default_factory=dict)
    evaluate: bool = True
    distance: Literal["euclidean", "cosine", "manhattan", "linear_cka"] = "euclidean"
    ag_scope: Literal["all", "remaining", "unlearned"] = "remaining"
    dd_scope: Literal["all", "remaining", "unlearned"] = "unlearned"
    retrain_reference: str | None = None
    original_reference: str | None = None
    membership: bool = True
    membership_samples: int = 2000
    membership_min_samples: int = 20

    def __post_init__(self) -> None:
        positive("membership_samples", self.membership_samples)
        positive("membership_min_samples", self.membership_min_samples)


@dataclass(frozen=True)
class Config:
    """One experiment. `scenario` is `til`, `dil` or `cil`; null takes the benchmark's default (split → til,
    permuted and rotated → dil)."""

    seed: int = 0
    scenario: str | None = None
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    unlearning: UnlearningConfig = field(default_factory=UnlearningConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    out: str | None = None

    def __post_init__(self) -> None:
        check_seed("seed", self.seed)
        if self.eval.classifier == "nme" and not self.memory.enabled:
            raise ConfigError("eval.classifier", "nme", "needs an exemplar memory: set memory.size or memory.per_class")
