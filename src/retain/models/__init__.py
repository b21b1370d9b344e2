"""Models: backbones (feature extractors), the scenario heads and the continual model around them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import nn

from retain.models.backbones import MLP, ResNet18, SmallCNN
from retain.models.heads import HeadDIL, Heads, HeadsCIL, HeadsTIL
from retain.models.model import ContinualModel

if TYPE_CHECKING:
    from retain.config import BackboneConfig

BACKBONES: dict[str, type[nn.Module]] = {"mlp": MLP, "small_cnn": SmallCNN, "resnet18": ResNet18}


def build_backbone(cfg: BackboneConfig, input_shape: Sequence[int]) -> nn.Module:
    """The backbone named by `cfg`, for inputs of shape (C, H, W)."""
    return BACKBONES[cfg.name].from_config(cfg, input_shape)  # type: ignore[attr-defined]


__all__ = [
    "BACKBONES",
    "ContinualModel",
    "HeadDIL",
    "Heads",
    "HeadsCIL",
    "HeadsTIL",
    "MLP",
    "ResNet18",
    "SmallCNN",
    "build_backbone",
]
