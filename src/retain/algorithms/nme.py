"""Nearest-mean-of-exemplars classification (iCaRL, Rebuffi et al. CVPR 2017, Alg. 1): pure tensor functions.

y* = argmin_y ‖φ(x) − μ_y‖ with φ the L2-normalised backbone features and μ_y the mean of the normalised
features of class y's exemplars (itself normalised, as in iCaRL's code). Self-contained, so that any
classifier on features (exemplars or whole training sets) can share it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def class_means(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes, D) normalised class means of normalised `features` (n, D); a class without any
    sample gets a row of NaN (it is never predicted by `nearest_mean_logits`)."""
    phi = F.normalize(features.float(), dim=1)
    sums = torch.zeros(num_classes, phi.shape[1], device=phi.device).index_add_(0, labels, phi)
    counts = torch.bincount(labels, minlength=num_classes)[:num_classes]
    means = F.normalize(sums, dim=1)
    means[counts == 0] = torch.nan
    return means


def nearest_mean_logits(features: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Logits (n, C) = −‖φ(x) − μ_c‖; −inf for a class without a mean, so argmax is the nearest mean."""
    distances = torch.cdist(F.normalize(features.float(), dim=1), means.nan_to_num(0.0))
    return (-distances).masked_fill(means.isnan().any(dim=1), -torch.inf)
