"""Frozen teacher backbones stored as one stacked copy and evaluated in one batched call.

With `per_task` teachers LwF keeps one backbone per finished task. Running them one by one costs a Python
loop and T−1 separate forward passes per batch; stacking their parameters (`torch.func.stack_module_state`)
and mapping one functional forward over the stack (`torch.func.vmap`) computes all of them in a single
call. The snapshots' own parameters are re-pointed at views of the stack, so the stack is the only copy.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


def _rebind(module: nn.Module, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], i: int) -> None:
    """Make `module`'s parameters and buffers views of row `i` of the stacked tensors (no second copy)."""
    for name, param in module.named_parameters():
        param.data = params[name][i]
    for name, _ in list(module.named_buffers()):
        owner_name, _, leaf = name.rpartition(".")
        owner = module.get_submodule(owner_name) if owner_name else module
        owner._buffers[leaf] = buffers[name][i]


class StackedBackbones:
    """Several frozen backbones of one architecture, run together: `(B, ...) → (P, B, D)`."""

    def __init__(self, backbones: Sequence[nn.Module]) -> None:
        if not backbones:
            raise ValueError("StackedBackbones needs at least one backbone")
        params, buffers = stack_module_state(list(backbones))
        self.params = {k: v.detach() for k, v in params.items()}
        self.buffers = {k: v.detach() for k, v in buffers.items()}
        for i, backbone in enumerate(backbones):
            _rebind(backbone, self.params, self.buffers, i)
        self.base = copy.deepcopy(backbones[0]).to("meta")  # structure only; weights come from the stack
        self.size = len(backbones)

    def _one(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.base, (params, buffers), (x,))

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return vmap(self._one, in_dims=(0, 0, None))(self.params, self.buffers, x)  # (P, B, D)
