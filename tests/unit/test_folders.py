"""ImageNet-R and CUB-200-2011 from small generated folders in their standard layouts."""

import numpy as np
import pytest
import torch
from PIL import Image

from retain.errors import DataError
from retain.scenarios import Cut, Location, named_benchmark
from retain.scenarios.folders import STORED_SIZE, cub200, imagenet_r, square_image


def _save(path, colour, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), colour, dtype=np.uint8)).save(path)


def _imagenet_r(root, classes=4, per_class=10):
    for c in range(classes):
        for i in range(per_class):
            _save(root / "imagenet-r" / f"n0{c}" / f"art_{i}.png", (c * 40, i * 20, 7), size=(30 + i, 25 + c))
    (root / "imagenet-r" / "README.txt").write_text("not a class")


def test_square_image_resizes_the_shorter_side_and_keeps_the_centre(tmp_path):
    image = np.zeros((30, 90, 3), dtype=np.uint8)  # wide: red borders, a green centre square
    image[:, :30] = image[:, 60:] = (255, 0, 0)
    image[:, 30:60] = (0, 255, 0)
    Image.fromarray(image).save(tmp_path / "wide.png")
    out = square_image(tmp_path / "wide.png")
    assert out.shape == (3, STORED_SIZE, STORED_SIZE) and out.dtype == torch.uint8
    inner = out[:, :, 4:-4].float()  # away from the resampling seam
    assert inner[1].min() > 200 and inner[0].max() < 60


def test_imagenet_r_classes_are_the_folders_and_the_split_is_seeded_80_20(tmp_path):
    _imagenet_r(tmp_path)
    source = imagenet_r(str(tmp_path))
    again = imagenet_r(str(tmp_path / "imagenet-r"))  # the folder itself is accepted too
    assert source.num_classes == 4 and source.x_train.shape[1:] == (3, STORED_SIZE, STORED_SIZE)
    assert torch.bincount(source.y_test).tolist() == [2] * 4 and torch.bincount(source.y_train).tolist() == [8] * 4
    assert torch.equal(source.x_test, again.x_test) and torch.equal(source.y_train, again.y_train)
    # train and test are disjoint: the green channel encodes the image index within its class
    train = {(int(y), int(x[1, 100, 100])) for x, y in zip(source.x_train, source.y_train)}
    test = {(int(y), int(x[1, 100, 100])) for x, y in zip(source.x_test, source.y_test)}
    assert len(train) == 32 and len(test) == 8 and not train & test
    assert int(source.x_train[source.y_train == 3][0, 0, 100, 100]) == 120  # class 3's red value


def _cub(root):
    folder = root / "CUB_200_2011"
    names, labels, split = [], [], []
    for i in range(1, 13):
        cls = (i - 1) % 3 + 1
        rel = f"{cls:03d}.Bird_{cls}/Bird_{i}.jpg"
        _save(folder / "images" / rel, (i * 20, 0, 0), size=(50, 40))
        names.append(f"{i} {rel}")
        labels.append(f"{i} {cls}")
        split.append(f"{i} {int(i % 4 != 0)}")
    (folder / "images.txt").write_text("\n".join(names) + "\n")
    (folder / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    (folder / "train_test_split.txt").write_text("\n".join(split) + "\n")
    return folder


def test_cub_follows_its_split_file_and_numbers_classes_from_zero(tmp_path):
    _cub(tmp_path)
    source = cub200(str(tmp_path))
    assert source.num_classes == 3
    assert len(source.y_train) == 9 and len(source.y_test) == 3  # ids 4, 8, 12 are test images
    assert source.y_test.tolist() == [0, 1, 2]  # ids 4, 8, 12 have classes 1, 2, 3
    assert [int(x[0, 112, 112]) // 10 for x in source.x_test] == pytest.approx([8, 16, 24], abs=1)


def test_missing_or_broken_folders_say_where_retain_looked(tmp_path):
    with pytest.raises(DataError, match=r"ImageNet-R not found.*imagenet-r.tar"):
        imagenet_r(str(tmp_path))
    with pytest.raises(DataError, match=r"CUB-200-2011 not found.*images.txt"):
        cub200(str(tmp_path))
    with pytest.raises(DataError, match="does not download"):
        cub200(str(tmp_path), download=True)
    folder = _cub(tmp_path)
    (folder / "train_test_split.txt").write_text("1 1\n")
    with pytest.raises(DataError, match="train_test_split.txt does not list the same image ids"):
        cub200(str(tmp_path))


@pytest.mark.parametrize("name", ["split_imagenet_r", "split_cub200"])
def test_the_benchmarks_split_the_folders_into_tasks(tmp_path, name):
    _imagenet_r(tmp_path) if name == "split_imagenet_r" else _cub(tmp_path)
    tasks = 2 if name == "split_imagenet_r" else 3
    bench = named_benchmark(name, "cil", 0, Cut(num_tasks=tasks), Location(root=str(tmp_path)))
    assert bench.num_tasks == tasks and bench.augment and bench.input_shape == (3, STORED_SIZE, STORED_SIZE)
