"""Constructions (split with task counts and class orders, rotation), validation split, `without()`,
and every registered benchmark built from files in the real formats."""

import numpy as np
import pytest
import torch

from retain.config import BenchmarkConfig
from retain.errors import ConfigError
from retain.experiment.build import build_benchmark
from retain.scenarios import BENCHMARKS
from retain.scenarios.benchmarks import make_benchmark
from retain.scenarios.builders import (
    carve_validation,
    class_order,
    rotate_images,
    rotation_angles,
    split_by_class,
    tasks_and_width,
)
from retain.scenarios.custom import from_tensors
from retain.scenarios.sources import DEBIAN_FASHION_MNIST
from retain.scenarios.task import Benchmark
from tests.conftest import synthetic_source
from tests.fakedata import write_all


def test_tasks_and_width_resolves_either_value():
    assert tasks_and_width(100, None, None, 10) == (10, 10)
    assert tasks_and_width(100, 20, None, 10) == (20, 5)
    assert tasks_and_width(100, None, 5, 10) == (20, 5)
    assert tasks_and_width(10, 2, 3, 5) == (2, 3)  # 6 of the 10 classes
    with pytest.raises(ValueError, match="classes_per_task = 3 is not valid"):
        tasks_and_width(10, None, 3, 5)
    with pytest.raises(ValueError, match="4 × 3"):
        tasks_and_width(10, 4, 3, 5)


def test_explicit_class_order_is_used_as_given_and_checked():
    assert class_order(10, [3, 1, 2], 0) == [3, 1, 2]
    for bad in ([1, 1], [10], []):
        with pytest.raises(ValueError, match="class_order"):
            class_order(10, bad, 0)


def test_split_with_a_subset_of_classes():
    source = synthetic_source(num_classes=6)
    tasks = split_by_class(source, "cil", 2, [5, 0, 3, 1, 2, 4], per_task=2)
    assert [t.classes for t in tasks] == [(5, 0), (3, 1)]
    assert set(tasks[1].y_train.tolist()) == {2, 3}


def test_rotations_are_fixed_per_task_and_the_first_task_is_upright():
    source = synthetic_source(num_classes=2, side=6)
    assert rotation_angles(4) == [0.0, 45.0, 90.0, 135.0]
    a = rotate_images(source, "dil", 3)
    b = rotate_images(source, "dil", 3)
    assert torch.equal(a[0].x_train, source.x_train)
    assert all(torch.equal(x.x_train, y.x_train) for x, y in zip(a, b))
    assert not torch.equal(a[1].x_train, a[2].x_train)
    quarter = rotate_images(source, "dil", 1, angles=[90.0])[0]
    assert torch.equal(quarter.x_test, torch.rot90(source.x_test, 1, dims=(2, 3)))  # counter-clockwise
    assert torch.equal(a[2].y_train, source.y_train)


@pytest.mark.parametrize("scenario,offsets", [("til", [0, 0, 0]), ("dil", [0, 0, 0]), ("cil", [0, 2, 4])])
def test_rotated_labels_per_scenario(scenario, offsets):
    """TIL and DIL keep every task's labels 0..C-1; CIL gives each rotation new class ids (task t: C(t-1)..)."""
    source = synthetic_source(num_classes=2, side=6)
    tasks = rotate_images(source, scenario, 3)
    for task, offset in zip(tasks, offsets):
        assert torch.equal(task.y_train, source.y_train + offset) and torch.equal(task.y_test, source.y_test + offset)
        assert task.num_classes == 2


def test_validation_split_is_seeded_disjoint_and_complete():
    tasks = split_by_class(synthetic_source(num_classes=4, per_class=25), "til", 2, [0, 1, 2, 3])
    carved = carve_validation(tasks, 0.2, seed=3)
    again = carve_validation(tasks, 0.2, seed=3)
    other = carve_validation(tasks, 0.2, seed=4)
    for original, task in zip(tasks, carved):
        assert len(task.y_val) == 10 and len(task.y_train) == 40
        rows = torch.cat([task.x_train, task.x_val]).flatten(1)
        assert sorted(map(tuple, rows.tolist())) == sorted(map(tuple, original.x_train.flatten(1).tolist()))
        assert torch.equal(task.x_test, original.x_test)
    assert torch.equal(carved[0].x_val, again[0].x_val) and not torch.equal(carved[0].x_val, other[0].x_val)
    assert carve_validation(tasks, 0.0, 3)[0].x_val is None


def _bench(scenario: str, num_tasks: int = 3, order=(0, 1, 2, 3, 4, 5)) -> Benchmark:
    source = synthetic_source(num_classes=6)
    tasks = split_by_class(source, scenario, num_tasks, list(order))
    mean, std = source.channel_stats()
    return Benchmark("b", scenario, tuple(tasks), source.input_shape, mean, std)


