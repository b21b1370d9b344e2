"""The benchmark table: each name is a source composed with a construction and its default arguments.

Sources (what the images are) and constructions (how tasks are cut from them) are independent: a new
benchmark is one row of `BENCHMARKS`, never a new file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retain.errors import ConfigError
from retain.scenarios import builders, cifar, custom, sources, tinyimagenet
from retain.scenarios.setting import check_scenario
from retain.scenarios.sources import SourceData
from retain.scenarios.task import Benchmark, Task

if TYPE_CHECKING:
    from retain.config import BenchmarkConfig


@dataclass(frozen=True)
class BenchmarkSpec:
    """How to build one named benchmark: its source, its construction and their defaults.

    `augment`: the standard random crop (padding 4) + horizontal flip while training, by default.
    """

    source: Callable[[BenchmarkConfig], SourceData]
    construction: str  # a key of CONSTRUCTIONS
    default_tasks: int
    default_scenario: str
    description: str
    augment: bool = False


def _split(source: SourceData, scenario: str, cfg: BenchmarkConfig, default_tasks: int, seed: int) -> list[Task]:
    order = builders.class_order(source.num_classes, cfg.class_order, seed)
    num_tasks, per_task = builders.tasks_and_width(len(order), cfg.num_tasks, cfg.classes_per_task, default_tasks)
    return builders.split_by_class(source, scenario, num_tasks, order, per_task)


def _permuted(source: SourceData, scenario: str, cfg: BenchmarkConfig, default_tasks: int, seed: int) -> list[Task]:
    return builders.permute_pixels(source, scenario, cfg.num_tasks or default_tasks, seed)


def _rotated(source: SourceData, scenario: str, cfg: BenchmarkConfig, default_tasks: int, seed: int) -> list[Task]:
    return builders.rotate_images(source, scenario, cfg.num_tasks or default_tasks)


Construction = Callable[[SourceData, str, "BenchmarkConfig", int, int], list[Task]]
CONSTRUCTIONS: dict[str, Construction] = {"split": _split, "permuted": _permuted, "rotated": _rotated}
# the scenario a construction is usually run in (split: new classes per task; the others: new domains)
CONSTRUCTION_SCENARIO = {"split": "til", "permuted": "dil", "rotated": "dil"}


def _digits(cfg: BenchmarkConfig) -> SourceData:
    return sources.digits()


def _from_root(load: Callable[[str | None, bool], SourceData]) -> Callable[[BenchmarkConfig], SourceData]:
    """A source read from `benchmark.root` (downloaded there through torchvision with `benchmark.download`)."""

    def source(cfg: BenchmarkConfig) -> SourceData:
        return load(cfg.root, cfg.download)

    return source


_mnist = _from_root(sources.mnist)
_fashion_mnist = _from_root(sources.fashion_mnist)
_kmnist = _from_root(sources.kmnist)
_emnist_letters = _from_root(sources.emnist_letters)
_cifar10 = _from_root(cifar.cifar10)
_cifar100 = _from_root(cifar.cifar100)
_tinyimagenet = _from_root(tinyimagenet.tinyimagenet)


def _custom(cfg: BenchmarkConfig) -> SourceData:
    return custom.from_path(cfg.path)  # type: ignore[arg-type]  # BenchmarkConfig requires it for custom


S = BenchmarkSpec
BENCHMARKS: dict[str, BenchmarkSpec] = {
    "split_digits": S(_digits, "split", 5, "til", "scikit-learn digits 8x8, 5 tasks x 2 classes"),
    "permuted_digits": S(_digits, "permuted", 5, "dil", "scikit-learn digits 8x8, pixel-permuted tasks"),
    "split_mnist": S(_mnist, "split", 5, "til", "MNIST 28x28, 5 tasks x 2 classes"),
    "permuted_mnist": S(_mnist, "permuted", 10, "dil", "MNIST 28x28, pixel-permuted tasks"),
    "rotated_mnist": S(_mnist, "rotated", 10, "dil", "MNIST 28x28, task t rotated by (t-1)*180/T degrees"),
    "split_fmnist": S(_fashion_mnist, "split", 5, "til", "Fashion-MNIST 28x28, 5 tasks x 2 classes"),
    "permuted_fmnist": S(_fashion_mnist, "permuted", 10, "dil", "Fashion-MNIST 28x28, pixel-permuted tasks"),
    "split_kmnist": S(_kmnist, "split", 5, "til", "Kuzushiji-MNIST 28x28, 5 tasks x 2 classes"),
    "permuted_kmnist": S(_kmnist, "permuted", 10, "dil", "Kuzushiji-MNIST 28x28, pixel-permuted tasks"),
    "split_emnist_letters": S(_emnist_letters, "split", 13, "til", "EMNIST letters 28x28, 13 tasks x 2 classes"),
    "permuted_emnist_letters": S(
        _emnist_letters, "permuted", 10, "dil", "EMNIST letters 28x28 (26 classes), pixel-permuted tasks"
    ),
    "split_cifar10": S(_cifar10, "split", 5, "til", "CIFAR-10 32x32 RGB, 5 tasks x 2 classes, crop+flip", True),
    "split_cifar100": S(_cifar100, "split", 10, "til", "CIFAR-100 32x32 RGB, 10 tasks x 10 classes, crop+flip", True),
    "split_cifar100_20x5": S(
        _cifar100, "split", 20, "til", "CIFAR-100 32x32 RGB, 20 tasks x 5 classes, crop+flip", True
    ),
    "split_tinyimagenet": S(
        _tinyimagenet, "split", 10, "til", "Tiny ImageNet 64x64 RGB, 10 tasks x 20 classes, crop+flip", True
    ),
    "custom": S(
        _custom, "split", 5, "til", "your data: benchmark.path = a .npz or an ImageFolder dir; benchmark.construction"
    ),
}


def construction_of(cfg: BenchmarkConfig) -> str:
    """The construction `cfg` asks for: `benchmark.construction` (custom only) or the table's."""
    return cfg.construction or BENCHMARKS[cfg.name].construction


