"""Your own data as a source: tensors, any torchvision-style dataset, a `.npz` file or an ImageFolder tree.

Each function returns a `SourceData`; `make_benchmark` (in `benchmarks.py`) then turns it into a split,
permuted or rotated benchmark, exactly as for the built-in sources.

`.npz` keys: `x_train`, `y_train`, `x_test`, `y_test`. Images are uint8, `N×H×W` (greyscale) or
`N×H×W×C` (channels last, as numpy and PIL store images); labels are integers 0..C−1.
ImageFolder tree: `DIR/train/<class>/*.png|jpg` and `DIR/test/<class>/*`; classes are the sorted
folder names of `train/`; every image must have the same size (greyscale if all are, else RGB).
"""

from __future__ import annotations

import functools
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from retain.errors import DataError
from retain.scenarios.sources import SourceData

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
MAX_CLASSES = 1 << 16  # a label above this is a damaged file, not a data set (its head would not fit in memory)


def _images(x: Any, what: str) -> torch.Tensor:
    """uint8 images as (N, C, H, W); `N×H×W` gets one channel, `N×H×W×C` is moved channels-first."""
    x = torch.as_tensor(np.asarray(x))
    if x.dtype != torch.uint8:
        raise DataError(f"{what}: images must be uint8 (0..255), got {x.dtype}")
    if x.ndim == 3:
        return x[:, None].contiguous()
    if x.ndim == 4:
        return x.permute(0, 3, 1, 2).contiguous()
    raise DataError(f"{what}: images must be N×H×W or N×H×W×C, got shape {tuple(x.shape)}")


def _labels(y: Any, n: int, what: str) -> torch.Tensor:
    y = torch.as_tensor(np.asarray(y))
    if y.ndim != 1 or len(y) != n or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise DataError(f"{what}: labels must be {n} integers (one per image), got {y.dtype} {tuple(y.shape)}")
    if n and y.min() < 0:
        raise DataError(f"{what}: labels must be >= 0, got {int(y.min())}")
    return y.long()


def from_tensors(
    x_train: Any, y_train: Any, x_test: Any, y_test: Any, name: str = "custom", num_classes: int | None = None
) -> SourceData:
    """A source from arrays or tensors (uint8 `N×H×W` or `N×H×W×C`; integer labels 0..C−1).

    `num_classes` defaults to 1 + the largest label seen.
    """
    xs = {"x_train": _images(x_train, f"{name} x_train"), "x_test": _images(x_test, f"{name} x_test")}
    ys = {
        "y_train": _labels(y_train, len(xs["x_train"]), f"{name} y_train"),
        "y_test": _labels(y_test, len(xs["x_test"]), f"{name} y_test"),
    }
    if xs["x_train"].shape[1:] != xs["x_test"].shape[1:]:
        raise DataError(
            f"{name}: train images {tuple(xs['x_train'].shape[1:])} and test images "
            f"{tuple(xs['x_test'].shape[1:])} differ in shape"
        )
    for split in ("train", "test"):
        if len(xs[f"x_{split}"]) == 0:
            raise DataError(f"{name}: x_{split} holds no samples; every split needs at least one image per class")
    largest = max(int(y.max()) for y in ys.values())
    classes = num_classes if num_classes is not None else largest + 1
    if largest >= classes:
        raise DataError(f"{name}: label {largest} is not below num_classes = {classes}")
    if classes > MAX_CLASSES:
        raise DataError(f"{name}: label {largest} implies {classes} classes; at most {MAX_CLASSES} are supported")
    empty = sorted(set(range(classes)) - set(ys["y_train"].unique().tolist()))
    if empty:
        raise DataError(
            f"{name}: class {empty[0]} has no training samples ({len(empty)} such class(es)); labels must be "
            f"0..C-1 with every class present in y_train"
        )
    return SourceData(name, xs["x_train"], ys["y_train"], xs["x_test"], ys["y_test"], classes)


