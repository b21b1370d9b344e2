"""Membership inference against an unlearned model: can an attacker still tell that the unlearned tasks'
training samples were trained on? Pure functions of model outputs (numpy arrays); the models' outputs are
gathered by `retain.experiment.membership`. docs/unlearning.md states what each number can claim.

Features of a sample (x, y) from the probabilities p = softmax(z / T) of the model's logits z:
- loss ℓ = −log p_y (p_y = 0 when the model has no output for class y, clipped at 1e-12),
- confidence max_c p_c, entropy −Σ_c p_c log p_c, and
- the softened output itself, sorted in decreasing order and cut/padded to `WIDTH` values (class-agnostic,
  so an attack fitted on some tasks applies to another task's classes).

*Population attack* (as in the evaluations of SCRUB and SalUn): a logistic regression on standardised
features, fitted on *members* (training samples of the retained tasks) against *non-members* (their test
samples), equal numbers of each drawn with a seeded generator; half of each is held out to measure the
attack itself (`attack_auc`). Applied to the unlearned tasks' training samples (targets) and their test
samples: `auc` = ROC AUC of the attack's scores, targets vs those test samples (0.5: it cannot tell them
apart); `member_rate` = fraction of targets scored ≥ 0.5 ("member"); `member_rate_test` = the same on the
test samples, the rate the attack gives samples never trained on.

*Likelihood ratio with two reference models* (after LiRA, Carlini et al., S&P 2022): with the scaled logit
φ = log p_y − log(1 − p_y) of the model under test, of the original reference (trained on the targets: the
IN model) and of the retrain reference (never trained on them: the OUT model), and one variance σ² shared
by both Gaussians, the log likelihood ratio of IN against OUT is Λ(x) = [(φ − φ_out)² − (φ − φ_in)²] / 2σ².
Its sign needs no σ: `in_fraction` = fraction of targets with Λ > 0 (closer to the original reference than
to the retrain one); `auc` = AUC of Λ, targets vs the unlearned tasks' test samples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

WIDTH = 10  # sorted softened-output values kept per sample
EPS = 1e-12
FEATURES = ("loss", "confidence", "entropy", *(f"softened_{i + 1}" for i in range(WIDTH)))


def output_features(probs: np.ndarray, label_prob: np.ndarray) -> np.ndarray:
    """(N, 3 + WIDTH) features (`FEATURES`) from probabilities (N, C) and the true class's (N,)."""
    p = np.clip(probs, EPS, 1.0)
    loss = -np.log(np.clip(label_prob, EPS, 1.0))
    entropy = -(probs * np.log(p)).sum(axis=1)
    ranked = -np.sort(-probs, axis=1)[:, :WIDTH]
    ranked = np.pad(ranked, ((0, 0), (0, WIDTH - ranked.shape[1])))
    return np.column_stack([loss, probs.max(axis=1), entropy, ranked])


def scaled_logit(label_prob: np.ndarray) -> np.ndarray:
    """φ = log p_y − log(1 − p_y), clipped away from 0 and 1 (LiRA's per-example statistic)."""
    p = np.clip(label_prob, EPS, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """ROC AUC of scores, `positive` against `negative`: P(a positive scores above a negative), ties ½."""
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.ones(len(positive)), np.zeros(len(negative))]
    return float(roc_auc_score(labels, np.concatenate([positive, negative])))


@dataclass(frozen=True)
class AttackData:
    """Features of one model: members and non-members to fit on, targets and their test samples."""

    members: np.ndarray
    nonmembers: np.ndarray
    targets: np.ndarray
    target_tests: np.ndarray


def balanced_split(members: np.ndarray, nonmembers: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """Equal numbers of members and non-members (the smaller count), each halved into fit and held-out
    parts: (fit members, fit non-members, held-out members, held-out non-members)."""
    rng = np.random.default_rng(seed)
    n = min(len(members), len(nonmembers))
    m = members[rng.permutation(len(members))[:n]]
    o = nonmembers[rng.permutation(len(nonmembers))[:n]]
    half = n // 2
    return m[:half], o[:half], m[half:], o[half:]


def population_attack(data: AttackData, seed: int) -> dict[str, float | int]:
    """Fit the attack on `data`'s members/non-members and score the targets (see the module docstring)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fit_m, fit_o, held_m, held_o = balanced_split(data.members, data.nonmembers, seed)
    attack = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    attack.fit(np.concatenate([fit_m, fit_o]), np.r_[np.ones(len(fit_m)), np.zeros(len(fit_o))])

    def score(x: np.ndarray) -> np.ndarray:
        return np.asarray(attack.predict_proba(x)[:, 1])

    targets, tests = score(data.targets), score(data.target_tests)
    return {
        "auc": roc_auc(targets, tests),
        "member_rate": float((targets >= 0.5).mean()),
        "member_rate_test": float((tests >= 0.5).mean()),
        "attack_auc": roc_auc(score(held_m), score(held_o)),
        "fit_samples_per_class": len(fit_m),
        "targets": len(targets),
    }


def likelihood_ratio(
    phi: Mapping[str, np.ndarray], phi_in: Mapping[str, np.ndarray], phi_out: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """The two-reference likelihood-ratio test on `targets` and `tests` (scaled logits of each sample under
    the model, the IN and the OUT reference; see the module docstring)."""

    def lam(split: str) -> np.ndarray:
        return (phi[split] - phi_out[split]) ** 2 - (phi[split] - phi_in[split]) ** 2

    targets, tests = lam("targets"), lam("tests")
    return {"in_fraction": float((targets > 0).mean()), "auc": roc_auc(targets, tests)}
