"""Raw data sources: each returns a `SourceData` (uint8 images N×C×H×W, int64 labels, train and test).

Sources never download unless asked (`benchmark.download: true`); a missing or corrupt file raises a
`DataError` that says where retain looked and how to obtain the data.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from retain.errors import DataError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2


@dataclass(frozen=True, eq=False)
class SourceData:
    """A labelled image data set with its fixed train/test split."""

    name: str
    x_train: torch.Tensor  # (N, C, H, W) uint8
    y_train: torch.Tensor  # (N,) int64
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of the training images on the [0, 1] scale (for normalisation)."""
        x = self.x_train.to(torch.float64).div(255)
        dims = (0, 2, 3)
        return tuple(x.mean(dims).tolist()), tuple(x.std(dims).tolist())


def digits() -> SourceData:
    """scikit-learn's bundled 8×8 handwritten digits (1797 images), with a fixed stratified 80/20 split.

    Pixel values 0..16 are rescaled to 0..255 so that every source shares the uint8 convention.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # (N, 1, 8, 8)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, bunch.target, test_size=DIGITS_TEST_FRACTION, random_state=DIGITS_SPLIT_SEED, stratify=bunch.target
    )
    return SourceData(
        "digits",
        torch.from_numpy(x_tr),
        torch.from_numpy(y_tr).long(),
        torch.from_numpy(x_te),
        torch.from_numpy(y_te).long(),
        10,
    )


IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def read_idx(path: Path) -> np.ndarray:
    """Read one idx file (optionally gzipped), the format of the MNIST family; DataError if malformed."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as err:  # zlib.error: a damaged gzip stream
        raise DataError(f"cannot read {path}: {err}; delete it and obtain the file again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an idx file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DataError(f"{path} is truncated or corrupt: {len(raw)} bytes, expected {expected} for shape {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def load_idx_folder(name: str, folder: Path, num_classes: int = 10) -> SourceData | None:
    """Load the four MNIST-style idx files from `folder` (flat or torchvision's `<Name>/raw` layout)."""
    paths = {key: _find_idx(folder, stem) for key, stem in IDX_FILES.items()}
    if any(p is None for p in paths.values()):
        return None
    arrays = {key: read_idx(p) for key, p in paths.items()}  # type: ignore[arg-type]
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) == 0:
            raise DataError(
                f"{folder}: {split} files have shapes {list(images.shape)} and {list(labels.shape)}; expected "
                f"images (N, H, W) and labels (N,) with N > 0"
            )
        if len(images) != len(labels):
            raise DataError(f"{folder}: {split} images and labels differ in count")
        if labels.max() >= num_classes:
            raise DataError(f"{folder}: {split} labels go up to {labels.max()}, expected 0..{num_classes - 1}")
    return SourceData(
        name,
        torch.from_numpy(arrays["x_train"].copy())[:, None],
        torch.from_numpy(arrays["y_train"].astype(np.int64)),
        torch.from_numpy(arrays["x_test"].copy())[:, None],
        torch.from_numpy(arrays["y_test"].astype(np.int64)),
        num_classes,
    )


def fashion_mnist(root: str | None = None, download: bool = False) -> SourceData:
    """Fashion-MNIST (Xiao et al. 2017): 60k/10k 28×28 greyscale images of 10 clothing classes.

    Looks in `root` (flat idx files or torchvision's `FashionMNIST/raw`), then in Debian's
    `dataset-fashion-mnist` location, then downloads through torchvision into `root` when allowed.
    """
    candidates = []
    if root is not None:
        candidates += [Path(root), Path(root) / "FashionMNIST" / "raw"]
    candidates.append(DEBIAN_FASHION_MNIST)
    for folder in candidates:
        data = load_idx_folder("fashion_mnist", folder)
        if data is not None:
            return data
    if download:
        target = Path(root) if root is not None else Path.home() / ".cache" / "retain"
        _torchvision_download(target)
        data = load_idx_folder("fashion_mnist", target / "FashionMNIST" / "raw")
        if data is not None:
            return data
    looked = ", ".join(str(c) for c in candidates)
    raise DataError(
        f"Fashion-MNIST not found (looked in: {looked}). Get it either with "
        f"`apt-get install dataset-fashion-mnist` (Debian) or by setting benchmark.download=true "
        f"(optionally with benchmark.root=DIR) to download it through torchvision."
    )


def _torchvision_download(target: Path) -> None:
    from torchvision.datasets import FashionMNIST

    try:
        for train in (True, False):
            FashionMNIST(str(target), train=train, download=True)
    except Exception as err:  # torchvision raises plain RuntimeError/URLError on network failures
        raise DataError(f"downloading Fashion-MNIST into {target} failed: {err}") from None
