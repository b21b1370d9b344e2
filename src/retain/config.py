"""Typed, frozen experiment configuration loaded strictly from YAML and `--set key=value` overrides.

Every section is a frozen dataclass that validates itself. `load_config` turns a plain mapping (from
`yaml.safe_load`) into a `Config`: an unknown key, a wrong type or an invalid value raises one
`ConfigError` that names the full key (`train.optimizer.lr`), the value and what is valid.
"""

from __future__ import annotations

import dataclasses
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

SCENARIOS = ("til", "dil", "cil")


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(name, value, "must be > 0")


def _non_negative(name: str, value: float) -> None:
    if value < 0:
        raise ConfigError(name, value, "must be >= 0")


@dataclass(frozen=True)
class BenchmarkConfig:
    """Which benchmark to build (`retain list` shows the names) and where its data lives."""

    name: str = "split_digits"
    num_tasks: int | None = None
    class_order: Literal["fixed", "shuffle"] = "fixed"
    seed: int | None = None
    root: str | None = None
    download: bool = False

    def __post_init__(self) -> None:
        if self.name not in BENCHMARKS:
            raise ConfigError("name", self.name, one_of(BENCHMARKS, self.name))
        if self.num_tasks is not None:
            _positive("num_tasks", self.num_tasks)


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
    def from_mapping(cls, data: Mapping[str, Any]) -> "AlgorithmConfig":
        """Parse `{name: ..., <hyperparameter>: ...}`, checking each key against the algorithm's Params."""
        name = data.get("name", cls.name)
        if not isinstance(name, str) or name not in ALGORITHMS:
            raise ConfigError("name", name, one_of(ALGORITHMS, name))
        rest = {k: v for k, v in data.items() if k != "name"}
        return cls(name=name, params=from_mapping(ALGORITHMS[name].Params, rest))


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
    """How each task is trained: epochs, batch size, optimizer and device (`auto` picks CUDA if present)."""

    epochs: int = 5
    batch_size: int = 64
    eval_batch_size: int = 1024
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def __post_init__(self) -> None:
        _positive("epochs", self.epochs)
        _positive("batch_size", self.batch_size)
        _positive("eval_batch_size", self.eval_batch_size)


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
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    out: str | None = None

    def resolved(self) -> "Config":
        """This config with every default that depends on another key filled in."""
        if self.scenario is not None:
            return self
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
        node = result
        parts = key.strip().split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(".".join(parts[: i + 1]), child, "is a value, not a section")
            node = child
        node[parts[-1]] = value
    return result


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
            raise ConfigError("--config", str(path), f"is not valid YAML: {err}") from None
        if not isinstance(data, Mapping):
            raise ConfigError("--config", str(path), "must hold a mapping of top-level keys")
    return apply_overrides(data, overrides)


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """Read a YAML file (optional), apply `--set` overrides and return the resolved, validated Config."""
    return config_from_dict(read_config_data(path, overrides))


def config_from_dict(data: Mapping[str, Any]) -> Config:
    """Validate a plain mapping (as written in `config.yaml`) into a resolved Config."""
    return from_mapping(Config, data).resolved()


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
