"""Weight aligning (WA; Zhao et al., "Maintaining discrimination and fairness in class incremental
learning", CVPR 2020, eq. 6-7): the cheap correction of a growing CIL head's recency bias.

After task t, the new classes' weight vectors are rescaled so that their mean norm equals that of the
old classes: γ = mean_{i old} ‖w_i‖ / mean_{j new} ‖w_j‖, w_j ← γ · w_j. Biases are left as they are.
"""

from __future__ import annotations

import torch
from torch import nn

from retain.models.heads import HeadsCIL


def _weight(head: nn.Module) -> torch.Tensor:
    assert isinstance(head, nn.Linear)  # every output block is one
    return head.weight


@torch.no_grad()
def align_weights(heads: HeadsCIL, task_id: int) -> float | None:
    """Rescale the output block of `task_id` to the old blocks' mean weight norm; returns γ (None for
    the first task: there is nothing to align to)."""
    if task_id < 2:
        return None
    weights = [_weight(h) for h in heads.heads[:task_id]]  # (k_p, D) per task
    old = torch.cat(weights[:-1]).norm(dim=1).mean()
    new = weights[-1]
    gamma = old / new.norm(dim=1).mean()
    new.mul_(gamma)
    return float(gamma)
