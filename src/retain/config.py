"""Typed, frozen experiment configuration loaded strictly from YAML and `--set key=value` overrides.

Every section is a frozen dataclass that validates itself. `load_config` turns a plain mapping (from
`yaml.safe_load`) into a `Config`: an unknown key, a wrong type or an invalid value raises one
`ConfigError` that names the full key (`train.optimizer.lr`), the value and what is valid.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from retain.algorithms import ALGORITHMS
from retain.errors import ConfigError, one_of
from retain.models import BACKBONES
from retain.scenarios import BENCHMARKS
from retain.scenarios.benchmarks import CONSTRUCTION_SCENARIO, construction_of
from retain.unlearning import UNLEARNING_METHODS

CUSTOM = "custom"  # the benchmark whose source is `benchmark.path`

SCENARIOS = ("til", "dil", "cil")


SEED_RANGE = 2**32  # numpy's seeding limit; torch accepts more, but one range for every consumer


def _finite(value: float) -> bool:
    return isinstance(value, int) or math.isfinite(value)  # math.isfinite overflows on huge ints


def _positive(name: str, value: float) -> None:
    if not (value > 0 and _finite(value)):  # `not >` also rejects NaN
        raise ConfigError(name, value, "must be a finite number > 0")


def _non_negative(name: str, value: float) -> None:
    if not (value >= 0 and _finite(value)):
        raise ConfigError(name, value, "must be a finite number >= 0")


def _seed(name: str, value: int | None) -> None:
    if value is not None and not 0 <= value < SEED_RANGE:
        raise ConfigError(name, value, f"an integer from 0 to {SEED_RANGE - 1}")


@dataclass(frozen=True)
class BenchmarkConfig:
    """Which benchmark to build (`retain list` shows the names) and where its data lives.

    `val_fraction` moves that fraction of each task's training set into a validation set; when it is
    > 0 the loop keeps the weights of the epoch with the best validation accuracy (and stops early after
    `train.patience` epochs without improvement). `path` and `construction` are for `name: custom`.
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
    construction: Literal["split", "permuted", "rotated"] | None = None

    def known_num_tasks(self) -> int | None:
        """The number of tasks before `without`, when it is known without loading the data."""
        if self.num_tasks is not None:
            return self.num_tasks
        if self.classes_per_task is not None or self.name == CUSTOM:
            return None
        return BENCHMARKS[self.name].default_tasks

    def __post_init__(self) -> None:
        if self.name not in BENCHMARKS:
            raise ConfigError("name", self.name, one_of(BENCHMARKS, self.name))
        if self.num_tasks is not None:
            _positive("num_tasks", self.num_tasks)
        if len(set(self.without)) != len(self.without) or any(t < 1 for t in self.without):
            raise ConfigError("without", list(self.without), "distinct task ids >= 1 (the tasks left out)")
        if self.classes_per_task is not None:
            _positive("classes_per_task", self.classes_per_task)
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
        if self.classes_per_task is not None and construction_of(self) != "split":
            raise ConfigError("classes_per_task", self.classes_per_task, "only for split benchmarks (leave it null)")
        _seed("seed", self.seed)


@dataclass(frozen=True)
class BackboneConfig:
    """The feature extractor: `mlp` (uses `hidden`), `small_cnn` (uses `channels`) or `resnet18`."""

    name: str = "mlp"
    hidden: tuple[int, ...] = (256, 256)
    channels: tuple[int, ...] = (32, 64)

    def __post_init__(self) -> None:
        if self.name not in BACKBONES:
            raise ConfigError("name", self.name, one_of(BACKBONES, self.name))
        for key in ("hidden", "channels"):
            values = getattr(self, key)
            if not values or any(v <= 0 for v in values):
                raise ConfigError(key, list(values), "a non-empty list of positive integers")