def make_benchmark(
    source: SourceData,
    scenario: str = "til",
    *,
    construction: str = "split",
    num_tasks: int | None = None,
    classes_per_task: int | None = None,
    class_order: str | Sequence[int] = "fixed",
    val_fraction: float = 0.0,
    seed: int = 0,
    augment: bool = False,
    name: str | None = None,
) -> Benchmark:
    """Turn any `SourceData` (your own: see `retain.scenarios.custom`) into a benchmark.

    The arguments mean what the `benchmark.*` config keys of the same names mean (`num_tasks` defaults
    to 5); `seed` drives the class-order shuffle, the pixel permutations and the validation split.
    Invalid values raise `ConfigError` naming the key.
    """
    from retain.config import BenchmarkConfig

    check_scenario(scenario)
    order = class_order if isinstance(class_order, str) else tuple(class_order)
    cfg = BenchmarkConfig(
        name="custom",
        path=source.name,
        construction=construction,
        num_tasks=num_tasks,  # type: ignore[arg-type]
        classes_per_task=classes_per_task,
        class_order=order,
        val_fraction=val_fraction,  # type: ignore[arg-type]
    )
    return _assemble(source, scenario, cfg, seed, construction, name or source.name, 5, augment)


def _assemble(
    source: SourceData,
    scenario: str,
    cfg: BenchmarkConfig,
    seed: int,
    construction: str,
    name: str,
    default_tasks: int,
    augment: bool,
) -> Benchmark:
    try:
        tasks = CONSTRUCTIONS[construction](source, scenario, cfg, default_tasks, seed)
        tasks = builders.carve_validation(tasks, cfg.val_fraction, seed)
        mean, std = source.channel_stats()
        benchmark = Benchmark(name, scenario, tuple(tasks), source.input_shape, mean, std, augment)
        return benchmark.without(cfg.without) if cfg.without else benchmark
    except ValueError as err:  # builders name the key first: "num_tasks = 3 is not valid: ..."
        raise ConfigError("", None, f"benchmark.{err}") from None


def build_benchmark(cfg: BenchmarkConfig, scenario: str, seed: int) -> Benchmark:
    """Load the source and build the task sequence of `cfg.name` in `scenario`.

    `seed` drives the class-order shuffle, the pixel permutations and the validation split
    (`benchmark.seed` overrides it).
    """
    check_scenario(scenario)
    spec = BENCHMARKS[cfg.name]
    source = spec.source(cfg)
    data_seed = seed if cfg.seed is None else cfg.seed
    augment = spec.augment if cfg.augment is None else cfg.augment
    return _assemble(source, scenario, cfg, data_seed, construction_of(cfg), cfg.name, spec.default_tasks, augment)
