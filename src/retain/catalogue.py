"""The registries' names and one-line descriptions as plain data: what `retain list` prints and the names
a config may use, known without importing torch.

The registries (`retain.scenarios.BENCHMARKS`, `retain.models.BACKBONES`, `retain.algorithms.ALGORITHMS`,
`retain.scenarios.setting.SCENARIOS`, `retain.unlearning.UNLEARNING_METHODS` with the experiment's
`SEQUENCE_METHODS`, `retain.scenarios.benchmarks.CONSTRUCTIONS`) hold the classes and functions, and
importing them imports torch (seconds). The command line reads this module instead, so `retain list` and
an unknown name in a config answer at once. `tests/unit/test_catalogue.py` checks that every entry here
names exactly what its registry holds, in the same order and with the same description (for a class: the
first paragraph of its docstring), so a registry entry without its line here fails a test. The library
itself (`retain.experiment.build`) checks names against the registries, so a name added to a registry
at run time (as tests do) is known to the Python API, not to the command line.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retain.errors import ConfigError, one_of

if TYPE_CHECKING:  # `retain list` reads the tables alone: it need not load the config package
    from retain.config import Config


@dataclass(frozen=True)
class Listed:
    """One registered component: its name (what a config says) and what it is, in one line."""

    name: str
    description: str


@dataclass(frozen=True)
class ListedBenchmark:
    """One row of the benchmark table: its construction, default number of tasks and default scenario."""

    name: str
    construction: str
    tasks: int
    scenario: str
    description: str


B = ListedBenchmark
BENCHMARKS: tuple[ListedBenchmark, ...] = (
    B("split_digits", "split", 5, "til", "scikit-learn digits 8x8, 5 tasks x 2 classes"),
    B("permuted_digits", "permuted", 5, "dil", "scikit-learn digits 8x8, pixel-permuted tasks"),
    B("split_mnist", "split", 5, "til", "MNIST 28x28, 5 tasks x 2 classes"),
    B("permuted_mnist", "permuted", 10, "dil", "MNIST 28x28, pixel-permuted tasks"),
    B("rotated_mnist", "rotated", 10, "dil", "MNIST 28x28, task t rotated by (t-1)*180/T degrees"),
    B("split_fmnist", "split", 5, "til", "Fashion-MNIST 28x28, 5 tasks x 2 classes"),
    B("permuted_fmnist", "permuted", 10, "dil", "Fashion-MNIST 28x28, pixel-permuted tasks"),
    B("split_kmnist", "split", 5, "til", "Kuzushiji-MNIST 28x28, 5 tasks x 2 classes"),
    B("permuted_kmnist", "permuted", 10, "dil", "Kuzushiji-MNIST 28x28, pixel-permuted tasks"),
    B("split_emnist_letters", "split", 13, "til", "EMNIST letters 28x28, 13 tasks x 2 classes"),
    B("permuted_emnist_letters", "permuted", 10, "dil", "EMNIST letters 28x28 (26 classes), pixel-permuted tasks"),
    B("split_cifar10", "split", 5, "til", "CIFAR-10 32x32 RGB, 5 tasks x 2 classes, crop+flip"),
    B("split_cifar100", "split", 10, "til", "CIFAR-100 32x32 RGB, 10 tasks x 10 classes, crop+flip"),
    B("split_cifar100_20x5", "split", 20, "til", "CIFAR-100 32x32 RGB, 20 tasks x 5 classes, crop+flip"),
    B("split_tinyimagenet", "split", 10, "til", "Tiny ImageNet 64x64 RGB, 10 tasks x 20 classes, crop+flip"),
    B(
        "split_imagenet_r",
        "split",
        10,
        "til",
        "ImageNet-R 224x224 RGB, 200 classes (seeded 80/20 split), 10 tasks x 20",
    ),
    B("split_cub200", "split", 10, "til", "CUB-200-2011 224x224 RGB, official split, 10 tasks x 20 classes"),
    B("custom", "split", 5, "til", "your data: benchmark.path = a .npz or an ImageFolder dir; benchmark.construction"),
)

BACKBONES: tuple[Listed, ...] = (
    Listed("mlp", "Fully connected ReLU network on the flattened input; `hidden` gives the layer widths."),
    Listed("small_cnn", "Conv(3×3)–ReLU–MaxPool(2) per entry of `channels`, then a 256-unit fully connected layer."),
    Listed("resnet18", "torchvision's ResNet-18 with the 3×3, stride-1 stem and no max-pool used for 32×32 inputs."),
    Listed("timm", "Any timm architecture (`model`), from the local `weights` file or timm's download (`download`)."),
    Listed(
        "torchvision",
        "torchvision's ImageNet ResNets (`model`: resnet18, 34, 50, 101, 152) with their 7×7 stem, from the "
        "local `weights` file (torchvision's own `.pth` files) or torchvision's download (`download`).",
    ),
)

ALGORITHMS: tuple[Listed, ...] = (
    Listed(
        "finetuning",
        "Train each task with cross-entropy on its own data, starting from the previous task's weights.",
    ),
    Listed("lwf", "Learning without Forgetting: finetuning plus distillation from the earlier models' outputs."),
    Listed("joint", "One model trained on the data of every task seen so far, all at once."),
    Listed(
        "independent",
        "A fresh model per task: re-initialised at each task's start and frozen at its end (a pretrained "
        "backbone restarts from its pretrained weights; a frozen one is shared by the task models).",
    ),
    Listed("ncm", "Each class is the mean of its training samples' features; a test sample takes the nearest mean."),
)

SCENARIOS: tuple[str, ...] = ("til", "dil", "cil")
CONSTRUCTIONS: tuple[str, ...] = ("split", "permuted", "rotated")
# `none`, the wrappers of retain.unlearning.UNLEARNING_METHODS, then the experiment's SEQUENCE_METHODS
UNLEARNING_METHODS: tuple[str, ...] = ("none", "amnesiac", "rewind")


def names(entries: Collection[Listed | ListedBenchmark]) -> list[str]:
    """The names of `entries`, in their order."""
    return [entry.name for entry in entries]


def valid_names() -> dict[str, list[str]]:
    """Per config key that names a registry entry, the names it may take."""
    return {
        "benchmark.name": names(BENCHMARKS),
        "backbone.name": names(BACKBONES),
        "scenario": list(SCENARIOS),
        "unlearning.method": list(UNLEARNING_METHODS),
        "benchmark.construction": list(CONSTRUCTIONS),
        "algorithm.name": names(ALGORITHMS),
    }


def check_names(cfg: Config, skip: Collection[str] = ()) -> None:
    """Raise one ConfigError naming every registry name of `cfg` that is not registered (the same
    one-line messages as `retain.experiment.build.check_config`, which then finds none), except the keys
    in `skip` (a command that sets them itself).

    Raises:
        ConfigError: an unknown `benchmark.name`, `backbone.name`, `scenario`, `unlearning.method`,
            `benchmark.construction` or `algorithm.name`, with the nearest valid name suggested.
    """
    valid = valid_names()
    given: dict[str, str | None] = {
        "benchmark.name": cfg.benchmark.name,
        "backbone.name": cfg.backbone.name,
        "scenario": cfg.scenario,
        "unlearning.method": cfg.unlearning.method,
        "benchmark.construction": cfg.benchmark.construction,
        "algorithm.name": cfg.algorithm.name,
    }
    unknown = [
        ConfigError(key, name, one_of(valid[key], name))
        for key, name in given.items()
        if key not in skip and name is not None and name not in valid[key]
    ]
    if unknown:
        raise ConfigError.of_all(unknown)


def check_algorithm_list(given: Collection[str], valid: Collection[str] | None = None) -> None:
    """Refuse a list of algorithms to compare (`retain compare --algorithms`) that is empty, repeats a
    name or holds one that is not in `valid` (default: the catalogue's algorithm names).

    Raises:
        ConfigError: on `--algorithms`, with the nearest valid name to the first unknown one.
    """
    valid = names(ALGORITHMS) if valid is None else valid
    unknown = [name for name in given if name not in valid]
    if unknown or not given or len(set(given)) != len(given):
        raise ConfigError("--algorithms", ",".join(given), "distinct names, " + one_of(valid, (unknown or [""])[0]))


def check_grid_names(grid: Collection[tuple[str, Collection[object]]]) -> None:
    """Raise one ConfigError naming every value of a sweep grid (`retain sweep --grid KEY=V1,V2`) that is
    not a registered name for its key (the keys of `valid_names()`; other keys are left to the sweep).

    Raises:
        ConfigError: `--grid KEY = VALUE` for each unknown name, with the nearest valid one suggested.
    """
    valid = valid_names()
    unknown = [
        ConfigError(f"--grid {key}", value, one_of(valid[key], str(value)))
        for key, values in grid
        if key in valid
        for value in values
        if value not in valid[key]
    ]
    if unknown:
        raise ConfigError.of_all(unknown)
