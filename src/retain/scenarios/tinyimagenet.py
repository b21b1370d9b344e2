"""Tiny ImageNet (Le & Yang 2015): 200 classes, 500 train / 50 val images each, 64×64 RGB.

Read from the folder layout of the official archive (`tiny-imagenet-200.zip`, no torchvision class
exists): `train/<wnid>/images/*.JPEG` through `torchvision.datasets.ImageFolder`, and
`val/images/*.JPEG` labelled by `val/val_annotations.txt` (file, wnid, bounding box). The official test
set has no labels, so the validation set serves as the test set, as in the continual-learning literature.
Class ids follow the sorted wnids (ImageFolder's order). Nothing is downloaded.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from retain.errors import DataError, obtain_hint
from retain.scenarios.sources import SourceData, default_root

FOLDER = "tiny-imagenet-200"
HOW_TO_GET = "download http://cs231n.stanford.edu/tiny-imagenet-200.zip, unzip it into DIR and set benchmark.root=DIR"


def _read_image(path: str) -> torch.Tensor:
    """An image file → uint8 (3, H, W); greyscale images (a few in Tiny ImageNet) are expanded to RGB."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.functional import pil_to_tensor

    try:
        with Image.open(path) as image:
            return pil_to_tensor(image.convert("RGB"))
    except (OSError, UnidentifiedImageError) as err:  # a truncated JPEG raises OSError inside PIL
        raise DataError(f"cannot decode {path} ({err})") from None


def _stack(images: list[torch.Tensor], folder: Path) -> torch.Tensor:
    shapes = {tuple(i.shape) for i in images}
    if len(shapes) != 1:
        raise DataError(f"{folder}: images differ in size ({sorted(shapes)[:3]}...); expected 64×64")
    return torch.stack(images)


def _train(folder: Path) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    from torchvision.datasets import ImageFolder

    try:
        data = ImageFolder(str(folder), loader=_read_image)
    except (FileNotFoundError, OSError) as err:
        raise DataError(f"Tiny ImageNet: {folder} holds no class folders of images ({err}); {HOW_TO_GET}") from None
    x = _stack(_read_all([path for path, _ in data.samples]), folder)
    return x, torch.tensor(data.targets, dtype=torch.long), data.classes


def _read_all(paths: list[str]) -> list[torch.Tensor]:
    """Decode many images in threads (PIL releases the GIL while decoding; 4.5x faster than one thread here)."""
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return list(pool.map(_read_image, paths))


def _val(folder: Path, classes: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    annotations = folder / "val_annotations.txt"
    index = {wnid: i for i, wnid in enumerate(classes)}
    paths, labels = [], []
    try:
        lines = annotations.read_text().splitlines()
    except OSError as err:
        raise DataError(f"Tiny ImageNet: cannot read {annotations} ({err.strerror}); {HOW_TO_GET}") from None
    for number, line in enumerate(lines, start=1):
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in index:
            raise DataError(f"{annotations}, line {number}: expected 'FILE<TAB>WNID...' with a wnid of train/")
        paths.append(str(folder / "images" / fields[0]))
        labels.append(index[fields[1]])
    if not paths:
        raise DataError(f"{annotations} lists no images")
    return _stack(_read_all(paths), folder), torch.tensor(labels, dtype=torch.long)


def tinyimagenet(root: str | None = None, download: bool = False) -> SourceData:
    """Tiny ImageNet from `<root>/tiny-imagenet-200` (or `root` itself if it is that folder)."""
    base = Path(root) if root is not None else default_root()
    folder = base if (base / "train").is_dir() else base / FOLDER
    if download and not (folder / "train").is_dir():
        raise DataError(f"Tiny ImageNet cannot be downloaded by retain (no torchvision class): {HOW_TO_GET}")
    for needed in (folder / "train", folder / "val" / "val_annotations.txt"):
        if not needed.exists():
            raise DataError(f"Tiny ImageNet not found: {needed} is missing; {HOW_TO_GET}")
    with obtain_hint(f"Delete {folder} and obtain a fresh copy: {HOW_TO_GET}"):
        x_tr, y_tr, classes = _train(folder / "train")
        x_te, y_te = _val(folder / "val", classes)
    return SourceData("tinyimagenet", x_tr, y_tr, x_te, y_te, len(classes))