@dataclass(frozen=True)
class AlgorithmConfig:
    """The algorithm's registered name plus its hyperparameters (the algorithm's own `Params`)."""

    name: str = "lwf"
    params: Any = None

    def __post_init__(self) -> None:
        if self.name not in ALGORITHMS:
            raise ConfigError("name", self.name, one_of(ALGORITHMS, self.name))
        params_cls = ALGORITHMS[self.name].Params
        if self.params is None:
            object.__setattr__(self, "params", params_cls())
        elif not isinstance(self.params, params_cls):
            raise ConfigError("params", self.params, f"a {params_cls.__name__} for {self.name!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AlgorithmConfig:
        """Parse `{name: ..., <hyperparameter>: ...}`, checking each key against the algorithm's Params."""
        name = data.get("name", cls.name)
        if not isinstance(name, str) or name not in ALGORITHMS:
            raise ConfigError("name", name, one_of(ALGORITHMS, name))
        rest = {k: v for k, v in data.items() if k != "name"}
        params_cls = ALGORITHMS[name].Params
        if rest and not dataclasses.fields(params_cls):
            key, value = next(iter(rest.items()))
            raise ConfigError(str(key), value, f"unknown key: {name!r} takes no hyperparameters")
        return cls(name=name, params=from_mapping(params_cls, rest))


@dataclass(frozen=True)
class OptimizerConfig:
    """A fresh optimizer is built for every task (`sgd`, `adam` or `adamw`)."""

    name: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        _positive("lr", self.lr)
        _non_negative("momentum", self.momentum)
        _non_negative("weight_decay", self.weight_decay)


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
    precision: Literal["fp32", "bf16"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    compile_backend: str = "inductor"
    sync_batchnorm: bool | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        if self.compile:
            from torch._dynamo import list_backends  # only when asked for: it is slow to import

            backends = list_backends(exclude_tags=())
            if self.compile_backend not in backends:
                raise ConfigError("compile_backend", self.compile_backend, one_of(backends, self.compile_backend))
        _positive("epochs", self.epochs)
        _positive("batch_size", self.batch_size)
        _positive("eval_batch_size", self.eval_batch_size)
        _non_negative("num_workers", self.num_workers)
        if self.patience is not None:
            _positive("patience", self.patience)


@dataclass(frozen=True)
class UnlearningConfig:
    """The unlearning method, its requests and how the result is judged (docs/unlearning.md).

    `method: amnesiac` wraps the algorithm (any of them) in amnesiac unlearning; `none` (the default)
    trains the algorithm alone, and refuses requests.

    `requests: {4: [2]}` unlearns task 2 right after task 4 is trained. With `evaluate`, the retrain
    reference (the sequence without the unlearned tasks) and the original reference (no unlearning) are
    trained with the same seed, or read from the run folders given here, and AG/DD are reported.
    """

    method: str = "none"
    requests: dict[int, tuple[int, ...]] = field(default_factory=dict)
    evaluate: bool = True
    distance: Literal["euclidean", "cosine", "manhattan", "linear_cka"] = "euclidean"
    ag_scope: Literal["all", "remaining", "unlearned"] = "remaining"
    dd_scope: Literal["all", "remaining", "unlearned"] = "unlearned"
    retrain_reference: str | None = None
    original_reference: str | None = None


@dataclass(frozen=True)
class CheckpointConfig:
    """Checkpoints in `RUN/checkpoints/`: always one per finished task; optionally mid-task ones.

    `every_epochs: N` (> 0) also writes `progress.pt` every N epochs inside a task (optimizer
    included); 0 writes task checkpoints only. `keep: last` deletes older task checkpoints.
    """

    every_epochs: int = 0
    keep: Literal["all", "last"] = "all"

    def __post_init__(self) -> None:
        _non_negative("every_epochs", self.every_epochs)


@dataclass(frozen=True)
class LoggingConfig:
    """Optional loggers on top of `metrics.jsonl` (always written). `tensorboard: true` writes the run's
    losses, accuracies and accuracy matrix to `<run folder>/tensorboard` (needs `pip install tensorboard`)."""

    tensorboard: bool = False


@dataclass(frozen=True)
class Config:
    """One experiment. `scenario: null` takes the benchmark's default (split → til, permuted → dil)."""

    seed: int = 0
    scenario: Literal["til", "dil", "cil"] | None = None
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    unlearning: UnlearningConfig = field(default_factory=UnlearningConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    out: str | None = None

    def __post_init__(self) -> None:
        from retain.unlearning.requests import check_requests

        _seed("seed", self.seed)
        methods = ("none", *UNLEARNING_METHODS)
        if self.unlearning.method not in methods:
            raise ConfigError("unlearning.method", self.unlearning.method, one_of(methods, self.unlearning.method))
        total = self.benchmark.known_num_tasks()
        if total is not None and any(t > total for t in self.benchmark.without):
            raise ConfigError("benchmark.without", list(self.benchmark.without), f"task ids from 1 to {total}")
        if total is not None and len(set(self.benchmark.without)) >= total:
            raise ConfigError(
                "benchmark.without", list(self.benchmark.without), f"must leave at least one of the {total} tasks"
            )
        num_tasks = None if total is None else total - len(self.benchmark.without)
        check_requests(self.unlearning.requests, num_tasks, self.unlearning.method)

    def resolved(self) -> Config:
        """This config with every default that depends on another key filled in."""
        if self.scenario is not None:
            return self
        if self.benchmark.name == CUSTOM:
            return dataclasses.replace(self, scenario=CONSTRUCTION_SCENARIO[construction_of(self.benchmark)])
        return dataclasses.replace(self, scenario=BENCHMARKS[self.benchmark.name].default_scenario)


# ---------------------------------------------------------------------------------------------
# strict parsing


def from_mapping(cls: type, data: Any) -> Any:
    """Build dataclass `cls` from a mapping, strictly; errors carry the key path below `cls`."""
    if not isinstance(data, Mapping):
        raise ConfigError("", data, f"expected a mapping of {cls.__name__} keys")
    if hasattr(cls, "from_mapping"):
        return cls.from_mapping(data)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(str(key), value, "unknown key; " + one_of(names, str(key)))
        try:
            kwargs[key] = _coerce(hints[key], value)
        except ConfigError as err:
            raise err.under(key) from None
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError("", data, str(err)) from None


def _coerce(tp: Any, value: Any) -> Any:
    """Check `value` against the annotation `tp`, converting only where the conversion is lossless."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for candidate in inner:
            try:
                return _coerce(candidate, value)
            except ConfigError as err:
                errors.append(err.valid)
        raise ConfigError("", value, " or ".join(errors) + (" or null" if type(None) in args else ""))
    if origin is Literal:
        if value not in args:
            raise ConfigError("", value, one_of(args, value))
        return value
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ConfigError("", value, f"a list of {args[0].__name__}")
        return tuple(_coerce(args[0], v) for v in value)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError("", value, "a mapping")
        return {_coerce(args[0], k): _coerce(args[1], v) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return from_mapping(tp, value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError("", value, "true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError("", value, "an integer")
        return value
    if tp is float:
        if isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads `1e-3` as a string
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError("", value, "a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError("", value, "a string")
        return value
    if tp is Any:
        return value
    raise TypeError(f"retain.config cannot parse annotation {tp!r}")


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of `data` with each `a.b.c=value` applied (the value is read as YAML)."""
    result = _deep_copy(data)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("--set", item, "expected KEY=VALUE, e.g. train.epochs=2")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as err:
            raise ConfigError(key, text, f"not readable as YAML ({err.__class__.__name__})") from None
        set_key(result, key, value)
    return result


def set_key(data: dict[str, Any], key: str, value: Any) -> None:
    """Set the dotted `key` (`a.b.c`) in the nested mapping `data`, in place, creating missing sections."""
    node = data
    parts = key.strip().split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(".".join(parts[: i + 1]), child, "is a value, not a section")
        node = child
    node[parts[-1]] = value


def keep_own_hyperparameters(data: Mapping[str, Any], name: Any) -> dict[str, Any]:
    """`data` with algorithm `name` and only those hyperparameters of its `algorithm` section that this
    algorithm has, so that one config written for LwF can also run Finetuning (compare, sweeps)."""
    section = dict(data.get("algorithm") or {})
    known = LEGACY_ALGORITHMS.get(name, name) if isinstance(name, str) else name
    if not isinstance(known, str) or known not in ALGORITHMS:
        return {**data, "algorithm": {**section, "name": name}}  # validation reports the unknown name
    own = {f.name for f in dataclasses.fields(ALGORITHMS[known].Params)}
    if name in LEGACY_ALGORITHMS:
        own.add("disable_unlearning")
    return {**data, "algorithm": {"name": name, **{k: v for k, v in section.items() if k in own}}}


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def read_config_data(path: str | Path | None, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The plain mapping of a YAML config file (read with `yaml.safe_load`) with `--set` overrides applied."""
    data: Any = {}
    if path is not None:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except OSError as err:
            raise ConfigError("--config", str(path), f"cannot be read ({err.strerror})") from None
        except yaml.YAMLError as err:
            raise ConfigError("--config", str(path), f"is not valid YAML ({_yaml_problem(err)})") from None
        if not isinstance(data, Mapping):
            raise ConfigError("--config", str(path), "must hold a mapping of top-level keys")
    return apply_overrides(data, overrides)


def _yaml_problem(err: yaml.YAMLError) -> str:
    """One line for a YAML error: where, and what (PyYAML's own message spans several lines)."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or type(err).__name__
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else str(problem)


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """Read a YAML file (optional), apply `--set` overrides and return the resolved, validated Config."""
    return config_from_dict(read_config_data(path, overrides))


def config_from_dict(data: Mapping[str, Any]) -> Config:
    """Validate a plain mapping (as written in `config.yaml`) into a resolved Config."""
    return from_mapping(Config, legacy_spelling(data)).resolved()


# The first version's names of the unlearnable algorithms: `algorithm.name: amnesiac_lwf` is `lwf` with
# `unlearning.method: amnesiac`, and its `disable_unlearning: true` (the reference runs) is `method: none`.
LEGACY_ALGORITHMS = {"amnesiac_finetuning": "finetuning", "amnesiac_lwf": "lwf", "amnesiac_independent": "independent"}


def legacy_spelling(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """`data` with a first-version algorithm name (`amnesiac_<x>`) rewritten as `<x>` + `unlearning.method`."""
    algorithm = data.get("algorithm") if isinstance(data, Mapping) else None
    name = algorithm.get("name") if isinstance(algorithm, Mapping) else None
    if not isinstance(name, str) or name not in LEGACY_ALGORITHMS:
        return data
    section = {k: v for k, v in algorithm.items() if k != "disable_unlearning"}
    disabled = algorithm.get("disable_unlearning", False)
    if not isinstance(disabled, bool):
        raise ConfigError("algorithm.disable_unlearning", disabled, "true or false")
    method = "none" if disabled else "amnesiac"
    unlearning = data.get("unlearning") or {}
    if not isinstance(unlearning, Mapping):
        return data  # the strict parser reports the bad section
    if disabled and unlearning.get("requests"):
        raise ConfigError(
            "unlearning.requests",
            unlearning["requests"],
            "algorithm.disable_unlearning is true: set it to false to unlearn",
        )
    if unlearning.get("method", method) != method:
        raise ConfigError(
            "unlearning.method",
            unlearning["method"],
            f"{method!r} with algorithm.name {name!r} (or set algorithm.name: {LEGACY_ALGORITHMS[name]!r})",
        )
    return {
        **data,
        "algorithm": {**section, "name": LEGACY_ALGORITHMS[name]},
        "unlearning": {**unlearning, "method": method},
    }


def config_to_dict(cfg: Any) -> Any:
    """The plain-data form of a config (what `config.yaml` holds); inverse of `config_from_dict`."""
    if isinstance(cfg, AlgorithmConfig):
        return {"name": cfg.name, **config_to_dict(cfg.params)}
    if dataclasses.is_dataclass(cfg):
        return {f.name: config_to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, tuple | list):
        return [config_to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: config_to_dict(v) for k, v in cfg.items()}
    return cfg
