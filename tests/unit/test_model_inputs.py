"""The inputs of pretrained networks: resized to their size, in their normalisation, the recipes' augmentation."""

import pytest
import torch

from retain.models.pretrained import InputSpec
from retain.training.batch import TrainingData
from retain.training.data import DeviceBatches, LoaderBatches
from retain.training.resize import ResizedCropFlip, draw_resized_crop, model_input, resized_crop_flip

CPU = torch.device("cpu")


def _images(n=6, c=3, h=8, w=8, seed=0):
    return torch.randint(0, 256, (n, c, h, w), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _draw(boxes, flips):
    return ResizedCropFlip(torch.tensor(boxes, dtype=torch.float32), torch.tensor(flips))


def test_the_whole_image_box_is_the_identity_and_a_flip_mirrors_it():
    x = _images(2).float()
    whole = [[0.5, 0.5, 1.0, 1.0]] * 2
    assert torch.allclose(resized_crop_flip(x, _draw(whole, [False, False]), (8, 8), "bilinear"), x, atol=1e-5)
    flipped = resized_crop_flip(x, _draw(whole, [True, False]), (8, 8), "bilinear")
    assert torch.allclose(flipped[0], x[0].flip(-1), atol=1e-5) and torch.allclose(flipped[1], x[1], atol=1e-5)


def test_a_box_crops_that_part_of_the_image():
    x = _images(1, h=4, w=8).float()
    left_half = resized_crop_flip(x, _draw([[0.25, 0.5, 0.5, 1.0]], [False]), (4, 4), "bilinear")
    assert torch.allclose(left_half, x[..., :4], atol=1e-4)


def test_draws_follow_the_seed_and_stay_inside_the_image():
    a = draw_resized_crop(500, torch.Generator().manual_seed(3))
    b = draw_resized_crop(500, torch.Generator().manual_seed(3))
    assert torch.equal(a.boxes, b.boxes) and torch.equal(a.flips, b.flips)
    cx, cy, w, h = a.boxes.unbind(1)
    assert bool((cx - w / 2 >= -1e-6).all() and (cx + w / 2 <= 1 + 1e-6).all() and (cy + h / 2 <= 1 + 1e-6).all())
    area = w * h
    assert area.min() >= 0.08 * 0.9 and area.max() <= 1.0 and 0.3 < a.flips.float().mean() < 0.7


def test_test_inputs_are_resized_greyscale_repeated_and_in_the_models_normalisation():
    spec = InputSpec((16, 16), (0.5, 0.25, 0.0), (0.5, 0.25, 1.0))
    mean = torch.tensor(spec.mean).view(1, -1, 1, 1)
    std = torch.tensor(spec.std).view(1, -1, 1, 1)
    grey = torch.full((2, 1, 8, 8), 255, dtype=torch.uint8)  # white
    out = model_input(grey, spec, mean, std, None)
    assert out.shape == (2, 3, 16, 16)
    assert torch.allclose(out[:, 0], torch.tensor(1.0)) and torch.allclose(out[:, 1], torch.tensor(3.0))
    assert torch.allclose(out[:, 2], torch.tensor(1.0))


@pytest.mark.parametrize("augment", [False, True])
def test_both_data_paths_serve_the_same_resized_batches(augment):
    spec = InputSpec((12, 12), (0.4, 0.4, 0.4), (0.2, 0.2, 0.2))
    data = TrainingData(_images(10), torch.arange(10))
    device = DeviceBatches(data, (0.0,) * 3, (1.0,) * 3, CPU, augment, spec=spec)
    loader = LoaderBatches(data, (0.0,) * 3, (1.0,) * 3, CPU, augment, num_workers=0, spec=spec)
    a = list(device.shuffled(4, torch.Generator().manual_seed(1)))
    b = list(loader.shuffled(4, torch.Generator().manual_seed(1)))
    assert [t.x.shape for t in a] == [(4, 3, 12, 12), (4, 3, 12, 12), (2, 3, 12, 12)]
    assert all(torch.equal(p.x, q.x) and torch.equal(p.y, q.y) for p, q in zip(a, b))
    plain = next(iter(DeviceBatches(data, (0.0,) * 3, (1.0,) * 3, CPU, False, spec=spec).in_order(10))).x
    assert torch.equal(plain[a[0].index], a[0].x) != augment  # augmentation changes the batch; without it, same
