"""The continual model: a backbone followed by the scenario's heads container."""

from __future__ import annotations

import torch
from torch import nn

from retain.models.heads import Heads


def is_task_conditioned(backbone: nn.Module) -> bool:
    """Whether `backbone` takes the task id as a second argument (plain modules do not)."""
    return bool(getattr(backbone, "task_conditioned", False))


class ContinualModel(nn.Module):
    """`heads(backbone(x), head_id)`. The backbone's `output_dim` must equal the heads' `input_dim`."""

    def __init__(self, backbone: nn.Module, heads: Heads) -> None:
        super().__init__()
        out = getattr(backbone, "output_dim", None)
        if out != heads.input_dim:
            raise ValueError(
                f"backbone {type(backbone).__name__} output_dim = {out!r} does not match the heads' "
                f"input_dim = {heads.input_dim}: build the heads with input_dim={out!r}"
            )
        self.backbone = backbone
        self.heads = heads

    @property
    def task_conditioned(self) -> bool:
        return is_task_conditioned(self.backbone)

    def features(self, x: torch.Tensor, task_id: int) -> torch.Tensor:
        """Backbone output for `x` (the task id is passed only to task-conditioned backbones)."""
        return self.backbone(x, task_id) if self.task_conditioned else self.backbone(x)

    def forward(self, x: torch.Tensor, head_id: int) -> torch.Tensor:
        return self.heads(self.features(x, head_id), head_id)