def _dataset_arrays(dataset: Sequence[tuple[Any, Any]], what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Read every (image, label) of a torchvision-style dataset: PIL images or uint8 C×H×W tensors."""
    from torchvision.transforms.functional import pil_to_tensor

    images, labels = [], []
    for i in range(len(dataset)):
        image, label = dataset[i]
        tensor = image if isinstance(image, torch.Tensor) else pil_to_tensor(image)
        if tensor.dtype != torch.uint8 or tensor.ndim != 3:
            raise DataError(
                f"{what}[{i}]: expected a PIL image or a uint8 C×H×W tensor (no transform), "
                f"got {tensor.dtype} {tuple(tensor.shape)}"
            )
        images.append(tensor)
        labels.append(int(label))
    if len({tuple(t.shape) for t in images}) > 1:
        raise DataError(f"{what}: images differ in size; resize them first (every image must share one shape)")
    return torch.stack(images), torch.tensor(labels, dtype=torch.long)


def from_dataset(train: Any, test: Any, name: str = "custom", num_classes: int | None = None) -> SourceData:
    """A source from two torchvision-style datasets (`len()`, `[i] -> (PIL image or uint8 tensor, label)`).

    Every sample is read once into memory; give the datasets no transform (retain normalises itself).
    """
    x_tr, y_tr = _dataset_arrays(train, f"{name} train")
    x_te, y_te = _dataset_arrays(test, f"{name} test")
    return from_tensors(x_tr.permute(0, 2, 3, 1), y_tr, x_te.permute(0, 2, 3, 1), y_te, name, num_classes)


def from_npz(path: str | Path) -> SourceData:
    """A source from a `.npz` file with keys `x_train`, `y_train`, `x_test`, `y_test` (see module docstring)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in NPZ_KEYS if k not in data.files]
            if missing:
                raise DataError(f"{path} lacks the keys {missing} (expected {list(NPZ_KEYS)}, found {data.files})")
            arrays = {k: data[k] for k in NPZ_KEYS}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:  # truncated or damaged archives
        raise DataError(
            f"cannot read {path} as .npz ({type(err).__name__}: {err}); expected an uncompressed or compressed "
            f"numpy archive (np.savez) with keys {list(NPZ_KEYS)}"
        ) from None
    return from_tensors(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], name=path.stem)


def from_image_folder(path: str | Path) -> SourceData:
    """A source from `DIR/train/<class>/…` and `DIR/test/<class>/…` (torchvision's `ImageFolder` layout)."""
    from torchvision.datasets import ImageFolder

    path = Path(path)
    parts = {}
    for split in ("train", "test"):
        try:
            parts[split] = ImageFolder(str(path / split), loader=_open)
        except (FileNotFoundError, OSError) as err:
            raise DataError(
                f"{path / split}: not an ImageFolder tree ({err}); expected {path}/{split}/<class>/<images>"
            ) from None
    if parts["train"].classes != parts["test"].classes:
        raise DataError(f"{path}: train/ and test/ have different class folders")
    grey = all(_open(p).mode == "L" for split in parts.values() for p, _ in split.samples)
    for split in parts.values():
        split.loader = functools.partial(_open, mode="L" if grey else "RGB")
    return from_dataset(parts["train"], parts["test"], name=path.name, num_classes=len(parts["train"].classes))


def _open(path: str, mode: str | None = None) -> Any:
    """The image at `path`, loaded and converted to `mode` (None keeps its own mode)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # past PIL's pixel limit: a decompression bomb, refused
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return image.convert(mode) if mode else image.copy()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DataError(f"cannot read the image {path} ({' '.join(str(err).split())})") from None


def from_path(path: str | Path) -> SourceData:
    """`benchmark.path`: a `.npz` file or an ImageFolder directory."""
    path = Path(path)
    if path.is_dir():
        return from_image_folder(path)
    if path.is_file():
        return from_npz(path)
    raise DataError(f"benchmark.path = {str(path)!r} does not exist: expected a .npz file or an ImageFolder directory")
