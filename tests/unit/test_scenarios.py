import time

import numpy as np
import pytest
import torch

from retain.config import BenchmarkConfig
from retain.errors import DataError
from retain.experiment.build import build_benchmark
from retain.scenarios.builders import class_order, permute_pixels, split_by_class
from retain.scenarios.sources import DEBIAN_FASHION_MNIST, digits, fashion_mnist, read_idx
from tests.conftest import synthetic_source
from tests.fakedata import write_idx


def test_split_labels_per_scenario():
    source = synthetic_source(num_classes=4)
    order = [2, 0, 3, 1]
    til = split_by_class(source, "til", 2, order)
    cil = split_by_class(source, "cil", 2, order)
    assert [t.classes for t in til] == [(2, 0), (3, 1)]
    assert set(til[1].y_train.tolist()) == {0, 1}
    assert set(cil[1].y_train.tolist()) == {2, 3}
    # the label encodes the position of the original class in the order
    originals = source.y_train[torch.isin(source.y_train, torch.tensor([3, 1]))]
    assert sorted((cil[1].y_train - 2).tolist()) == sorted(order[2:].index(c) for c in originals.tolist())


def test_split_tasks_have_disjoint_classes_and_all_samples():
    source = synthetic_source(num_classes=4)
    tasks = split_by_class(source, "til", 4, list(range(4)))
    assert len({c for t in tasks for c in t.classes}) == 4
    assert sum(len(t.y_train) for t in tasks) == len(source.y_train)
    assert sum(len(t.y_test) for t in tasks) == len(source.y_test)


def test_split_refuses_an_uneven_split():
    with pytest.raises(ValueError, match="divisor"):
        split_by_class(synthetic_source(num_classes=4), "til", 3, list(range(4)))


def test_class_order_fixed_and_seeded_shuffle():
    assert class_order(10, "fixed", 5) == list(range(10))
    assert class_order(10, "shuffle", 5) == class_order(10, "shuffle", 5)
    assert class_order(10, "shuffle", 5) != class_order(10, "shuffle", 6)
    assert sorted(class_order(10, "shuffle", 5)) == list(range(10))


def test_permutations_fixed_by_seed_and_different_across_tasks():
    source = synthetic_source()
    a = permute_pixels(source, "dil", 3, seed=1)
    b = permute_pixels(source, "dil", 3, seed=1)
    c = permute_pixels(source, "dil", 3, seed=2)
    assert all(torch.equal(x.x_train, y.x_train) for x, y in zip(a, b))
    assert not torch.equal(a[0].x_train, c[0].x_train)
    assert not torch.equal(a[0].x_train, a[1].x_train)
    # a permutation moves pixels, it does not change them
    assert torch.equal(a[1].x_train.flatten(1).sort(1).values, source.x_train.flatten(1).sort(1).values)
    assert torch.equal(a[2].y_train, source.y_train)


def test_permuted_cil_labels_are_new_classes_per_task():
    tasks = permute_pixels(synthetic_source(num_classes=4), "cil", 3, seed=0)
    assert [int(t.y_train.min()) for t in tasks] == [0, 4, 8]


def test_digits_split_is_fixed_and_stratified():
    a, b = digits(), digits()
    assert torch.equal(a.x_train, b.x_train) and a.x_train.dtype == torch.uint8
    assert a.input_shape == (1, 8, 8)
    assert len(a.y_train) + len(a.y_test) == 1797
    counts = torch.bincount(a.y_test, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38


def test_split_digits_benchmark():
    bench = build_benchmark(BenchmarkConfig(name="split_digits"), "til", seed=0)
    assert bench.num_tasks == 5 and [t.classes for t in bench.tasks][0] == (0, 1)
    shuffled = build_benchmark(BenchmarkConfig(name="split_digits", class_order="shuffle"), "til", seed=0)
    assert [t.classes for t in shuffled.tasks] != [t.classes for t in bench.tasks]


def write_fake_fashion_mnist(folder, n_train=40, n_test=20, compress=True):
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 255, (n_train, 28, 28)), compress)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", np.arange(n_train) % 10, compress)
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 255, (n_test, 28, 28)), compress)
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", np.arange(n_test) % 10, compress)


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_from_a_root_folder(tmp_path, compress):
    write_fake_fashion_mnist(tmp_path, compress=compress)
    data = fashion_mnist(str(tmp_path))
    assert data.x_train.shape == (40, 1, 28, 28) and data.x_test.shape == (20, 1, 28, 28)
    assert data.y_train.tolist()[:3] == [0, 1, 2]
    bench = build_benchmark(BenchmarkConfig(name="permuted_fmnist", num_tasks=3, root=str(tmp_path)), "dil", 0)
    assert bench.num_tasks == 3 and bench.input_shape == (1, 28, 28)


def test_fashion_mnist_in_torchvision_layout(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    write_fake_fashion_mnist(raw, compress=False)
    assert fashion_mnist(str(tmp_path)).x_train.shape[0] == 40


def test_truncated_idx_file_is_a_clear_error(tmp_path):
    write_fake_fashion_mnist(tmp_path, compress=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated"):
        fashion_mnist(str(tmp_path))
    with pytest.raises(DataError, match="magic"):
        (tmp_path / "x").write_bytes(b"\x01\x02\x03\x04")
        read_idx(tmp_path / "x")


def test_missing_fashion_mnist_fails_fast_and_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr("retain.scenarios.sources.DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        fashion_mnist(str(tmp_path / "empty"))
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert str(tmp_path / "empty") in message and "apt-get install dataset-fashion-mnist" in message
    assert "benchmark.download=true" in message


@pytest.mark.skipif(
    not (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_real_fashion_mnist_files():
    data = fashion_mnist()
    assert data.x_train.shape == (60000, 1, 28, 28) and data.x_test.shape == (10000, 1, 28, 28)
    assert torch.bincount(data.y_train).tolist() == [6000] * 10


def test_channel_stats_match_the_direct_computation():
    source = synthetic_source(num_classes=4, per_class=3000)  # more than one 4096-image chunk
    x = source.x_train.to(torch.float64).div(255)
    mean, std = source.channel_stats()
    assert mean == pytest.approx(x.mean((0, 2, 3)).tolist(), rel=1e-9)
    assert std == pytest.approx(x.std((0, 2, 3)).tolist(), rel=1e-9)
