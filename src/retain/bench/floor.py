"""The floor of the speed benchmark: a minimal plain-PyTorch LwF loop on the same data and model.

No framework, no logging, no metrics in the hot loop: what the hardware costs for the same arithmetic.
DIL on permuted tasks, like retain's run: one shared head; the student's shared head is not detached.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn


def _normalise(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return (x.float().div_(255.0) - mean) / std


def _distill(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    p_t = torch.softmax(teacher / temperature, dim=1)
    p_s = torch.softmax(student / temperature, dim=1) + 1e-5
    return (-(p_t * p_s.log()).sum(dim=1)).mean()


def minimal_lwf(
    tasks: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]],
    mode: str,
    *,
    epochs: int,
    batch_size: int,
    hidden: Sequence[int] = (256, 256),
    backbone: Callable[[], nn.Module] | None = None,
    lr: float = 0.01,
    momentum: float = 0.9,
    temperature: float = 2.0,
    mean: float = 0.286,
    std: float = 0.353,
    seed: int = 0,
) -> tuple[float, float]:
    """Train (x_train, y_train, x_test, y_test) tasks in order; `mode`: none | previous | per_task.

    The model is `backbone()` (a module with `output_dim`) or an MLP of `hidden` widths, plus one head.
    Returns (seconds of the last task's training / epochs, final average accuracy)."""
    torch.manual_seed(seed)
    if backbone is None:
        width = tasks[0][0][0].numel()
        layers: list[nn.Module] = [nn.Flatten()]
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        body: nn.Module = nn.Sequential(*layers)
    else:
        body = backbone()
        # a plain attribute of the backbone, which Module.__getattr__ (parameters, submodules) does not type
        width = cast(int, body.output_dim)
    model = nn.Sequential(body, nn.Linear(width, int(tasks[0][1].max()) + 1)).to(tasks[0][0].device)
    teachers: list[nn.Module] = []
    generator = torch.Generator().manual_seed(seed)
    seconds = 0.0
    for x, y, _, _ in tasks:
        start = time.perf_counter()
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        for _ in range(epochs):
            order = torch.randperm(len(y), generator=generator)
            for i in range(0, len(y), batch_size):
                idx = order[i : i + batch_size]
                xb = _normalise(x[idx], mean, std)
                out = model(xb)
                loss = F.cross_entropy(out, y[idx])
                with torch.no_grad():
                    targets = [teacher(xb) for teacher in teachers]
                for target in targets:
                    loss = loss + _distill(out, target, temperature)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        if mode != "none":
            snapshot = copy.deepcopy(model).eval().requires_grad_(False)
            teachers = teachers + [snapshot] if mode == "per_task" else [snapshot]
        seconds = (time.perf_counter() - start) / epochs
    model.eval()
    with torch.no_grad():
        accs = [(model(_normalise(xt, mean, std)).argmax(1) == yt).float().mean().item() for _, _, xt, yt in tasks]
    return seconds, sum(accs) / len(accs)
