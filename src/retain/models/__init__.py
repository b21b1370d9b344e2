"""Models: backbones (feature extractors), the scenario heads and the continual model around them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from retain.models.backbones import MLP, ResNet18, SmallCNN
from retain.models.heads import HeadDIL, Heads, HeadsCIL, HeadsTIL
from retain.models.model import ContinualModel
from retain.models.pretrained import InputSpec, PretrainedBackbone, TimmBackbone, TorchvisionBackbone

BACKBONES: dict[str, type[nn.Module]] = {
    "mlp": MLP,
    "small_cnn": SmallCNN,
    "resnet18": ResNet18,
    "timm": TimmBackbone,
    "torchvision": TorchvisionBackbone,
}


def build_backbone(name: str, input_shape: Sequence[int], **options: Any) -> nn.Module:
    """The backbone `name` (a key of BACKBONES) for inputs of shape (C, H, W), given those of `options`
    it takes (its `options`); the others are ignored, so one set of `backbone.*` keys fits every backbone."""
    cls = BACKBONES[name]
    own = getattr(cls, "options", ())
    return cls(input_shape, **{k: v for k, v in options.items() if k in own})


__all__ = [
    "BACKBONES",
    "ContinualModel",
    "HeadDIL",
    "Heads",
    "HeadsCIL",
    "HeadsTIL",
    "InputSpec",
    "MLP",
    "PretrainedBackbone",
    "ResNet18",
    "SmallCNN",
    "TimmBackbone",
    "TorchvisionBackbone",
    "build_backbone",
]
