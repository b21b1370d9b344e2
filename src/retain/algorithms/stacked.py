"""Several frozen backbones of one architecture run as one: the stacked teachers of LwF's `per_task` mode.

Two ways to run k backbones together, both with the numbers of k separate calls:
- a backbone made of `Flatten`, `Linear` and `ReLU` layers only (the MLP) runs one batched matmul per
  layer (`torch.baddbmm`) over the stacked weights: exact on the CPU (the same products, each summed in
  the same order) and faster than the loop there (docs/benchmarks.md);
- any other backbone runs in one `torch.func.vmap` call over `functional_call` (equal up to
  floating-point order; on the CPU slower than the loop, so used there only when asked).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from retain.models.backbones import MLP

LINEAR_LAYERS = (nn.Flatten, nn.Linear, nn.ReLU)


def _rebind(module: nn.Module, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], i: int) -> None:
    """Make `module`'s parameters and buffers views of row `i` of the stacked tensors (no second copy)."""
    for name, param in module.named_parameters():
        param.data = params[name][i]
    for name, _ in list(module.named_buffers()):
        owner_name, _, leaf = name.rpartition(".")
        owner = module.get_submodule(owner_name) if owner_name else module
        owner._buffers[leaf] = buffers[name][i]


def linear_layers(backbone: nn.Module) -> list[tuple[str, nn.Module]] | None:
    """The (parameter-name prefix, layer) sequence of a backbone that is only `Flatten(1)`, `Linear` and
    `ReLU` layers applied in order (an `MLP`, or such an `nn.Sequential`); None for any other backbone."""
    if type(backbone) is MLP:
        prefix, body = "net.", backbone.net
    elif type(backbone) is nn.Sequential:
        prefix, body = "", backbone
    else:
        return None
    layers = [(f"{prefix}{name}.", layer) for name, layer in body.named_children()]
    for _, layer in layers:
        if type(layer) not in LINEAR_LAYERS or (isinstance(layer, nn.Flatten) and layer.start_dim != 1):
            return None
    return layers


class StackedBackbones:
    """Several frozen backbones of one architecture, run together: `(B, ...) → (P, B, D)`.

    The backbones' own parameters are re-pointed at views of the stack, so the stack is the only copy."""

    def __init__(self, backbones: Sequence[nn.Module]) -> None:
        if not backbones:
            raise ValueError("StackedBackbones needs at least one backbone")
        params, buffers = stack_module_state(list(backbones))
        self.params = {k: v.detach() for k, v in params.items()}
        self.buffers = {k: v.detach() for k, v in buffers.items()}
        for i, backbone in enumerate(backbones):
            _rebind(backbone, self.params, self.buffers, i)
        self.layers = linear_layers(backbones[0])
        self.base = copy.deepcopy(backbones[0]).to("meta")  # structure only; weights come from the stack
        self.size = len(backbones)

    def _one(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.base, (params, buffers), (x,))

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.layers is not None:
            return self._matmuls(x)
        return vmap(self._one, in_dims=(0, 0, None))(self.params, self.buffers, x)  # (P, B, D)

    def _matmuls(self, x: torch.Tensor) -> torch.Tensor:
        """One batched matmul per `Linear` layer; the input is shared until the first one."""
        h = x.expand(self.size, *x.shape)  # a view: no copy of the input
        assert self.layers is not None
        for prefix, layer in self.layers:
            if isinstance(layer, nn.Flatten):
                h = h.flatten(2, layer.end_dim if layer.end_dim < 0 else layer.end_dim + 1)
            elif isinstance(layer, nn.ReLU):
                h = h.relu()
            else:
                weight = self.params[prefix + "weight"].transpose(1, 2)  # (P, in, out)
                bias = self.params.get(prefix + "bias")
                h = torch.bmm(h, weight) if bias is None else torch.baddbmm(bias.unsqueeze(1), h, weight)
        return h
