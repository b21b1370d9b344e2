"""Where a config meets the components: the registry checks, and config → benchmark, model, algorithm.

The config package checks values alone; this module checks what needs the registries (known names, an
algorithm's hyperparameters, task ids that depend on the benchmark) and fills the defaults that depend on
another key (the scenario). The components it builds take plain arguments and never see a config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import torch

from retain.algorithms import ALGORITHMS, Algorithm
from retain.algorithms.exemplars import ExemplarMemory, MemoryBudget
from retain.algorithms.replay import Replay
from retain.config import (
    CUSTOM,
    LEGACY_ALGORITHMS,
    AlgorithmConfig,
    BenchmarkConfig,
    Config,
    MemoryConfig,
    from_mapping,
    parse_config,
    read_config_data,
)
from retain.errors import ConfigError, one_of
from retain.models import BACKBONES, ContinualModel, build_backbone
from retain.scenarios import BENCHMARKS, Benchmark
from retain.scenarios.benchmarks import Cut, Location, check_construction, named_benchmark
from retain.scenarios.setting import SCENARIOS, construction_scenario, make_heads
from retain.unlearning import UNLEARNING_METHODS
from retain.unlearning.requests import check_leaves_a_task, check_requests

# Unlearning methods served by the experiment rather than a wrapper around the algorithm: `rewind`
# restores a checkpoint and trains the sequence again without the unlearned tasks (retain.experiment.rewind).
SEQUENCE_METHODS = ("rewind",)


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """Read a YAML file (optional), apply `--set` overrides and return the resolved, validated Config."""
    return config_from_dict(read_config_data(path, overrides))


def config_from_dict(data: Mapping[str, Any]) -> Config:
    """Validate a plain mapping (as written in `config.yaml`) into a resolved Config."""
    return check_config(parse_config(data))


def as_config(config: Config | Mapping[str, Any] | None) -> Config:
    """Accept a Config, a plain mapping (as in YAML) or None (every default), checked and resolved."""
    if isinstance(config, Config):
        return check_config(config)
    return config_from_dict(config or {})


def check_config(cfg: Config) -> Config:
    """`cfg` checked against the registries, with the algorithm's `Params` parsed and the scenario filled in.

    Raises:
        ConfigError: an unknown name, a hyperparameter the algorithm does not have, a task id outside the
            benchmark; the key is named in full (`algorithm.lambda`, `unlearning.requests.4`).
    """
    bench = cfg.benchmark
    _known("benchmark.name", bench.name, BENCHMARKS)
    _known("backbone.name", cfg.backbone.name, BACKBONES)
    if cfg.scenario is not None:
        _known("scenario", cfg.scenario, SCENARIOS)
    _known("unlearning.method", cfg.unlearning.method, ("none", *UNLEARNING_METHODS, *SEQUENCE_METHODS))
    try:
        check_construction(construction_of(bench), bench.classes_per_task)
    except ConfigError as err:
        raise err.under("benchmark") from None
    algorithm = _algorithm(cfg.algorithm)
    total = known_num_tasks(bench)
    if total is not None and any(t > total for t in bench.without):
        raise ConfigError("benchmark.without", list(bench.without), f"task ids from 1 to {total}")
    if total is not None and len(set(bench.without)) >= total:
        raise ConfigError("benchmark.without", list(bench.without), f"must leave at least one of the {total} tasks")
    num_tasks = None if total is None else total - len(bench.without)
    check_requests(cfg.unlearning.requests, num_tasks, cfg.unlearning.method)
    if cfg.unlearning.evaluate and num_tasks is not None:
        check_leaves_a_task(cfg.unlearning.requests, num_tasks)
    scenario = cfg.scenario or construction_scenario(construction_of(bench))
    check_memory(cfg, scenario)
    return dataclasses.replace(cfg, algorithm=algorithm, scenario=scenario)


def check_memory(cfg: Config, scenario: str) -> None:
    """The memory settings that depend on the scenario, the backbone or the validation split.

    Raises:
        ConfigError: a memory in TIL (replayed samples of task p would be trained through task t's
            head), herding or NME on a task-conditioned backbone (whose features depend on a task id
            that a mixed memory does not have), NME with a validation split (the epoch selection tests
            the current task's classes, which have no exemplars before the task ends).
    """
    if not cfg.memory.enabled:
        return
    key = "memory.size" if cfg.memory.size is not None else "memory.per_class"
    if scenario == "til":
        raise ConfigError(
            key, getattr(cfg.memory, key.split(".")[1]), "a memory needs a cil or dil scenario (til: per-task heads)"
        )
    if cfg.memory.weight_aligning and scenario != "cil":
        raise ConfigError(
            "memory.weight_aligning", True, f"rescales a class-incremental head: needs scenario cil, not {scenario}"
        )
    backbone = BACKBONES[cfg.backbone.name]
    if getattr(backbone, "task_conditioned", False):
        if cfg.memory.selection == "herding":
            raise ConfigError(
                "memory.selection",
                "herding",
                f"backbone {cfg.backbone.name!r} is task-conditioned: its features depend on a task id; use random",
            )
        if cfg.eval.classifier == "nme":
            raise ConfigError(
                "eval.classifier",
                "nme",
                f"backbone {cfg.backbone.name!r} is task-conditioned: its features depend on a task id; use head",
            )
    if cfg.eval.classifier == "nme" and cfg.benchmark.val_fraction > 0:
        raise ConfigError(
            "eval.classifier",
            "nme",
            "not with benchmark.val_fraction > 0: the current task has no exemplars before it ends",
        )


def check_memory_size(memory: MemoryConfig, benchmark: Benchmark) -> None:
    """A memory no larger than the data it could ever hold (checked once the data is loaded).

    Raises:
        ConfigError: `memory.size` at least the training samples of every task but the last (the memory
            would keep everything: joint training), or `memory.per_class` above the smallest class.
    """
    if memory.size is not None:
        seen = sum(len(t.y_train) for t in benchmark.tasks[:-1])
        if memory.size >= seen:
            raise ConfigError(
                "memory.size",
                memory.size,
                f"must be below {seen}, the training samples of {benchmark.name}'s tasks before the last (a memory that keeps them all is joint training)",
            )
    if memory.per_class is not None:
        smallest = min(_smallest_class(t.y_train) for t in benchmark.tasks)
        if memory.per_class > smallest:
            raise ConfigError(
                "memory.per_class",
                memory.per_class,
                f"must be at most {smallest}, the training samples of {benchmark.name}'s smallest class",
            )


def _smallest_class(y: torch.Tensor) -> int:
    counts = torch.bincount(y)
    return int(counts[counts > 0].min())


def _known(key: str, name: Any, registry: Any) -> None:
    if not isinstance(name, str) or name not in registry:
        raise ConfigError(key, name, one_of(registry, name))


def _algorithm(section: AlgorithmConfig) -> AlgorithmConfig:
    """The section with its hyperparameters as the algorithm's own `Params` (defaults where not given)."""
    _known("algorithm.name", section.name, ALGORITHMS)
    params_cls = ALGORITHMS[section.name].Params
    params = section.params
    if isinstance(params, params_cls):
        return section
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ConfigError("algorithm.params", params, f"a {params_cls.__name__} for {section.name!r}")
    own = ["name", *(f.name for f in dataclasses.fields(params_cls))]  # `name` is a key of the section too
    none = f"unknown key: {section.name!r} takes no hyperparameters (its only key is 'name')"
    unknown = [
        ConfigError(
            f"algorithm.{key}", value, f"unknown key for {section.name!r}; {one_of(own, str(key))}" if own[1:] else none
        )
        for key, value in params.items()
        if key not in own
    ]
    if unknown:
        raise ConfigError.of_all(unknown)
    try:
        return AlgorithmConfig(section.name, from_mapping(params_cls, params))
    except ConfigError as err:
        raise err.under("algorithm") from None


def construction_of(cfg: BenchmarkConfig) -> str:
    """The construction `cfg` asks for: `benchmark.construction` (custom only) or the table's."""
    return cfg.construction or BENCHMARKS[cfg.name].construction


def known_num_tasks(cfg: BenchmarkConfig) -> int | None:
    """The number of tasks before `without`, when it is known without loading the data."""
    if cfg.num_tasks is not None:
        return cfg.num_tasks
    if cfg.classes_per_task is not None or cfg.name == CUSTOM:
        return None
    return BENCHMARKS[cfg.name].default_tasks


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


def build_benchmark(cfg: BenchmarkConfig, scenario: str, seed: int) -> Benchmark:
    """The task sequence of the `benchmark` section in `scenario`; `seed` (or `benchmark.seed`) drives the
    class-order shuffle, the pixel permutations and the validation split."""
    cut = Cut(cfg.num_tasks, cfg.classes_per_task, cfg.class_order, cfg.val_fraction, cfg.without)
    where = Location(cfg.root, cfg.download, cfg.path)
    data_seed = seed if cfg.seed is None else cfg.seed
    return named_benchmark(
        cfg.name, scenario, data_seed, cut, where, construction=cfg.construction, augment=cfg.augment
    )


def build(cfg: Config) -> tuple[Benchmark, Algorithm]:
    """Build the benchmark, the model and the algorithm of `cfg` (seeds the model's initialisation)."""
    cfg = check_config(cfg)
    assert cfg.scenario is not None  # filled in by check_config
    benchmark = build_benchmark(cfg.benchmark, cfg.scenario, cfg.seed)
    if cfg.unlearning.requests and known_num_tasks(cfg.benchmark) is None:  # checked now that the data is here
        check_requests(cfg.unlearning.requests, benchmark.num_tasks, cfg.unlearning.method)
    check_memory_size(cfg.memory, benchmark)
    return benchmark, build_algorithm(cfg, benchmark.input_shape)


def build_model(cfg: Config, input_shape: Sequence[int]) -> ContinualModel:
    """The backbone of `cfg` with the scenario's heads, for inputs of `input_shape` (C, H, W)."""
    cfg = check_config(cfg)
    assert cfg.scenario is not None
    torch.manual_seed(cfg.seed)  # the model's initial weights follow the run's seed
    b = cfg.backbone
    options: dict[str, Any] = {"hidden": b.hidden, "channels": b.channels, "model": b.model, "weights": b.weights}
    options |= {"freeze": b.freeze, "download": b.download, "image_size": b.image_size}
    options["cache_features"] = b.cache_features
    try:
        backbone = build_backbone(b.name, input_shape, **options)
    except ConfigError as err:  # names its own key (backbone.weights, backbone.model, ...)
        raise err.under("" if err.key.startswith("backbone") else "backbone") from None
    except ValueError as err:
        raise ConfigError("backbone", cfg.backbone.name, str(err)) from None
    width = cast(int, backbone.output_dim)  # every backbone's contract (nn.Module types attributes as Tensor | Module)
    return ContinualModel(backbone, make_heads(cfg.scenario, width))


def build_algorithm(cfg: Config, input_shape: Sequence[int]) -> Algorithm:
    """The model and the algorithm of `cfg`, wrapped in its unlearning method when it has one."""
    cfg = check_config(cfg)
    algorithm = ALGORITHMS[cfg.algorithm.name](build_model(cfg, input_shape), cfg.algorithm.params)
    if cfg.memory.enabled:
        budget = MemoryBudget(cfg.memory.size, cfg.memory.per_class)
        memory = ExemplarMemory(budget, cfg.memory.selection, cfg.seed)
        algorithm = Replay(algorithm, memory, cfg.eval.classifier, cfg.memory.weight_aligning)
    if cfg.unlearning.method == "none" or cfg.unlearning.method in SEQUENCE_METHODS:
        return algorithm
    wrapped = UNLEARNING_METHODS[cfg.unlearning.method](algorithm)
    wrapped.schedule(cfg.unlearning.requests)
    return wrapped
