"""Feature extractors. Each takes the input shape (C, H, W) and exposes `output_dim`.

`options` names the keyword arguments a backbone takes besides the input shape (the `backbone.*` config
keys of the same names), so that a builder can pass exactly those.

A backbone may be task-conditioned (`task_conditioned = True`, called as `backbone(x, task_id)`);
the ones here are not, so the student's features are computed once per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn


class MLP(nn.Module):
    """Fully connected ReLU network on the flattened input; `hidden` gives the layer widths."""

    task_conditioned = False
    options: ClassVar[tuple[str, ...]] = ("hidden",)

    def __init__(self, input_shape: Sequence[int], hidden: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = int(torch.tensor(input_shape).prod())
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.net = nn.Sequential(*layers)
        self.output_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, output_dim)


class SmallCNN(nn.Module):
    """Conv(3×3)–ReLU–MaxPool(2) per entry of `channels`, then a 256-unit fully connected layer."""

    task_conditioned = False
    options: ClassVar[tuple[str, ...]] = ("channels",)

    def __init__(self, input_shape: Sequence[int], channels: Sequence[int] = (32, 64)) -> None:
        super().__init__()
        c, h, w = input_shape
        layers: list[nn.Module] = []
        for out in channels:
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c, h, w = out, h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(
                f"backbone.channels = {list(channels)} pools a {input_shape[1]}x{input_shape[2]} input away"
            )
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(c * h * w, 256), nn.ReLU())
        self.output_dim = 256

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class ResNet18(nn.Module):
    """torchvision's ResNet-18 with the 3×3, stride-1 stem and no max-pool used for 32×32 inputs."""

    task_conditioned = False
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, input_shape: Sequence[int]) -> None:
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        net.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        net.fc = nn.Identity()
        self.net = net
        self.output_dim = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
