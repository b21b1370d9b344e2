"""The benchmark table: each name is a source composed with a construction and its default arguments.

Sources (what the images are) and constructions (how tasks are cut from them) are independent: a new
benchmark is one row of `BENCHMARKS`, never a new file (and its line in `retain.catalogue`, which the
command line reads without torch; a test compares the two).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import retain.scenarios.builders as builders
import retain.scenarios.cifar as cifar
import retain.scenarios.custom as custom
import retain.scenarios.folders as folders
import retain.scenarios.sources as sources
import retain.scenarios.tinyimagenet as tinyimagenet
from retain.errors import ConfigError, one_of
from retain.scenarios.setting import check_scenario, construction_scenario
from retain.scenarios.sources import SourceData
from retain.scenarios.task import Benchmark, Task


@dataclass(frozen=True)
class Location:
    """Where a source's files are: `root` (torchvision's layout, downloaded there with `download`) or,
    for your own data, `path` (a .npz file or an ImageFolder directory)."""

    root: str | None = None
    download: bool = False
    path: str | None = None


@dataclass(frozen=True)
class Cut:
    """How the tasks are cut from a source; each field means what the `benchmark.*` key of its name means."""

    num_tasks: int | None = None
    classes_per_task: int | None = None
    class_order: str | tuple[int, ...] = "fixed"
    val_fraction: float = 0.0
    without: tuple[int, ...] = ()


Source = Callable[[Location], SourceData]


@dataclass(frozen=True)
class BenchmarkSpec:
    """How to build one named benchmark: its source, its construction and their defaults.

    `augment`: the standard random crop (padding 4) + horizontal flip while training, by default.
    """

    source: Source
    construction: str  # a key of CONSTRUCTIONS
    default_tasks: int
    description: str
    augment: bool = False

    @property
    def default_scenario(self) -> str:
        return construction_scenario(self.construction)


def _split(source: SourceData, scenario: str, cut: Cut, default_tasks: int, seed: int) -> list[Task]:
    order = builders.class_order(source.num_classes, cut.class_order, seed)
    num_tasks, per_task = builders.tasks_and_width(len(order), cut.num_tasks, cut.classes_per_task, default_tasks)
    return builders.split_by_class(source, scenario, num_tasks, order, per_task)


def _permuted(source: SourceData, scenario: str, cut: Cut, default_tasks: int, seed: int) -> list[Task]:
    return builders.permute_pixels(source, scenario, cut.num_tasks or default_tasks, seed)


def _rotated(source: SourceData, scenario: str, cut: Cut, default_tasks: int, seed: int) -> list[Task]:
    return builders.rotate_images(source, scenario, cut.num_tasks or default_tasks)


Construction = Callable[[SourceData, str, Cut, int, int], list[Task]]
CONSTRUCTIONS: dict[str, Construction] = {"split": _split, "permuted": _permuted, "rotated": _rotated}


def check_construction(construction: str, classes_per_task: int | None) -> None:
    """Raise ConfigError for an unknown construction, or `classes_per_task` with one that is not a split."""
    if construction not in CONSTRUCTIONS:
        raise ConfigError("construction", construction, one_of(CONSTRUCTIONS, construction))
    if classes_per_task is not None and construction != "split":
        raise ConfigError("classes_per_task", classes_per_task, "only for split benchmarks (leave it null)")


def _digits(where: Location) -> SourceData:
    return sources.digits()


def _from_root(load: Callable[[str | None, bool], SourceData]) -> Source:
    """A source read from `benchmark.root` (downloaded there through torchvision with `benchmark.download`)."""

    def source(where: Location) -> SourceData:
        return load(where.root, where.download)

    return source


_mnist = _from_root(sources.mnist)
_fashion_mnist = _from_root(sources.fashion_mnist)
_kmnist = _from_root(sources.kmnist)
_emnist_letters = _from_root(sources.emnist_letters)
_cifar10 = _from_root(cifar.cifar10)
_cifar100 = _from_root(cifar.cifar100)
_tinyimagenet = _from_root(tinyimagenet.tinyimagenet)
_imagenet_r = _from_root(folders.imagenet_r)
_cub200 = _from_root(folders.cub200)


def _custom(where: Location) -> SourceData:
    if where.path is None:
        raise ConfigError(
            "benchmark.path", None, "required with name 'custom': a .npz file or an ImageFolder directory"
        )
    return custom.from_path(where.path)


S = BenchmarkSpec
BENCHMARKS: dict[str, BenchmarkSpec] = {
    "split_digits": S(_digits, "split", 5, "scikit-learn digits 8x8, 5 tasks x 2 classes"),
    "permuted_digits": S(_digits, "permuted", 5, "scikit-learn digits 8x8, pixel-permuted tasks"),
    "split_mnist": S(_mnist, "split", 5, "MNIST 28x28, 5 tasks x 2 classes"),
    "permuted_mnist": S(_mnist, "permuted", 10, "MNIST 28x28, pixel-permuted tasks"),
    "rotated_mnist": S(_mnist, "rotated", 10, "MNIST 28x28, task t rotated by (t-1)*180/T degrees"),
    "split_fmnist": S(_fashion_mnist, "split", 5, "Fashion-MNIST 28x28, 5 tasks x 2 classes"),
    "permuted_fmnist": S(_fashion_mnist, "permuted", 10, "Fashion-MNIST 28x28, pixel-permuted tasks"),
    "split_kmnist": S(_kmnist, "split", 5, "Kuzushiji-MNIST 28x28, 5 tasks x 2 classes"),
    "permuted_kmnist": S(_kmnist, "permuted", 10, "Kuzushiji-MNIST 28x28, pixel-permuted tasks"),
    "split_emnist_letters": S(_emnist_letters, "split", 13, "EMNIST letters 28x28, 13 tasks x 2 classes"),
    "permuted_emnist_letters": S(
        _emnist_letters, "permuted", 10, "EMNIST letters 28x28 (26 classes), pixel-permuted tasks"
    ),
    "split_cifar10": S(_cifar10, "split", 5, "CIFAR-10 32x32 RGB, 5 tasks x 2 classes, crop+flip", True),
    "split_cifar100": S(_cifar100, "split", 10, "CIFAR-100 32x32 RGB, 10 tasks x 10 classes, crop+flip", True),
    "split_cifar100_20x5": S(_cifar100, "split", 20, "CIFAR-100 32x32 RGB, 20 tasks x 5 classes, crop+flip", True),
    "split_tinyimagenet": S(
        _tinyimagenet, "split", 10, "Tiny ImageNet 64x64 RGB, 10 tasks x 20 classes, crop+flip", True
    ),
    "split_imagenet_r": S(
        _imagenet_r, "split", 10, "ImageNet-R 224x224 RGB, 200 classes (seeded 80/20 split), 10 tasks x 20", True
    ),
    "split_cub200": S(_cub200, "split", 10, "CUB-200-2011 224x224 RGB, official split, 10 tasks x 20 classes", True),
    "custom": S(
        _custom, "split", 5, "your data: benchmark.path = a .npz or an ImageFolder dir; benchmark.construction"
    ),
}


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
    check_scenario(scenario)
    order = class_order if isinstance(class_order, str) else tuple(class_order)
    cut = Cut(num_tasks, classes_per_task, order, val_fraction)
    return _assemble(source, scenario, cut, seed, construction, name or source.name, 5, augment)


def _assemble(
    source: SourceData,
    scenario: str,
    cut: Cut,
    seed: int,
    construction: str,
    name: str,
    default_tasks: int,
    augment: bool,
) -> Benchmark:
    try:
        check_construction(construction, cut.classes_per_task)
    except ConfigError as err:
        raise err.under("benchmark") from None
    try:
        tasks = CONSTRUCTIONS[construction](source, scenario, cut, default_tasks, seed)
        tasks = builders.carve_validation(tasks, cut.val_fraction, seed)
        mean, std = source.channel_stats()
        benchmark = Benchmark(name, scenario, tuple(tasks), source.input_shape, mean, std, augment)
        return benchmark.without(cut.without) if cut.without else benchmark
    except ValueError as err:  # builders name the key first: "num_tasks = 3 is not valid: ..."
        raise ConfigError("", None, f"benchmark.{err}") from None


def named_benchmark(
    name: str,
    scenario: str,
    seed: int,
    cut: Cut = Cut(),
    where: Location = Location(),
    *,
    construction: str | None = None,
    augment: bool | None = None,
) -> Benchmark:
    """Load the source of the benchmark `name` (a key of BENCHMARKS) and build its task sequence in `scenario`.

    `seed` drives the class-order shuffle, the pixel permutations and the validation split;
    `construction` and `augment` None take the table's.
    """
    check_scenario(scenario)
    spec = BENCHMARKS[name]
    source = spec.source(where)
    construction = construction or spec.construction
    augment = spec.augment if augment is None else augment
    return _assemble(source, scenario, cut, seed, construction, name, spec.default_tasks, augment)