@pytest.mark.parametrize("scenario", ["til", "dil", "cil"])
def test_without_keeps_remaining_tasks_bit_identical_and_renumbers_them(scenario):
    full = _bench(scenario)
    rest = full.without([2])
    assert [t.id for t in rest.tasks] == [1, 2] and [t.source_id for t in rest.tasks] == [1, 3]
    for kept, original in zip(rest.tasks, (full.tasks[0], full.tasks[2])):
        assert kept.x_train is original.x_train and kept.x_test is original.x_test  # the same tensors
        assert kept.classes == original.classes and kept.num_classes == original.num_classes
    assert torch.equal(rest.tasks[0].y_train, full.tasks[0].y_train)
    # labels are those of the benchmark built without the removed classes in the first place
    direct = _bench(scenario, 2, (0, 1, 4, 5))
    for kept, built in zip(rest.tasks, direct.tasks):
        assert torch.equal(kept.y_train, built.y_train) and torch.equal(kept.y_test, built.y_test)
    assert full.num_tasks == 3 and full.tasks[2].id == 3  # the original is untouched


def test_without_shifts_cil_validation_labels_too():
    full = _bench("cil")
    validated = Benchmark(
        "b", "cil", tuple(carve_validation(full.tasks, 0.25, 0)), full.input_shape, full.mean, full.std
    )
    rest = validated.without([1])
    assert torch.equal(rest.tasks[0].y_val, validated.tasks[1].y_val - 2)
    assert rest.tasks[0].x_val is validated.tasks[1].x_val


def test_without_rejects_unknown_tasks_and_can_chain():
    full = _bench("cil")
    with pytest.raises(KeyError, match="no task \\[7\\]"):
        full.without([7])
    once = full.without([1]).without([1])
    assert [t.source_id for t in once.tasks] == [3] and int(once.tasks[0].y_train.min()) == 0


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return write_all(tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize("name", sorted(set(BENCHMARKS) - {"custom"}))
def test_every_registered_benchmark_builds_from_files_in_the_real_format(data_root, name):
    spec = BENCHMARKS[name]
    bench = build_benchmark(BenchmarkConfig(name=name, root=str(data_root)), spec.default_scenario, 0)
    assert bench.num_tasks == spec.default_tasks and bench.augment == spec.augment
    classes = [c for t in bench.tasks for c in t.classes]
    if spec.construction == "split":
        assert len(classes) == len(set(classes))  # disjoint classes across tasks
    assert all(t.x_train.dtype == torch.uint8 and len(t.y_train) for t in bench.tasks)


def test_augmentation_default_can_be_overridden(data_root):
    assert build_benchmark(BenchmarkConfig(name="split_cifar10", root=str(data_root)), "til", 0).augment
    off = BenchmarkConfig(name="split_cifar10", root=str(data_root), augment=False)
    assert not build_benchmark(off, "til", 0).augment
    on = BenchmarkConfig(name="split_mnist", root=str(data_root), augment=True)
    assert build_benchmark(on, "til", 0).augment


def test_split_cifar100_task_counts_and_validation_from_config(data_root):
    cfg = BenchmarkConfig(name="split_cifar100", root=str(data_root), classes_per_task=5, val_fraction=0.5)
    bench = build_benchmark(cfg, "til", 0)
    assert bench.num_tasks == 20 and all(len(t.y_val) == 5 and len(t.y_train) == 5 for t in bench.tasks)
    with pytest.raises(ConfigError, match="benchmark.num_tasks = 3 is not valid: 100 classes"):
        build_benchmark(BenchmarkConfig(name="split_cifar100", root=str(data_root), num_tasks=3), "til", 0)


def test_make_benchmark_from_your_own_tensors():
    rng = np.random.default_rng(0)
    source = from_tensors(
        rng.integers(0, 255, (60, 5, 5, 3), dtype=np.uint8),
        np.arange(60) % 6,
        rng.integers(0, 255, (12, 5, 5, 3), dtype=np.uint8),
        np.arange(12) % 6,
    )
    assert source.input_shape == (3, 5, 5) and source.num_classes == 6
    split = make_benchmark(source, "cil", num_tasks=3, class_order=[5, 4, 3, 2, 1, 0], val_fraction=0.5)
    assert [t.classes for t in split.tasks] == [(5, 4), (3, 2), (1, 0)] and len(split.tasks[0].y_val) == 10
    permuted = make_benchmark(source, "dil", construction="permuted", num_tasks=2)
    assert permuted.num_tasks == 2 and permuted.tasks[1].num_classes == 6
    with pytest.raises(ConfigError, match="benchmark.num_tasks = 4 is not valid"):
        make_benchmark(source, num_tasks=4)


@pytest.mark.skipif(
    not (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_real_split_fashion_mnist_sizes_and_validation():
    bench = build_benchmark(BenchmarkConfig(name="split_fmnist", val_fraction=0.1), "til", 0)
    assert [t.classes for t in bench.tasks] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert all(len(t.y_train) == 10800 and len(t.y_val) == 1200 and len(t.y_test) == 2000 for t in bench.tasks)
    assert bench.mean == pytest.approx((0.2860,), abs=1e-4) and bench.std == pytest.approx((0.3530,), abs=1e-4)
