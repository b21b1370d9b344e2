"""The distillation regulariser of LwF (Li & Hoiem, ECCV 2016; arXiv:1606.09282; eq. 2–3) and variants."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

DISTANCES = ("cross_entropy", "kl", "mse")
STUDENT_EPSILON = 1e-5  # added to the student's probabilities, as in CLArena


def check_positive(name: str, value: float) -> None:
    """Raise ValueError naming `name` when `value` is not > 0."""
    if not value > 0:
        raise ValueError(f"{name} = {value!r} is not valid: must be > 0")


def soften(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Probabilities raised to the power 1/T and renormalised (LwF eq. 3), i.e. softmax(logits / T)."""
    return torch.softmax(logits / temperature, dim=-1)


def padding_mask(widths: Sequence[int], size: int, device: torch.device) -> torch.Tensor:
    """(P, 1, size) booleans: True in the first `widths[p]` columns of term p, False in its padding."""
    return (torch.arange(size, device=device) < torch.tensor(widths, device=device)[:, None])[:, None, :]


class DistillationReg:
    """λ_o · distance(student logits, teacher logits) at temperature T.

    - `cross_entropy` (LwF eq. 2): λ · mean_batch(−Σ_k p_teacher,k · log(p_student,k + 1e-5)),
      both probabilities softened with T (eq. 3);
    - `kl` (Hinton et al. 2015): λ · T² · KL(p_teacher ‖ p_student), batch mean;
    - `mse` (as in DER, Buzzega et al. 2020): λ · mean squared error of the raw logits (T unused).

    Args:
        factor: λ_o in the paper (1 there). Must be > 0.
        temperature: T in the paper (2 there). Must be > 0.
        distance: `cross_entropy`, `kl` or `mse`.
    """

    def __init__(self, factor: float, temperature: float, distance: str = "cross_entropy") -> None:
        check_positive("distillation_reg_factor", factor)
        check_positive("distillation_reg_temperature", temperature)
        if distance not in DISTANCES:
            raise ValueError(f"distance = {distance!r} is not valid: expected one of {list(DISTANCES)}")
        self.factor = factor
        self.temperature = temperature
        self.distance = distance

    def target(self, teacher_logits: torch.Tensor) -> torch.Tensor:
        """What the distance needs of a teacher's logits, computed once (and cacheable for a task):
        `cross_entropy` the softened probabilities p_teacher (eq. 3), `kl` their logarithm, `mse` the
        logits themselves."""
        if self.distance == "mse":
            return teacher_logits
        if self.distance == "kl":
            return F.log_softmax(teacher_logits / self.temperature, dim=-1)
        return soften(teacher_logits, self.temperature)

    def merge(self, targets: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The targets of several teachers of the *same* student logits, as few terms as the distance allows.

        `cross_entropy` is linear in the teacher's probabilities, Σ_p D(s, p_p) = D(s, Σ_p p_p), so they
        become one summed target (one student softmax and one backward instead of one per teacher; the same
        value up to floating-point order); the other distances keep one term per teacher."""
        if self.distance == "cross_entropy" and len(targets) > 1:
            return [torch.stack(list(targets)).sum(dim=0)]
        return list(targets)

    def loss(self, student_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """λ_o · distance(student logits, a prepared `target`) — see `target`."""
        t = self.temperature
        if self.distance == "mse":
            return self.factor * F.mse_loss(student_logits, target)
        if self.distance == "kl":
            log_p_s = F.log_softmax(student_logits / t, dim=-1)
            return self.factor * t * t * F.kl_div(log_p_s, target, log_target=True, reduction="batchmean")
        p_s = soften(student_logits, t) + STUDENT_EPSILON  # (B, K)
        return self.factor * (-(target * p_s.log()).sum(dim=-1)).mean()

    def loss_sum(
        self, student: torch.Tensor, target: torch.Tensor, widths: Sequence[int] | None = None
    ) -> torch.Tensor:
        """Σ_p λ_o · distance(student[p], target[p]): the sum over old tasks of eq. 2 in one vectorised
        reduction over stacked terms (P, B, K), with the numbers of a loop of `loss` up to floating-point
        order. `widths[p]`, when given, is term p's number of outputs: columns past it are padding (any
        value), left out of the softmax and of the sum (CIL: old task p knew fewer classes)."""
        t, batch = self.temperature, student.shape[1]
        mask = None if widths is None else padding_mask(widths, student.shape[-1], student.device)
        if self.distance == "mse":
            squared = (student - target).square()
            if mask is None:
                return self.factor * squared.sum() / squared[0].numel()
            per_term = squared.masked_fill(~mask, 0.0).sum(dim=(1, 2))  # (P,)
            return self.factor * (per_term / (batch * torch.tensor(widths, device=student.device))).sum()
        if mask is not None:  # padding: out of the student's softmax, and a zero target
            student, target = student.masked_fill(~mask, -math.inf), target.masked_fill(~mask, 0.0)
        if self.distance == "kl":
            log_p_s = F.log_softmax(student / t, dim=-1)
            pointwise = target.exp() * (target - log_p_s)  # F.kl_div(log_target=True), elementwise
            if mask is not None:
                pointwise = torch.where(mask, pointwise, 0.0)
            return self.factor * t * t * pointwise.sum() / batch
        p_s = soften(student, t) + STUDENT_EPSILON  # (P, B, K)
        return self.factor * -(target * p_s.log()).sum() / batch

    def __call__(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        return self.loss(student_logits, self.target(teacher_logits))
