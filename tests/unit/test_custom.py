"""Your own data: tensors, torchvision-style datasets, .npz files and ImageFolder trees."""

import numpy as np
import pytest
import torch
from PIL import Image

from retain.config import BenchmarkConfig
from retain.errors import DataError
from retain.experiment.build import build_benchmark, config_from_dict
from retain.scenarios.custom import from_dataset, from_npz, from_path, from_tensors


def _arrays(n=24, shape=(6, 6), classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (n, *shape), dtype=np.uint8), np.arange(n) % classes


def test_from_tensors_accepts_greyscale_and_channels_last():
    x, y = _arrays()
    grey = from_tensors(x, y, x[:8], y[:8])
    assert grey.input_shape == (1, 6, 6) and grey.num_classes == 4
    rgb_x, _ = _arrays(shape=(6, 5, 3))
    rgb = from_tensors(torch.from_numpy(rgb_x), torch.from_numpy(y), rgb_x[:4], y[:4])
    assert rgb.input_shape == (3, 6, 5) and torch.equal(rgb.x_train[2, 1], torch.from_numpy(rgb_x[2, :, :, 1]))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: {**a, "x_train": a["x_train"].astype(np.float32)}, "uint8"),
        (lambda a: {**a, "y_train": a["y_train"][:-1]}, "labels must be 24 integers"),
        (lambda a: {**a, "y_test": a["y_test"] - 5}, ">= 0"),
        (lambda a: {**a, "x_test": a["x_test"][:, :5]}, "differ in shape"),
    ],
)
def test_bad_tensors_are_data_errors(change, message):
    x, y = _arrays()
    arrays = change({"x_train": x, "y_train": y, "x_test": x[:8], "y_test": y[:8]})
    with pytest.raises(DataError, match=message):
        from_tensors(**arrays)


def test_from_dataset_reads_a_torchvision_style_dataset():
    x, y = _arrays(shape=(5, 5, 3))
    train = [(Image.fromarray(img), int(label)) for img, label in zip(x, y)]
    test = [(torch.from_numpy(img).permute(2, 0, 1), int(label)) for img, label in zip(x[:4], y[:4])]
    source = from_dataset(train, test)
    assert source.input_shape == (3, 5, 5) and torch.equal(source.x_train[0], torch.from_numpy(x[0]).permute(2, 0, 1))
    with pytest.raises(DataError, match="no transform"):
        from_dataset([(torch.zeros(3, 5, 5), 0)], test)


def test_npz_round_trip_and_missing_keys(tmp_path):
    x, y = _arrays()
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=x, y_train=y, x_test=x[:8], y_test=y[:8])
    source = from_npz(path)
    assert source.name == "mine" and torch.equal(source.x_train[:, 0], torch.from_numpy(x))
    np.savez(tmp_path / "half.npz", x_train=x, y_train=y)
    with pytest.raises(DataError, match=r"lacks the keys \['x_test', 'y_test'\]"):
        from_npz(tmp_path / "half.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="junk.npz"):
        from_npz(tmp_path / "junk.npz")
    with pytest.raises(DataError, match="does not exist"):
        from_path(tmp_path / "absent.npz")


def _image_folder(root, mode="RGB"):
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 1)):
        for cls in ("cat", "dog"):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                shape = (7, 7, 3) if mode == "RGB" else (7, 7)
                Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(root / split / cls / f"{i}.png")


@pytest.mark.parametrize("mode, channels", [("RGB", 3), ("L", 1)])
def test_image_folder_tree(tmp_path, mode, channels):
    _image_folder(tmp_path / "pets", mode)
    source = from_path(tmp_path / "pets")
    assert source.input_shape == (channels, 7, 7) and source.num_classes == 2
    assert source.y_train.tolist() == [0, 0, 0, 1, 1, 1] and len(source.y_test) == 2


def test_image_folder_without_test_split_is_a_data_error(tmp_path):
    _image_folder(tmp_path / "pets")
    import shutil

    shutil.rmtree(tmp_path / "pets" / "test")
    with pytest.raises(DataError, match="pets/test"):
        from_path(tmp_path / "pets")


def test_custom_benchmark_from_yaml_keys(tmp_path):
    x, y = _arrays()
    np.savez(tmp_path / "mine.npz", x_train=x, y_train=y, x_test=x[:8], y_test=y[:8])
    cfg = config_from_dict(
        {
            "benchmark": {
                "name": "custom",
                "path": str(tmp_path / "mine.npz"),
                "construction": "permuted",
                "num_tasks": 3,
            }
        }
    )
    assert cfg.scenario == "dil"
    bench = build_benchmark(cfg.benchmark, cfg.scenario, cfg.seed)
    assert bench.num_tasks == 3 and bench.name == "custom" and bench.tasks[0].num_classes == 4
    split = build_benchmark(BenchmarkConfig(name="custom", path=str(tmp_path / "mine.npz"), num_tasks=2), "til", 0)
    assert [t.classes for t in split.tasks] == [(0, 1), (2, 3)]
