"""Batched, seeded augmentation on the device: the standard CIFAR recipe (He et al. 2016).

Random crop with zero padding 4 and a random horizontal flip, applied to a whole uint8 batch at once by
index arithmetic (no per-sample Python). The random numbers come from the caller's CPU generator, so
the same seed gives the same augmented batches on every device and through every data path.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

PADDING = 4


@dataclass(frozen=True, eq=False)
class CropFlip:
    """One batch's random draw: crop offsets (B, 2) in 0..2·padding and flip flags (B,)."""

    offsets: torch.Tensor
    flips: torch.Tensor


def draw_crop_flip(batch_size: int, generator: torch.Generator, padding: int = PADDING) -> CropFlip:
    """Draw one batch's crop offsets and flips from `generator` (CPU)."""
    offsets = torch.randint(0, 2 * padding + 1, (batch_size, 2), generator=generator)
    flips = torch.rand(batch_size, generator=generator) < 0.5
    return CropFlip(offsets, flips)


def crop_flip(x: torch.Tensor, draw: CropFlip, padding: int = PADDING) -> torch.Tensor:
    """Apply `draw` to uint8 images x (B, C, H, W): pad by `padding` with zeros, crop H×W, maybe flip."""
    b, c, h, w = x.shape
    device = x.device
    padded = F.pad(x, (padding, padding, padding, padding))  # (B, C, H+2p, W+2p)
    offsets = draw.offsets.to(device, non_blocking=True)
    flips = draw.flips.to(device, non_blocking=True)
    rows = offsets[:, 0, None] + torch.arange(h, device=device)  # (B, H)
    cols = torch.arange(w, device=device).expand(b, w)
    # a flipped crop reads its columns right to left
    cols = torch.where(flips[:, None], cols.flip(1), cols) + offsets[:, 1, None]  # (B, W)
    batch = torch.arange(b, device=device)[:, None, None, None]
    channel = torch.arange(c, device=device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]  # (B, C, H, W)
