"""Raw data sources: each returns a `SourceData` (uint8 images N×C×H×W, int64 labels, train and test).

Sources never download unless asked (`benchmark.download: true`); a missing or corrupt file raises a
`DataError` that says where retain looked and how to obtain the data.
"""

from __future__ import annotations

import gzip
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from retain.errors import DataError, obtain_hint

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
        """Per-channel mean and std of the training images on the [0, 1] scale (for normalisation).

        Accumulated in chunks of 4096 images so that no float copy of the whole set is ever made."""
        channels = self.x_train.shape[1]
        total = torch.zeros(channels, dtype=torch.float64)
        squares = torch.zeros(channels, dtype=torch.float64)
        for chunk in self.x_train.split(4096):
            values = chunk.transpose(0, 1).reshape(channels, -1).to(torch.float64)
            total += values.sum(dim=1)
            squares += values.square().sum(dim=1)
        count = self.x_train.numel() // channels
        mean = total / count
        var = (squares - count * mean.square()) / max(count - 1, 1)  # unbiased, as torch.std
        return tuple((mean / 255).tolist()), tuple((var.clamp_min(0).sqrt() / 255).tolist())


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
        raise DataError(f"cannot read {path}: {err}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an idx file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + math.prod(dims)  # Python ints: a forged header cannot overflow
    if len(raw) != expected:
        raise DataError(f"{path} is truncated or corrupt: {len(raw)} bytes, expected {expected} for shape {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def default_root() -> Path:
    """Where downloads go when `benchmark.root` is not set."""
    return Path.home() / ".cache" / "retain"


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def load_idx_folder(
    name: str,
    folder: Path,
    num_classes: int = 10,
    files: dict[str, str] = IDX_FILES,
    label_offset: int = 0,
    transpose: bool = False,
) -> SourceData | None:
    """Load four MNIST-style idx files (each plain or gzipped) from `folder`; None if any is absent."""
    found = {key: _find_idx(folder, stem) for key, stem in files.items()}
    paths = {key: p for key, p in found.items() if p is not None}
    if len(paths) < len(found):
        return None
    arrays = {key: read_idx(p) for key, p in paths.items()}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) == 0:
            raise DataError(
                f"{folder}: {split} files have shapes {list(x.shape)} and {list(y.shape)}; expected "
                f"images (N, H, W) and labels (N,) with N > 0"
            )
        if len(x) != len(y):
            raise DataError(f"{folder}: {split} images and labels differ in count")

    def images(key: str) -> torch.Tensor:
        x = torch.from_numpy(arrays[key].copy())[:, None]  # (N, 1, H, W)
        # EMNIST stores images column-major: transpose them upright
        return x.transpose(2, 3).contiguous() if transpose else x

    def labels(key: str) -> torch.Tensor:
        y = torch.from_numpy(arrays[key].astype(np.int64)) - label_offset
        if y.min() < 0 or y.max() >= num_classes:
            raise DataError(f"{paths[key]}: labels outside 0..{num_classes - 1} (after offset {label_offset})")
        return y

    return SourceData(name, images("x_train"), labels("y_train"), images("x_test"), labels("y_test"), num_classes)


@dataclass(frozen=True)
class IdxDataset:
    """One member of the MNIST family as torchvision stores it: `<root>/<folder>/raw/<idx files>`.

    `torchvision_class` names the torchvision dataset class that downloads it (and whose name is the
    folder); `split` is passed to it when it has splits (EMNIST).
    """

    name: str
    title: str
    torchvision_class: str
    num_classes: int
    files: dict[str, str]
    label_offset: int = 0
    transpose: bool = False
    split: str | None = None
    extra_folders: tuple[Path, ...] = ()
    how_to_get: str = ""


def _emnist_files(split: str) -> dict[str, str]:
    return {
        "x_train": f"emnist-{split}-train-images-idx3-ubyte",
        "y_train": f"emnist-{split}-train-labels-idx1-ubyte",
        "x_test": f"emnist-{split}-test-images-idx3-ubyte",
        "y_test": f"emnist-{split}-test-labels-idx1-ubyte",
    }


def idx_datasets() -> dict[str, IdxDataset]:
    """The MNIST family (built on call so that tests can move Debian's folder)."""
    return {
        "mnist": IdxDataset("mnist", "MNIST", "MNIST", 10, IDX_FILES),
        "fashion_mnist": IdxDataset(
            "fashion_mnist",
            "Fashion-MNIST",
            "FashionMNIST",
            10,
            IDX_FILES,
            extra_folders=(DEBIAN_FASHION_MNIST,),
            how_to_get="`apt-get install dataset-fashion-mnist` (Debian) or ",
        ),
        "kmnist": IdxDataset("kmnist", "KMNIST", "KMNIST", 10, IDX_FILES),
        # EMNIST letters: labels 1..26 (0 is an unused "N/A"), shifted to 0..25
        "emnist_letters": IdxDataset(
            "emnist_letters",
            "EMNIST (letters)",
            "EMNIST",
            26,
            _emnist_files("letters"),
            label_offset=1,
            transpose=True,
            split="letters",
        ),
    }


def load_idx_dataset(spec: IdxDataset, root: str | None = None, download: bool = False) -> SourceData:
    """Load a member of the MNIST family from `root` (flat or torchvision's layout), then from its known
    system folders (Debian's Fashion-MNIST), then download it through torchvision when allowed."""
    base = Path(root) if root is not None else default_root()
    candidates = [base, base / spec.torchvision_class / "raw", *spec.extra_folders]
    how = (
        f"Get it with {spec.how_to_get}benchmark.download=true (optionally with benchmark.root=DIR) to "
        f"download it through torchvision into DIR/{spec.torchvision_class}/raw."
    )

    def load(folder: Path) -> SourceData | None:
        with obtain_hint(f"Delete the damaged file and obtain a fresh copy. {how}"):
            return load_idx_folder(spec.name, folder, spec.num_classes, spec.files, spec.label_offset, spec.transpose)

    for folder in candidates:
        data = load(folder)
        if data is not None:
            return data
    if download:
        _torchvision_download(spec, base)
        data = load(base / spec.torchvision_class / "raw")
        if data is not None:
            return data
    looked = ", ".join(str(c) for c in candidates)
    raise DataError(
        f"{spec.title} not found (looked in: {looked}; expected {spec.files['x_train']}[.gz] and its three "
        f"companions). {how}"
    )


def _torchvision_download(spec: IdxDataset, target: Path) -> None:
    import torchvision.datasets

    cls = getattr(torchvision.datasets, spec.torchvision_class)
    kwargs = {"split": spec.split} if spec.split else {}
    try:
        for train in (True, False):
            cls(str(target), train=train, download=True, **kwargs)
    except Exception as err:  # torchvision raises plain RuntimeError/URLError on network failures
        raise DataError(f"downloading {spec.title} into {target} failed: {err}") from None


def fashion_mnist(root: str | None = None, download: bool = False) -> SourceData:
    """Fashion-MNIST (Xiao et al. 2017): 60k/10k 28×28 greyscale images of 10 clothing classes.

    Looks in `root` (flat idx files or torchvision's `FashionMNIST/raw`), then in Debian's
    `dataset-fashion-mnist` location, then downloads through torchvision into `root` when allowed.
    """
    return load_idx_dataset(idx_datasets()["fashion_mnist"], root, download)


def mnist(root: str | None = None, download: bool = False) -> SourceData:
    """MNIST (LeCun et al. 1998): 60k/10k 28×28 greyscale handwritten digits."""
    return load_idx_dataset(idx_datasets()["mnist"], root, download)


def kmnist(root: str | None = None, download: bool = False) -> SourceData:
    """Kuzushiji-MNIST (Clanuwat et al. 2018): 60k/10k 28×28 greyscale cursive Japanese characters, 10 classes."""
    return load_idx_dataset(idx_datasets()["kmnist"], root, download)


def emnist_letters(root: str | None = None, download: bool = False) -> SourceData:
    """EMNIST letters (Cohen et al. 2017): 124.8k/20.8k 28×28 greyscale letters, 26 classes (a–z)."""
    return load_idx_dataset(idx_datasets()["emnist_letters"], root, download)
