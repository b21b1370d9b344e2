"""Every loader on small files in the real on-disk format; missing/corrupt files give one clear DataError."""

import pickle
import time

import numpy as np
import pytest
import torch

from retain.errors import DataError
from retain.scenarios import cifar, sources, tinyimagenet
from tests.fakedata import (
    emnist_letters_names,
    write_cifar10,
    write_cifar100,
    write_idx_set,
    write_mnist_family,
    write_tinyimagenet,
)

MNIST_FAMILY = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}


@pytest.mark.parametrize("name", sorted(MNIST_FAMILY))
def test_mnist_family_reads_gzipped_idx_in_torchvision_layout(tmp_path, name):
    write_idx_set(tmp_path / MNIST_FAMILY[name] / "raw", n_train=30, n_test=10)
    data = getattr(sources, name)(str(tmp_path))
    assert data.x_train.shape == (30, 1, 28, 28) and data.x_test.shape == (10, 1, 28, 28)
    assert data.x_train.dtype == torch.uint8 and data.num_classes == 10
    assert data.y_train.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_mnist_reads_uncompressed_files_as_torchvision_extracts_them(tmp_path):
    write_idx_set(tmp_path / "MNIST" / "raw", compress=False)
    assert sources.mnist(str(tmp_path)).x_train.shape[0] == 40


def test_emnist_letters_labels_start_at_zero_and_images_are_upright(tmp_path):
    folder = tmp_path / "EMNIST" / "raw"
    write_idx_set(folder, emnist_letters_names(), num_classes=26, n_train=52, n_test=26, offset=1)
    data = sources.emnist_letters(str(tmp_path))
    assert data.num_classes == 26 and data.y_train.min() == 0 and data.y_train.max() == 25
    raw = sources.read_idx(folder / "emnist-letters-train-images-idx3-ubyte.gz")
    assert torch.equal(data.x_train[3, 0], torch.from_numpy(raw[3].copy()).T)  # stored column-major


def test_emnist_label_out_of_range_is_a_data_error(tmp_path):
    write_idx_set(tmp_path / "EMNIST" / "raw", emnist_letters_names(), num_classes=26, offset=0)  # label 0 = N/A
    with pytest.raises(DataError, match="labels outside 0..25"):
        sources.emnist_letters(str(tmp_path))


def test_cifar10_batches_are_read_channel_first(tmp_path):
    write_cifar10(tmp_path)
    data = cifar.cifar10(str(tmp_path))
    assert data.x_train.shape == (100, 3, 32, 32) and data.x_test.shape == (20, 3, 32, 32)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_2", "rb") as fh:
        row = pickle.load(fh)["data"][0]
    assert torch.equal(data.x_train[20], torch.from_numpy(row.reshape(3, 32, 32)))  # R plane, then G, then B
    assert data.num_classes == 10 and data.y_train[:3].tolist() == [0, 1, 2]


def test_cifar100_uses_fine_labels(tmp_path):
    write_cifar100(tmp_path)
    data = cifar.cifar100(str(tmp_path))
    assert data.num_classes == 100 and int(data.y_train.max()) == 99
    assert data.x_train.shape == (200, 3, 32, 32)


def test_tinyimagenet_folder_layout_with_val_annotations(tmp_path):
    wnids = write_tinyimagenet(tmp_path, num_classes=4, per_class=2)
    data = tinyimagenet.tinyimagenet(str(tmp_path))
    assert data.num_classes == 4 and data.x_train.shape == (8, 3, 64, 64) and data.x_test.shape == (4, 3, 64, 64)
    assert data.y_train.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]  # sorted wnids, ImageFolder's order
    assert data.y_test.tolist() == [wnids.index(w) for w in wnids]
    grey = data.x_train[2]  # class 1's first image was saved greyscale: expanded to three equal planes
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    png = data.x_train[0]  # class 0 is PNG: lossless
    assert png.float().std() > 50


def test_tinyimagenet_accepts_the_extracted_folder_itself_as_root(tmp_path):
    write_tinyimagenet(tmp_path, num_classes=2)
    assert tinyimagenet.tinyimagenet(str(tmp_path / "tiny-imagenet-200")).num_classes == 2


LOADERS = {
    "mnist": (sources.mnist, "MNIST/raw"),
    "fashion_mnist": (sources.fashion_mnist, "FashionMNIST/raw"),
    "kmnist": (sources.kmnist, "KMNIST/raw"),
    "emnist_letters": (sources.emnist_letters, "EMNIST/raw"),
    "cifar10": (cifar.cifar10, "cifar-10-batches-py"),
    "cifar100": (cifar.cifar100, "cifar-100-python"),
    "tinyimagenet": (tinyimagenet.tinyimagenet, "tiny-imagenet-200"),
}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_missing_files_fail_fast_naming_the_path_and_how_to_get_them(tmp_path, monkeypatch, name):
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    loader, folder = LOADERS[name]
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        loader(str(tmp_path))
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert str(tmp_path / folder) in message
    assert "benchmark.root" in message
    assert ("benchmark.download=true" in message) or ("tiny-imagenet-200.zip" in message)


