"""ImageNet-R and CUB-200-2011 from their standard folder layouts: the benchmarks of pretrained
continual learning (L2P, DualPrompt, CODA-Prompt, SimpleCIL).

Every image is stored as uint8 at `STORED_SIZE`×`STORED_SIZE`: its shorter side resized to that size
(bicubic), then centre-cropped (the test transform of the pretrained recipes, Resize + CenterCrop; the
training batches then take the random resized crop on the device, `retain.training.resize`). Images are
decoded once per run, on a thread per CPU core. Nothing is downloaded: a missing folder raises a
`DataError` that names where retain looked and where the data set is published.

- ImageNet-R (Hendrycks et al. 2021): `ROOT/imagenet-r/<wnid>/*.jpg` (as `imagenet-r.tar` unpacks; ROOT
  may also be the `imagenet-r` folder itself), 200 classes, 30,000 images. It has no official split: each
  class's images are split 80/20 into train/test by a seeded permutation (`IMAGENET_R_SPLIT_SEED`), the
  split the prompt-based methods' code uses in spirit (theirs is also a seeded random 80/20).
- CUB-200-2011 (Wah et al. 2011): `ROOT/CUB_200_2011/` (or ROOT itself) with `images/`, `images.txt`,
  `image_class_labels.txt` and `train_test_split.txt`: the official split (5,994 train / 5,794 test),
  classes 1..200 numbered 0..199, whole images (the bounding boxes are not used).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from retain.errors import DataError
from retain.scenarios.sources import SourceData, default_root

STORED_SIZE = 224
IMAGENET_R_SPLIT_SEED = 0
IMAGENET_R_TEST_FRACTION = 0.2
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
IMAGENET_R_URL = "https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar"
CUB_URL = "https://data.caltech.edu/records/65de6-vp158 (CUB_200_2011.tgz)"


def square_image(path: Path, size: int = STORED_SIZE) -> torch.Tensor:
    """The RGB image at `path` as uint8 (3, size, size): shorter side resized to `size`, centre-cropped."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when that is still >= size
            rgb = image.convert("RGB")
    except (OSError, UnidentifiedImageError) as err:
        raise DataError(f"cannot read the image {path} ({err})") from None
    w, h = rgb.size
    scale = size / min(w, h)
    rw, rh = max(size, round(w * scale)), max(size, round(h * scale))
    rgb = rgb.resize((rw, rh), Image.Resampling.BICUBIC)
    left, top = (rw - size) // 2, (rh - size) // 2
    rgb = rgb.crop((left, top, left + size, top + size))
    return torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8).view(size, size, 3).permute(2, 0, 1)


def read_images(paths: Sequence[Path], size: int = STORED_SIZE) -> torch.Tensor:
    """(N, 3, size, size) uint8 of `paths`, decoded on a thread per core (PIL releases the GIL while decoding)."""
    if not paths:
        return torch.zeros(0, 3, size, size, dtype=torch.uint8)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return torch.stack(list(pool.map(lambda p: square_image(p, size), paths)))


def _folder(root: str | None, name: str, marker: str) -> Path | None:
    """`root/name` or `root` itself, whichever holds `marker` (default root: retain's cache folder)."""
    base = Path(root).expanduser() if root is not None else default_root()
    for candidate in (base / name, base):
        if (candidate / marker).exists() if marker else candidate.is_dir():
            return candidate
    return None


def _no_download(title: str, download: bool, url: str) -> None:
    if download:
        raise DataError(f"retain does not download {title}: get it from {url} and set benchmark.root")


def imagenet_r(root: str | None = None, download: bool = False) -> SourceData:
    """ImageNet-R: 200 classes (the sorted `<wnid>` folders), a seeded per-class 80/20 train/test split."""
    _no_download("ImageNet-R", download, IMAGENET_R_URL)
    base = Path(root).expanduser() if root is not None else default_root()
    folder = next((c for c in (base / "imagenet-r", base) if _class_folders(c)), None)
    if folder is None:
        raise DataError(
            f"ImageNet-R not found (looked in {base / 'imagenet-r'} and {base} for <wnid>/ class folders of images). "
            f"Get {IMAGENET_R_URL}, unpack it into DIR and set benchmark.root=DIR"
        )
    classes = _class_folders(folder)
    generator = torch.Generator().manual_seed(IMAGENET_R_SPLIT_SEED)
    train: list[tuple[Path, int]] = []
    test: list[tuple[Path, int]] = []
    for label, cls in enumerate(classes):
        files = sorted(p for p in cls.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        order = torch.randperm(len(files), generator=generator).tolist()
        cut = round(IMAGENET_R_TEST_FRACTION * len(files))
        test += [(files[i], label) for i in sorted(order[:cut])]
        train += [(files[i], label) for i in sorted(order[cut:])]
    return _source("imagenet_r", train, test, len(classes))


def _class_folders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and any(_images_in(p)))


def _images_in(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]


def _source(name: str, train: list[tuple[Path, int]], test: list[tuple[Path, int]], classes: int) -> SourceData:
    def part(items: list[tuple[Path, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        return read_images([p for p, _ in items]), torch.tensor([y for _, y in items], dtype=torch.long)

    x_train, y_train = part(train)
    x_test, y_test = part(test)
    return SourceData(name, x_train, y_train, x_test, y_test, classes)


CUB_FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt")


def _id_table(path: Path) -> dict[int, str]:
    """`<image id> <value>` per line, as the CUB metadata files hold them."""
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise DataError(f"cannot read {path} ({err.strerror})") from None
    table = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        key, _, value = line.strip().partition(" ")
        if not key.isdigit() or not value:
            raise DataError(f"{path}, line {number}: expected '<image id> <value>', got {line!r}")
        table[int(key)] = value.strip()
    return table


def cub200(root: str | None = None, download: bool = False) -> SourceData:
    """CUB-200-2011 with its official train/test split (`train_test_split.txt`: 1 = train)."""
    _no_download("CUB-200-2011", download, CUB_URL)
    folder = _folder(root, "CUB_200_2011", "images.txt")
    if folder is None:
        base = Path(root).expanduser() if root is not None else default_root()
        raise DataError(
            f"CUB-200-2011 not found (looked in {base / 'CUB_200_2011'} and {base} for images.txt). "
            f"Get {CUB_URL}, unpack it into DIR and set benchmark.root=DIR"
        )
    paths, labels, split = (_id_table(folder / name) for name in CUB_FILES)
    for name, table in (("image_class_labels.txt", labels), ("train_test_split.txt", split)):
        if table.keys() != paths.keys():
            raise DataError(f"{folder / name} does not list the same image ids as {folder / 'images.txt'}")
    items = {i: (folder / "images" / paths[i], int(labels[i]) - 1) for i in sorted(paths)}
    classes = max(y for _, y in items.values()) + 1
    train = [items[i] for i in items if split[i] == "1"]
    test = [items[i] for i in items if split[i] != "1"]
    return _source("cub200", train, test, classes)
