"""Which parts of a pretrained network train: `backbone.freeze = none | all | blocks:K`.

`blocks:K` trains the last K blocks and every module registered after them (the final norm, the
pooling), and freezes the rest: the stem or patch embedding, the position and class tokens (parameters
held by the network itself) and the earlier blocks. The blocks are, in this order of preference, the
entries of `net.blocks` (ViT, DeiT, Swin-free timm transformers), the residual blocks of `layer1..layer4`
(torchvision and timm ResNets: 8 for ResNet-18, 16 for ResNet-50) or the entries of `net.stages`
(ConvNeXt and other staged timm models: one block per stage).

Frozen parameters stop requiring gradients, and the modules under a frozen prefix stay in evaluation
mode whatever `train()` asks (BatchNorm statistics and dropout of a frozen part do not move), so a frozen
part computes the same function at every step.
"""

from __future__ import annotations

import re

from torch import nn

from retain.errors import ConfigError

FREEZE_PATTERN = re.compile(r"none|all|blocks:[1-9][0-9]*")
KEY = "backbone.freeze"


def block_names(net: nn.Module) -> tuple[list[str], list[str]]:
    """(the block names in forward order, the names of the children that hold them) of `net`."""
    blocks = getattr(net, "blocks", None)
    stages = getattr(net, "stages", None)
    if isinstance(blocks, nn.Sequential | nn.ModuleList):
        containers = ["blocks"]
    elif all(isinstance(getattr(net, f"layer{i}", None), nn.Sequential) for i in range(1, 5)):
        containers = [f"layer{i}" for i in range(1, 5)]
    elif isinstance(stages, nn.Sequential | nn.ModuleList):
        containers = ["stages"]
    else:
        raise ConfigError(
            KEY,
            "blocks:K",
            f"needs a model with `blocks`, `layer1..4` or `stages`; {type(net).__name__} has none: use 'none' or 'all'",
        )
    names = [f"{c}.{n}" for c in containers for n, _ in net.get_submodule(c).named_children()]
    return names, containers


def frozen_prefixes(net: nn.Module, freeze: str) -> list[str]:
    """The module names under which everything is frozen ('' for the whole network)."""
    if not FREEZE_PATTERN.fullmatch(freeze):
        raise ConfigError(KEY, freeze, "expected 'none', 'all' or 'blocks:K' (K >= 1)")
    if freeze == "none":
        return []
    if freeze == "all":
        return [""]
    k = int(freeze.split(":")[1])
    blocks, containers = block_names(net)
    if k > len(blocks):
        raise ConfigError(KEY, freeze, f"{type(net).__name__} has {len(blocks)} blocks (K <= {len(blocks)})")
    children = [name for name, _ in net.named_children()]
    before = children[: children.index(containers[0])]
    return before + blocks[: len(blocks) - k]


def under(name: str, prefix: str) -> bool:
    """Whether module or parameter `name` lies under `prefix` ('' is the root: everything)."""
    return prefix == "" or name == prefix or name.startswith(prefix + ".")


def apply_freeze(net: nn.Module, freeze: str) -> list[str]:
    """Stop gradients of the frozen parameters of `net`; returns the frozen prefixes (see `keep_frozen_eval`).

    Parameters held by `net` itself (a ViT's class token and position embedding) are frozen with
    `blocks:K` and `all`."""
    prefixes = frozen_prefixes(net, freeze)
    for name, param in net.named_parameters():
        if any(under(name, p) for p in prefixes) or (prefixes and "." not in name):
            param.requires_grad_(False)
    return prefixes


def keep_frozen_eval(net: nn.Module, prefixes: list[str]) -> None:
    """Put every module under a frozen prefix in evaluation mode (after `net.train()`)."""
    for name, module in net.named_modules():
        if any(under(name, p) for p in prefixes):
            module.train(False)
