"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009) from their pickled Python batches, in torchvision's layout.

The folder layout and file names are torchvision's (`<root>/cifar-10-batches-py/data_batch_1..5`,
`test_batch`; `<root>/cifar-100-python/train`, `test`) and downloading goes through torchvision's
`CIFAR10`/`CIFAR100` classes. The batches are read here rather than through those classes so that a
missing or corrupt file gives one `DataError` naming it (torchvision's classes say only "Dataset not
found or corrupted") and so that the checksum of 170 MB is not recomputed on every run.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from retain.errors import DataError, obtain_hint
from retain.scenarios.sources import SourceData, default_root


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR variant keeps its batches and which key holds the labels."""

    name: str
    title: str
    torchvision_class: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: str
    num_classes: int


CIFAR = {
    "cifar10": CifarLayout(
        "cifar10",
        "CIFAR-10",
        "CIFAR10",
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        "labels",
        10,
    ),
    "cifar100": CifarLayout(
        "cifar100", "CIFAR-100", "CIFAR100", "cifar-100-python", ("train",), ("test",), "fine_labels", 100
    ),
}


# The only globals a CIFAR batch needs (numpy arrays); anything else in the pickle could run code.
_ALLOWED_GLOBALS = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}  # bytes in protocol-2 pickles


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles plain data and numpy arrays only: a crafted file cannot import or call anything else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR batch holds only data")
        return super().find_class(module, name)


def read_cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch → uint8 images (N, 3, 32, 32) and int64 labels; DataError if malformed."""
    try:
        with open(path, "rb") as fh:
            entry = _BatchUnpickler(fh, encoding="latin1").load()
        data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(entry[label_key], dtype=np.int64)
    except FileNotFoundError:
        raise DataError(f"{path} is missing") from None
    except Exception as err:  # unpickling garbage raises many types; all mean "corrupt"
        raise DataError(f"{path} is not a CIFAR batch ({type(err).__name__}: {err})") from None
    if len(data) != len(labels):
        raise DataError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data, labels


def _load(layout: CifarLayout, folder: Path) -> SourceData:
    def read(files: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [read_cifar_batch(folder / f, layout.label_key) for f in files]
        return torch.from_numpy(np.concatenate([p[0] for p in parts])), torch.from_numpy(
            np.concatenate([p[1] for p in parts])
        )

    x_tr, y_tr = read(layout.train_files)
    x_te, y_te = read(layout.test_files)
    for path, y in ((folder / layout.train_files[0], y_tr), (folder / layout.test_files[0], y_te)):
        if len(y) and (y.min() < 0 or y.max() >= layout.num_classes):
            raise DataError(f"{path}: labels outside 0..{layout.num_classes - 1}")
    return SourceData(layout.name, x_tr, y_tr, x_te, y_te, layout.num_classes)


def load_cifar(name: str, root: str | None = None, download: bool = False) -> SourceData:
    """CIFAR-10 (`name="cifar10"`) or CIFAR-100 (`"cifar100"`): 50k/10k 32×32 RGB images."""
    layout = CIFAR[name]
    base = Path(root) if root is not None else default_root()
    folder = base / layout.folder
    expected = [folder / f for f in layout.train_files + layout.test_files]
    if not all(p.is_file() for p in expected) and download:
        _download(layout, base)
    how = (
        f"Set benchmark.root=DIR to the folder holding {layout.folder}/ (the extracted python version of the "
        f"archive), or benchmark.download=true to download it through torchvision."
    )
    missing = [p for p in expected if not p.is_file()]
    if missing:
        raise DataError(
            f"{layout.title} not found: {missing[0]} is missing (expected {folder}/ with "
            f"{', '.join(layout.train_files + layout.test_files)}). {how}"
        )
    with obtain_hint(f"Delete {folder} and obtain a fresh copy. {how}"):
        return _load(layout, folder)


def _download(layout: CifarLayout, target: Path) -> None:
    import torchvision.datasets

    cls = getattr(torchvision.datasets, layout.torchvision_class)
    try:
        cls(str(target), train=True, download=True)
    except Exception as err:  # network failures surface as RuntimeError/URLError
        raise DataError(f"downloading {layout.title} into {target} failed: {err}") from None


def cifar10(root: str | None = None, download: bool = False) -> SourceData:
    """CIFAR-10: 10 classes, 5k train / 1k test images each."""
    return load_cifar("cifar10", root, download)


def cifar100(root: str | None = None, download: bool = False) -> SourceData:
    """CIFAR-100: 100 fine classes, 500 train / 100 test images each."""
    return load_cifar("cifar100", root, download)
