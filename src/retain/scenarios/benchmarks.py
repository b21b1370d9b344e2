"""The benchmark table: each name is a source composed with a builder and its default arguments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retain.errors import ConfigError
from retain.scenarios import builders, sources
from retain.scenarios.setting import check_scenario
from retain.scenarios.task import Benchmark

if TYPE_CHECKING:
    from retain.config import BenchmarkConfig


@dataclass(frozen=True)
class BenchmarkSpec:
    """How to build one named benchmark."""

    source: Callable[["BenchmarkConfig"], sources.SourceData]
    construction: str  # "split" or "permuted"
    default_tasks: int
    default_scenario: str
    description: str


def _digits(cfg: "BenchmarkConfig") -> sources.SourceData:
    return sources.digits()


def _fashion_mnist(cfg: "BenchmarkConfig") -> sources.SourceData:
    return sources.fashion_mnist(cfg.root, cfg.download)


BENCHMARKS: dict[str, BenchmarkSpec] = {
    "split_digits": BenchmarkSpec(_digits, "split", 5, "til", "scikit-learn digits 8x8, 5 tasks x 2 classes"),
    "permuted_digits": BenchmarkSpec(_digits, "permuted", 5, "dil", "scikit-learn digits 8x8, pixel-permuted tasks"),
    "split_fmnist": BenchmarkSpec(_fashion_mnist, "split", 5, "til", "Fashion-MNIST 28x28, 5 tasks x 2 classes"),
    "permuted_fmnist": BenchmarkSpec(_fashion_mnist, "permuted", 10, "dil", "Fashion-MNIST 28x28, pixel-permuted tasks"),
}


def build_benchmark(cfg: "BenchmarkConfig", scenario: str, seed: int) -> Benchmark:
    """Load the source and build the task sequence of `cfg.name` in `scenario`.

    `seed` drives the class-order shuffle and the pixel permutations (`benchmark.seed` overrides it).
    """
    check_scenario(scenario)
    spec = BENCHMARKS[cfg.name]
    source = spec.source(cfg)
    num_tasks = cfg.num_tasks or spec.default_tasks
    data_seed = seed if cfg.seed is None else cfg.seed
    try:
        if spec.construction == "split":
            order = builders.class_order(source.num_classes, cfg.class_order, data_seed)
            tasks = builders.split_by_class(source, scenario, num_tasks, order)
        else:
            tasks = builders.permute_pixels(source, scenario, num_tasks, data_seed)
    except ValueError as err:
        raise ConfigError("benchmark.num_tasks", num_tasks, str(err)) from None
    mean, std = source.channel_stats()
    benchmark = Benchmark(cfg.name, scenario, tuple(tasks), source.input_shape, mean, std)
    return benchmark.without(cfg.without) if cfg.without else benchmark