def test_corrupt_cifar_batch_names_the_file(tmp_path):
    write_cifar10(tmp_path)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(DataError, match=f"{bad}.*not a CIFAR batch"):
        cifar.cifar10(str(tmp_path))


def test_corrupt_image_and_bad_annotation_name_the_file(tmp_path):
    write_tinyimagenet(tmp_path, num_classes=2)
    folder = tmp_path / "tiny-imagenet-200"
    annotations = folder / "val" / "val_annotations.txt"
    good = annotations.read_text()
    annotations.write_text(good + "extra.JPEG\tn99999999\n")
    with pytest.raises(DataError, match="line 3"):
        tinyimagenet.tinyimagenet(str(tmp_path))
    annotations.write_text(good)
    image = folder / "val" / "images" / "val_1.JPEG"
    image.write_bytes(image.read_bytes()[:50])
    with pytest.raises(DataError, match="val_1.JPEG"):
        tinyimagenet.tinyimagenet(str(tmp_path))


def test_download_goes_through_torchvision_only_when_asked(tmp_path, monkeypatch):
    calls = []

    class FakeKMNIST:
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            write_idx_set(tmp_path / "KMNIST" / "raw")

    monkeypatch.setattr("torchvision.datasets.KMNIST", FakeKMNIST)
    with pytest.raises(DataError):
        sources.kmnist(str(tmp_path))
    assert calls == []
    assert sources.kmnist(str(tmp_path), download=True).x_train.shape[0] == 40
    assert calls == [(str(tmp_path), True, True), (str(tmp_path), False, True)]


def test_failed_download_is_a_data_error(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise RuntimeError("network unreachable")

    monkeypatch.setattr("torchvision.datasets.CIFAR100", offline)
    with pytest.raises(DataError, match="downloading CIFAR-100 .* failed: network unreachable"):
        cifar.cifar100(str(tmp_path), download=True)


def test_all_of_the_mnist_family_in_one_root(tmp_path):
    write_mnist_family(tmp_path)
    shapes = {n: getattr(sources, n)(str(tmp_path)).x_train.shape for n in (*MNIST_FAMILY, "emnist_letters")}
    assert shapes["emnist_letters"] == (52, 1, 28, 28) and shapes["mnist"] == (40, 1, 28, 28)


def test_idx_reader_rejects_an_image_count_mismatch(tmp_path):
    write_idx_set(tmp_path, n_train=40)
    from tests.fakedata import write_idx

    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(39) % 10)
    with pytest.raises(DataError, match="differ in count"):
        sources.mnist(str(tmp_path))


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_idx_file_names_the_path_and_how_to_get_a_fresh_copy(tmp_path, damage):
    write_idx_set(tmp_path, n_train=40)
    bad = tmp_path / "train-images-idx3-ubyte.gz"
    raw = bad.read_bytes()
    bad.write_bytes(raw[: len(raw) // 2] if damage == "truncate" else b"\x1f\x8b" + b"\x00" * 40)
    with pytest.raises(DataError) as info:
        sources.mnist(str(tmp_path))
    message = str(info.value)
    assert str(bad) in message and "fresh copy" in message
    assert "benchmark.download=true" in message and "benchmark.root" in message


def test_corrupt_cifar_batch_says_how_to_get_a_fresh_copy(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"\x80\x02garbage")
    with pytest.raises(DataError, match="test_batch.*fresh copy.*benchmark.download=true"):
        cifar.cifar10(str(tmp_path))


def test_corrupt_tinyimagenet_image_says_how_to_get_a_fresh_copy(tmp_path):
    write_tinyimagenet(tmp_path, num_classes=2)
    image = next((tmp_path / "tiny-imagenet-200" / "train").rglob("*.JPEG"))
    image.write_bytes(b"not an image")
    with pytest.raises(DataError, match=f"{image.name}.*tiny-imagenet-200.zip"):
        tinyimagenet.tinyimagenet(str(tmp_path))


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))  # creating the marker file proves the payload ran


def test_a_cifar_batch_crafted_to_run_code_is_refused_and_the_code_does_not_run(tmp_path):
    write_cifar10(tmp_path)
    marker = tmp_path / "payload-ran"
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    batch.write_bytes(pickle.dumps({"data": _RunsCode(marker), "labels": [0]}))
    with pytest.raises(DataError, match="refusing to load"):
        cifar.cifar10(str(tmp_path))
    assert not marker.exists()


def test_cifar_batches_written_by_python2_style_pickles_still_load(tmp_path):
    """Protocol-2 pickles (as the published archives) encode bytes through `_codecs.encode`: allowed."""
    write_cifar10(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    entry = pickle.loads(batch.read_bytes())
    entry[b"batch_label"] = b"training batch 1 of 5"
    batch.write_bytes(pickle.dumps(entry, protocol=2))
    assert cifar.cifar10(str(tmp_path)).x_train.shape[1:] == (3, 32, 32)
