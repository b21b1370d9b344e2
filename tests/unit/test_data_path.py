"""The device-resident path and the DataLoader path serve the same batches; batched crop+flip; the choice."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from retain.algorithms import ALGORITHMS
from retain.algorithms.base import TrainingData
from retain.config import TrainConfig
from retain.training import placement
from retain.training.augment import CropFlip, crop_flip, draw_crop_flip
from retain.training.data import DeviceBatches, LoaderBatches
from retain.training.loop import run_sequence
from retain.training.placement import choose_data_path
from tests.conftest import tiny_benchmark, tiny_model

CPU = torch.device("cpu")


def _data(n=50, with_ids=True):
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 6, 6), generator=gen, dtype=torch.uint8)
    ids = torch.arange(n) % 3 + 1 if with_ids else None
    return TrainingData(x, torch.arange(n) % 5, ids)


def _epoch(batches, seed, batch_size=8):
    return list(batches.shuffled(batch_size, torch.Generator().manual_seed(seed)))


@pytest.mark.parametrize("augment", [False, True])
@pytest.mark.parametrize("workers", [0, 2])
def test_loader_path_serves_the_device_path_batches(augment, workers):
    data, mean, std = _data(), (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    device_batches = _epoch(DeviceBatches(data, mean, std, CPU, augment), seed=7)
    loader_batches = _epoch(LoaderBatches(data, mean, std, CPU, augment, num_workers=workers), seed=7)
    assert len(device_batches) == len(loader_batches) == 7
    for a, b in zip(device_batches, loader_batches):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.task_ids, b.task_ids)
    ordered = list(LoaderBatches(data, mean, std, CPU, augment, 0).in_order(16))
    assert torch.equal(torch.cat([b.y for b in ordered]), data.y)  # evaluation: stored order, no augmentation
    assert torch.equal(ordered[0].x, list(DeviceBatches(data, mean, std, CPU).in_order(16))[0].x)


def test_epoch_order_follows_the_seed():
    batches = DeviceBatches(_data(), (0.5,) * 3, (0.2,) * 3, CPU)
    first = torch.cat([b.y for b in _epoch(batches, 1)])
    assert torch.equal(first, torch.cat([b.y for b in _epoch(batches, 1)]))
    assert not torch.equal(first, torch.cat([b.y for b in _epoch(batches, 2)]))


def _reference_crop_flip(x, draw, padding=4):
    """Per-sample crop+flip, written the slow obvious way."""
    padded = F.pad(x, (padding,) * 4)
    out = []
    for i in range(len(x)):
        r, c = draw.offsets[i].tolist()
        crop = padded[i, :, r : r + x.shape[2], c : c + x.shape[3]]
        out.append(crop.flip(2) if draw.flips[i] else crop)
    return torch.stack(out)


def test_batched_crop_flip_matches_the_per_sample_reference():
    x = _data(n=20).x
    draw = draw_crop_flip(len(x), torch.Generator().manual_seed(3))
    assert draw.flips.any() and not draw.flips.all() and draw.offsets.min() == 0 and draw.offsets.max() == 8
    assert torch.equal(crop_flip(x, draw), _reference_crop_flip(x, draw))


def test_centred_crop_without_flip_is_the_identity_and_borders_are_zero():
    x = _data(n=4).x
    centre = CropFlip(torch.full((4, 2), 4), torch.zeros(4, dtype=torch.bool))
    assert torch.equal(crop_flip(x, centre), x)
    corner = crop_flip(x, CropFlip(torch.zeros(4, 2, dtype=torch.long), torch.ones(4, dtype=torch.bool)))
    assert (corner[:, :, :4] == 0).all() and torch.equal(corner[:, :, 4:, :2], x[:, :, :2, :2].flip(3))


def test_augmentation_changes_training_batches_only():
    data = _data()
    plain = _epoch(DeviceBatches(data, (0.5,) * 3, (0.2,) * 3, CPU, augment=False), 5)
    augmented = _epoch(DeviceBatches(data, (0.5,) * 3, (0.2,) * 3, CPU, augment=True), 5)
    assert torch.equal(plain[0].y, augmented[0].y) and not torch.equal(plain[0].x, augmented[0].x)


def test_choice_is_automatic_with_an_override(monkeypatch):
    bench = tiny_benchmark("til")
    assert choose_data_path(bench, "loader", CPU).name == "loader"
    auto = choose_data_path(bench, "auto", CPU)
    assert auto.name == "device" and "host memory" in auto.reason
    size = placement.benchmark_bytes(bench)
    monkeypatch.setattr(placement, "free_device_bytes", lambda device: size)  # a device with too little room
    small = choose_data_path(bench, "auto", torch.device("cuda"))
    assert small.name == "loader" and "exceed" in small.reason
    monkeypatch.setattr(placement, "free_device_bytes", lambda device: 4 * size)
    assert choose_data_path(bench, "auto", torch.device("cuda")).name == "device"


@pytest.mark.parametrize("algorithm", ["lwf", "joint"])
def test_both_paths_give_the_same_accuracy_matrix(algorithm):
    results = {}
    for path in ("device", "loader"):
        bench = dataclasses.replace(tiny_benchmark("til"), augment=True)
        torch.manual_seed(0)
        algo = ALGORITHMS[algorithm](tiny_model("til"))
        cfg = TrainConfig(epochs=2, batch_size=8, data_path=path, num_workers=0)  # workers: see above
        results[path] = run_sequence(algo, bench, cfg, torch.Generator().manual_seed(0), CPU)
    assert results["device"].data_path.name == "device" and results["loader"].data_path.name == "loader"
    assert results["device"].accuracy_matrix == results["loader"].accuracy_matrix


def test_loader_workers_are_capped_at_the_cpu_cores_with_a_warning(monkeypatch):
    from retain.training import data as data_module

    monkeypatch.setattr(data_module.os, "cpu_count", lambda: 4)
    assert data_module.usable_workers(2) == 2 and data_module.usable_workers(0) == 0
    with pytest.warns(UserWarning, match="num_workers = 100000 lowered to 4"):
        assert data_module.usable_workers(100000) == 4
