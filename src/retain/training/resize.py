"""The inputs of a pretrained network, batched on the device: resized to its input size, in its own
normalisation, with the augmentation of the pretrained recipes (random resized crop + horizontal flip).

Training batches (with `benchmark.augment`) take torchvision's `RandomResizedCrop` draw (area 8–100 %
of the image, aspect ratio 3/4–4/3, Szegedy et al. 2015) and a flip with probability 1/2, applied to a
whole batch by one `grid_sample` that crops and resizes at once. The crop is clamped to the image where
torchvision retries up to ten times, so the draw needs no loop. Test batches are resized whole (the images
of the folder benchmarks are already stored centre-cropped, docs/pretrained.md). The random numbers come
from the caller's CPU generator, so a seed gives the same batches on every device and data path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from retain.models.pretrained import InputSpec

SCALE = (0.08, 1.0)  # torchvision's RandomResizedCrop defaults
RATIO = (3 / 4, 4 / 3)


@dataclass(frozen=True, eq=False)
class ResizedCropFlip:
    """One batch's draw: crop boxes (B, 4) as centre x, centre y, width, height (fractions of the image)
    and flip flags (B,)."""

    boxes: torch.Tensor
    flips: torch.Tensor


def draw_resized_crop(batch_size: int, generator: torch.Generator) -> ResizedCropFlip:
    """Draw one batch's crop boxes and flips from `generator` (CPU)."""
    area = torch.empty(batch_size).uniform_(*SCALE, generator=generator)
    log_ratio = torch.empty(batch_size).uniform_(math.log(RATIO[0]), math.log(RATIO[1]), generator=generator)
    ratio = log_ratio.exp()
    w = (area * ratio).sqrt().clamp(max=1.0)
    h = (area / ratio).sqrt().clamp(max=1.0)
    cx = w / 2 + torch.rand(batch_size, generator=generator) * (1 - w)
    cy = h / 2 + torch.rand(batch_size, generator=generator) * (1 - h)
    flips = torch.rand(batch_size, generator=generator) < 0.5
    return ResizedCropFlip(torch.stack([cx, cy, w, h], dim=1), flips)


def resized_crop_flip(x: torch.Tensor, draw: ResizedCropFlip, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Crop each image of x (B, C, H, W, float) to its box, resize it to `size` and maybe flip it, in one call."""
    boxes = draw.boxes.to(x.device, non_blocking=True)
    flips = draw.flips.to(x.device, non_blocking=True)
    cx, cy, w, h = boxes.unbind(1)
    sign = torch.where(flips, -1.0, 1.0)
    zero = torch.zeros_like(w)
    # output coordinates in [-1, 1] → input coordinates: the box's half-extent around its centre
    theta = torch.stack([torch.stack([w * sign, zero, 2 * cx - 1], 1), torch.stack([zero, h, 2 * cy - 1], 1)], 1)
    grid = F.affine_grid(theta, [x.shape[0], x.shape[1], *size], align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=False)


def model_input(
    x: torch.Tensor, spec: InputSpec, mean: torch.Tensor, std: torch.Tensor, draw: ResizedCropFlip | None
) -> torch.Tensor:
    """uint8 images (B, C, H, W) → the network's input: [0, 1] floats, cropped/resized to `spec.size`,
    greyscale repeated to the network's channels, standardised with its `mean` and `std` ((1, C, 1, 1))."""
    x = x.float().div_(255.0)
    if x.shape[1] == 1 and mean.shape[1] == 3:
        x = x.expand(-1, 3, -1, -1)
    if draw is not None:
        x = resized_crop_flip(x, draw, spec.size, spec.interpolation)
    elif tuple(x.shape[-2:]) != spec.size:
        x = F.interpolate(x, size=spec.size, mode=spec.interpolation, antialias=True, align_corners=False)
    return (x - mean) / std
