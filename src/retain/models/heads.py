"""Output heads for the three scenarios; the heads container is the only model part that knows it.

Every container offers the same calls, so algorithms never branch on the scenario:
- `setup_task(task_id, num_classes)`: make room for a new task (a new head, a new output block, or
  the shared head on the first task);
- `forward(features, head_id)`: the logits used to train task `head_id`;
- `eval_head(task_id, seen)`: which head id to use to test task `task_id` after `seen` tasks;
- `old_logits(features, head_id, trainable)`: student logits for a previous task in distillation,
  with the old weights detached unless `trainable`;
- `stacked_old_logits(features, head_ids, trainable)`: those of several previous tasks at once, stacked
  (P, B, K) from one matmul over the stacked head weights (zero-padded to the widest head).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _linear(layer: nn.Module, features: torch.Tensor, detach: bool) -> torch.Tensor:
    """`layer(features)`, through detached weights when `detach`; `layer` is one of the heads (a Linear:
    `nn.ModuleList` indexing is typed as returning any `nn.Module`)."""
    if not detach:
        return layer(features)
    assert isinstance(layer, nn.Linear)
    return F.linear(features, layer.weight.detach(), layer.bias.detach())


def _stacked_linear(layers: list[nn.Linear], features: torch.Tensor, detach: bool) -> torch.Tensor:
    """The logits of every layer in `layers` on `features`, (P, B, K), from one matmul: the weights
    stacked (layers with fewer outputs padded with zero rows up to K); `features` is (B, D), shared by
    every layer, or (P, B, D), one row per layer."""
    width = max(layer.out_features for layer in layers)
    weights: list[torch.Tensor] = [layer.weight for layer in layers]
    biases: list[torch.Tensor] = [layer.bias for layer in layers]
    if any(layer.out_features < width for layer in layers):
        weights = [F.pad(w, (0, 0, 0, width - len(w))) for w in weights]
        biases = [F.pad(b, (0, width - len(b))) for b in biases]
    if len(layers) == 1:  # one old head (k = 1): a view, no copy
        weight, bias = weights[0].unsqueeze(0), biases[0].unsqueeze(0)
    else:
        weight, bias = torch.stack(weights), torch.stack(biases)  # (P, K, D), (P, K)
    if detach:
        weight, bias = weight.detach(), bias.detach()
    if features.dim() == 3:
        return torch.baddbmm(bias.unsqueeze(1), features, weight.transpose(1, 2))
    p, k = weight.shape[:2]
    out = F.linear(features, weight.reshape(p * k, -1), bias.reshape(p * k))  # (B, P·K): one matmul
    return out.view(len(features), p, k).transpose(0, 1)


class Heads(nn.Module):
    """Base of the heads containers: a list of linear layers over features of size `input_dim`."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        if input_dim <= 0:
            raise ValueError(f"heads input_dim = {input_dim} is not valid: expected a positive integer")
        self.input_dim = input_dim
        self.heads = nn.ModuleList()

    @property
    def num_tasks(self) -> int:
        return len(self.heads)

    def setup_task(self, task_id: int, num_classes: int) -> None:
        if task_id == len(self.heads) + 1:
            self.heads.append(nn.Linear(self.input_dim, num_classes))
        elif not 1 <= task_id <= len(self.heads):
            raise ValueError(
                f"task_id = {task_id} skips a task: {len(self.heads)} heads exist, next is {len(self.heads) + 1}"
            )

    def eval_head(self, task_id: int, seen: int) -> int:
        return task_id

    def old_logits(self, features: torch.Tensor, head_id: int, trainable: bool) -> torch.Tensor:
        """Student logits of previous task `head_id` for distillation (each scenario's container)."""
        raise NotImplementedError

    def stacked_old_logits(self, features: torch.Tensor, head_ids: list[int], trainable: bool) -> torch.Tensor:
        """`old_logits` of every head in `head_ids`, stacked (P, B, K); a head with fewer outputs than K
        is padded (with anything: the loss masks it). `features`: (B, D), or (P, B, D) one per head."""
        raise NotImplementedError


class HeadsTIL(Heads):
    """Task-incremental: one linear head per task; task `head_id` (1-based) uses its own head."""

    def forward(self, features: torch.Tensor, head_id: int) -> torch.Tensor:
        return self.heads[head_id - 1](features)  # (B, k_task)

    def old_logits(self, features: torch.Tensor, head_id: int, trainable: bool) -> torch.Tensor:
        return _linear(self.heads[head_id - 1], features, detach=not trainable)

    def stacked_old_logits(self, features: torch.Tensor, head_ids: list[int], trainable: bool) -> torch.Tensor:
        return _stacked_linear([self._linear(p) for p in head_ids], features, detach=not trainable)

    def _linear(self, head_id: int) -> nn.Linear:
        layer = self.heads[head_id - 1]
        assert isinstance(layer, nn.Linear)  # `nn.ModuleList` indexing is typed as any `nn.Module`
        return layer


class HeadDIL(Heads):
    """Domain-incremental: one shared head of a fixed size, created at the first task and used by all."""

    def setup_task(self, task_id: int, num_classes: int) -> None:
        if self.heads and self.heads[0].out_features != num_classes:
            raise ValueError(
                f"task {task_id} has {num_classes} classes but the shared DIL head has "
                f"{self.heads[0].out_features}: every DIL task must have the same classes"
            )
        if not self.heads:
            self.heads.append(nn.Linear(self.input_dim, num_classes))

    def forward(self, features: torch.Tensor, head_id: int) -> torch.Tensor:
        return self.heads[0](features)  # (B, C)

    def old_logits(self, features: torch.Tensor, head_id: int, trainable: bool) -> torch.Tensor:
        # The shared head is also the current task's head: detaching it (as CLArena does) leaves only
        # the backbone to match the teachers and collapses LwF on Permuted Fashion-MNIST.
        return self.heads[0](features)

    def stacked_old_logits(self, features: torch.Tensor, head_ids: list[int], trainable: bool) -> torch.Tensor:
        logits = self.heads[0](features)  # never detached (see `old_logits`)
        return logits if features.dim() == 3 else logits.expand(len(head_ids), *logits.shape)


class HeadsCIL(Heads):
    """Class-incremental: one output block per task, concatenated; head id t means blocks 1..t."""

    def forward(self, features: torch.Tensor, head_id: int) -> torch.Tensor:
        return torch.cat([h(features) for h in self.heads[:head_id]], dim=1)  # (B, classes seen)

    def old_logits(self, features: torch.Tensor, head_id: int, trainable: bool) -> torch.Tensor:
        return torch.cat([_linear(h, features, not trainable) for h in self.heads[:head_id]], dim=1)

    def stacked_old_logits(self, features: torch.Tensor, head_ids: list[int], trainable: bool) -> torch.Tensor:
        """Blocks 1..max(head_ids) from one matmul; head p's logits are its first columns (the loss masks
        the rest)."""
        blocks = [h for h in self.heads[: max(head_ids)] if isinstance(h, nn.Linear)]
        weight = torch.cat([h.weight for h in blocks])  # (K, D)
        bias = torch.cat([h.bias for h in blocks])
        if not trainable:
            weight, bias = weight.detach(), bias.detach()
        logits = F.linear(features, weight, bias)  # (B, K) or (P, B, K)
        return logits if features.dim() == 3 else logits.expand(len(head_ids), *logits.shape)

    def eval_head(self, task_id: int, seen: int) -> int:
        return seen
