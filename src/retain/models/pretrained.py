"""Pretrained backbones: timm and torchvision networks built from local weights, with their input recipe.

`backbone.name: timm` builds any timm architecture (`backbone.model`), `torchvision` one of torchvision's
ResNets, both with the classifier removed (retain's heads replace it) and, with `backbone.weights`, the
weights of a local file (`retain.models.weights`). Nothing is downloaded unless `backbone.download: true`.

Each declares its `input_spec`: the input size and the normalisation its weights were trained with (timm's
`pretrained_cfg`; ImageNet's statistics for torchvision). The data path resizes and normalises batches to
it on the training device, so the data stays stored at its own size.

`precomputed` is switched on by the task loop while it trains on cached features of a frozen backbone:
the backbone then passes its input through (the input already is its output), for the student and the
teachers that share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from retain.errors import ConfigError, one_of
from retain.models.freeze import apply_freeze, keep_frozen_eval
from retain.models.weights import load_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_MODELS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048}
OPTIONS = ("model", "weights", "freeze", "download", "image_size", "cache_features")


@dataclass(frozen=True)
class InputSpec:
    """What a pretrained network expects: `size` (H, W), per-channel `mean`/`std` on the [0, 1] scale,
    and the resampling `interpolation` (`bilinear` or `bicubic`)."""

    size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"


class PretrainedBackbone(nn.Module):
    """A pretrained network `net` without its classifier, frozen as `freeze` says (`retain.models.freeze`)."""

    task_conditioned = False
    options: ClassVar[tuple[str, ...]] = OPTIONS

    def __init__(self, net: nn.Module, output_dim: int, spec: InputSpec, freeze: str, cache_features: bool) -> None:
        super().__init__()
        self.cache_features = cache_features
        self.frozen_prefixes = apply_freeze(net, freeze)
        self.net = net
        self.output_dim = output_dim
        self.input_spec = spec
        self.freeze = freeze
        self.precomputed = False
        self.train()

    @property
    def frozen(self) -> bool:
        """Whether nothing of the backbone trains (`freeze: all`): its features can be computed once."""
        return self.freeze == "all"

    def train(self, mode: bool = True) -> PretrainedBackbone:
        super().train(mode)
        keep_frozen_eval(self.net, self.frozen_prefixes)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.precomputed else self.net(x)  # (B, output_dim)


def _channels(input_shape: Sequence[int], name: str) -> None:
    if input_shape[0] not in (1, 3):
        raise ConfigError("backbone.name", name, f"needs 1- or 3-channel images, the benchmark has {input_shape[0]}")


class TimmBackbone(PretrainedBackbone):
    """Any timm architecture (`model`), from the local `weights` file or timm's download (`download`)."""

    def __init__(
        self,
        input_shape: Sequence[int],
        model: str | None = None,
        weights: str | None = None,
        freeze: str = "none",
        download: bool = False,
        image_size: int | None = None,
        cache_features: bool = True,
    ) -> None:
        _channels(input_shape, "timm")
        net = _create_timm(_required(model, "timm"), download, image_size)
        if weights is not None:
            classifier = net.pretrained_cfg.get("classifier") or ()
            drop = (classifier,) if isinstance(classifier, str) else tuple(classifier)
            load_weights(net, weights, f"timm model {model!r}", drop)
        import timm.data

        cfg: dict[str, Any] = timm.data.resolve_data_config({}, model=net)
        size = (image_size, image_size) if image_size else tuple(cfg["input_size"][1:])
        spec = InputSpec(size, tuple(cfg["mean"]), tuple(cfg["std"]), _interpolation(cfg.get("interpolation")))
        super().__init__(net, int(net.num_features), spec, freeze, cache_features)


def _interpolation(name: Any) -> str:
    return "bicubic" if name == "bicubic" else "bilinear"


def _required(model: str | None, name: str) -> str:
    if not model:
        raise ConfigError("backbone.model", model, f"required with backbone.name {name!r}: an architecture name")
    return model


def _create_timm(model: str, download: bool, image_size: int | None) -> Any:
    try:
        import timm
    except ImportError:
        raise ConfigError(
            "backbone.name", "timm", "needs the optional package timm: pip install 'retain[timm]'"
        ) from None
    if model.split(".")[0] not in timm.list_models():  # `vit_base_patch16_224.augreg_in21k`: a tag after the dot
        raise ConfigError("backbone.model", model, "not a timm architecture; " + one_of(timm.list_models(), model))
    kwargs: dict[str, Any] = {"img_size": image_size} if image_size else {}
    try:
        return timm.create_model(model, pretrained=download, num_classes=0, **kwargs)
    except TypeError:  # a convolutional network takes any size: image_size only sets the resize target
        return timm.create_model(model, pretrained=download, num_classes=0)


class TorchvisionBackbone(PretrainedBackbone):
    """torchvision's ImageNet ResNets (`model`: resnet18, 34, 50, 101, 152) with their 7×7 stem, from the
    local `weights` file (torchvision's own `.pth` files) or torchvision's download (`download`)."""

    def __init__(
        self,
        input_shape: Sequence[int],
        model: str | None = None,
        weights: str | None = None,
        freeze: str = "none",
        download: bool = False,
        image_size: int | None = None,
        cache_features: bool = True,
    ) -> None:
        import torchvision.models

        _channels(input_shape, "torchvision")
        model = _required(model, "torchvision")
        if model not in TORCHVISION_MODELS:
            raise ConfigError("backbone.model", model, one_of(TORCHVISION_MODELS, model))
        net = getattr(torchvision.models, model)(weights="DEFAULT" if download else None)
        net.fc = nn.Identity()
        if weights is not None:
            load_weights(net, weights, f"torchvision model {model!r}", drop=("fc",))
        size = image_size or 224
        spec = InputSpec((size, size), IMAGENET_MEAN, IMAGENET_STD)
        super().__init__(net, TORCHVISION_MODELS[model], spec, freeze, cache_features)


def shares_frozen_backbone(model: nn.Module) -> bool:
    """Whether `model.backbone` is entirely frozen, so that copies of the model may share it."""
    return bool(getattr(getattr(model, "backbone", None), "frozen", False))
