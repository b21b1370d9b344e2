"""Small data sets written in the real on-disk formats (idx .gz, CIFAR pickles, Tiny ImageNet folders)."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    """One idx file of unsigned bytes (the MNIST format), gzipped when `compress`."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


def write_idx_set(
    folder: Path, names=IDX_NAMES, num_classes=10, n_train=40, n_test=20, offset=0, compress=True, seed=0
):
    """Four idx files (train/test images and labels) with labels cycling through the classes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    suffix = ".gz" if compress else ""
    arrays = (
        rng.integers(0, 255, (n_train, 28, 28)),
        np.arange(n_train) % num_classes + offset,
        rng.integers(0, 255, (n_test, 28, 28)),
        np.arange(n_test) % num_classes + offset,
    )
    for name, array in zip(names, arrays):
        write_idx(folder / f"{name}{suffix}", array, compress)


def emnist_letters_names() -> tuple[str, ...]:
    return tuple(
        f"emnist-letters-{s}-{k}-idx{d}-ubyte" for s in ("train", "test") for k, d in (("images", 3), ("labels", 1))
    )


def write_mnist_family(root: Path) -> None:
    """MNIST, FashionMNIST, KMNIST (10 classes) and EMNIST letters (labels 1..26) in torchvision's layout."""
    for cls in ("MNIST", "FashionMNIST", "KMNIST"):
        write_idx_set(root / cls / "raw")
    write_idx_set(root / "EMNIST" / "raw", emnist_letters_names(), num_classes=26, n_train=52, n_test=26, offset=1)


def _pickle(path: Path, entry: dict) -> None:
    with open(path, "wb") as fh:
        pickle.dump(entry, fh)


def write_cifar10(root: Path, per_batch: int = 20, n_test: int = 20) -> None:
    """`cifar-10-batches-py/` with five training batches and a test batch (bytes keys, as the original)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        _pickle(
            folder / name, {"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), "labels": list(np.arange(n) % 10)}
        )


def write_cifar100(root: Path, n_train: int = 200, n_test: int = 100) -> None:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for name, n in (("train", n_train), ("test", n_test)):
        _pickle(
            folder / name,
            {
                "data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
                "fine_labels": list(np.arange(n) % 100),
                "coarse_labels": list(np.arange(n) % 20),
            },
        )


def write_tinyimagenet(root: Path, num_classes: int = 200, per_class: int = 1, side: int = 64) -> list[str]:
    """`tiny-imagenet-200/` with train/<wnid>/images/*.JPEG and val/images + val_annotations.txt.

    Alternates JPEG and PNG files and includes a greyscale image, as the real archive does."""
    folder = root / "tiny-imagenet-200"
    rng = np.random.default_rng(2)
    wnids = [f"n{i:08d}" for i in range(num_classes)]
    lines = []
    (folder / "val" / "images").mkdir(parents=True, exist_ok=True)
    for c, wnid in enumerate(wnids):
        images = folder / "train" / wnid / "images"
        images.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            array = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
            image = Image.fromarray(array)
            if c == 1 and k == 0:
                image = image.convert("L")
            image.save(images / f"{wnid}_{k}.{'JPEG' if c % 2 else 'png'}")
        val_name = f"val_{c}.JPEG"
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(
            folder / "val" / "images" / val_name, format="JPEG"
        )
        lines.append(f"{val_name}\t{wnid}\t0\t0\t10\t10")
    (folder / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    (folder / "wnids.txt").write_text("\n".join(wnids) + "\n")
    return wnids


def write_imagenet_r(root: Path, num_classes: int = 200, per_class: int = 3, side: int = 12) -> None:
    """ImageNet-R's layout: `root/imagenet-r/<wnid>/*.jpg` (sizes vary; the loader squares them)."""
    rng = np.random.default_rng(2)
    for c in range(num_classes):
        folder = root / "imagenet-r" / f"n{c:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (side + i, side + c % 3, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"art_{i}.jpg")


def write_cub200(root: Path, num_classes: int = 200, per_class: int = 2, side: int = 12) -> None:
    """CUB-200-2011's layout: `root/CUB_200_2011/images/<class>/*.jpg` and its three id tables."""
    folder = root / "CUB_200_2011"
    rng = np.random.default_rng(3)
    rows: dict[str, list[str]] = {"images.txt": [], "image_class_labels.txt": [], "train_test_split.txt": []}
    image_id = 0
    for c in range(1, num_classes + 1):
        for i in range(per_class):
            image_id += 1
            rel = f"{c:03d}.Species_{c}/Species_{c}_{i}.jpg"
            (folder / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (side, side + 4, 3), dtype=np.uint8)).save(folder / "images" / rel)
            rows["images.txt"].append(f"{image_id} {rel}")
            rows["image_class_labels.txt"].append(f"{image_id} {c}")
            rows["train_test_split.txt"].append(f"{image_id} {int(i % 2 == 0)}")
    for name, lines in rows.items():
        (folder / name).write_text("\n".join(lines) + "\n")


def write_all(root: Path) -> Path:
    """Every built-in source's files under one root (Tiny ImageNet with one image per class)."""
    write_mnist_family(root)
    write_cifar10(root)
    write_cifar100(root)
    write_tinyimagenet(root)
    write_imagenet_r(root)
    write_cub200(root)
    return root
