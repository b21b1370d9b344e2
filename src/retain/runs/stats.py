"""Statistics of a report cell: mean, sample std, n, a 95 % confidence interval, and paired comparisons.

The formulas (docs/sweeps-and-reports.md, "Statistics"):

- mean x̄ = Σ xᵢ / n; sample standard deviation s = √(Σ (xᵢ − x̄)² / (n − 1)) (0 for n = 1);
- Student-t interval x̄ ± t₀.₉₇₅,ₙ₋₁ · s / √n (none for n = 1), or, from `BOOTSTRAP_MIN_N` values on, the
  percentile bootstrap of the mean (`BOOTSTRAP_RESAMPLES` resamples, a fixed seed: the same values always
  give the same interval);
- paired comparison of A against a baseline B over the seeds both have: differences dᵢ = Aᵢ − Bᵢ, their
  mean, its interval as above, and the two-sided paired t-test p = 2 · P(T > |d̄ / (s_d / √n)|), T ~ t(n − 1).

The t quantiles and tail probabilities come from scipy (a dependency of scikit-learn, itself required).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

LEVEL = 0.95
BOOTSTRAP_MIN_N = 20  # below this the percentile bootstrap covers less often than it claims; t is used
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (n − 1; 0 for one value), count, and the 95 % interval of the mean
    (`low`/`high`, None below two values; `method` is `t` or `bootstrap`)."""

    mean: float | None
    std: float | None
    n: int
    low: float | None = None
    high: float | None = None
    method: str = "t"

    def format(self, digits: int = 4) -> str:
        """`mean ± std`, the cell of a table."""
        if self.mean is None:
            return "–"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"

    def interval(self, digits: int = 4) -> str:
        """`[low, high]`, or `–` without an interval."""
        if self.low is None or self.high is None:
            return "–"
        return f"[{self.low:.{digits}f}, {self.high:.{digits}f}]"


def t_quantile(n: int, level: float = LEVEL) -> float:
    """t_{(1+level)/2, n−1}: the two-sided critical value for n values (n ≥ 2)."""
    return float(scipy_stats.t.ppf((1 + level) / 2, n - 1))


def t_interval(mean: float, std: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Student-t interval of the mean: x̄ ± t · s / √n."""
    half = t_quantile(n, level) * std / math.sqrt(n)
    return mean - half, mean + half


def bootstrap_interval(
    values: Iterable[float], level: float = LEVEL, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean: the (1−level)/2 and (1+level)/2 quantiles of the means
    of `resamples` resamples drawn with replacement (numpy generator seeded with `seed`)."""
    data = np.asarray(list(values), dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def stat(values: Iterable[float | None]) -> Stat:
    """The statistics of the values that are not None (see the module docstring for the formulas)."""
    present = [float(v) for v in values if v is not None]
    n = len(present)
    if not present:
        return Stat(None, None, 0)
    mean = sum(present) / n
    if n == 1:
        return Stat(mean, 0.0, 1)
    std = math.sqrt(sum((v - mean) ** 2 for v in present) / (n - 1))
    if n >= BOOTSTRAP_MIN_N:
        return Stat(mean, std, n, *bootstrap_interval(present), method="bootstrap")
    return Stat(mean, std, n, *t_interval(mean, std, n))


@dataclass(frozen=True)
class Paired:
    """A paired comparison of a row against the baseline over their shared seeds: the mean difference
    (row − baseline) with its statistics, and the two-sided paired t-test p-value (None below two pairs)."""

    diff: Stat
    p: float | None
    seeds: tuple[Any, ...]

    def format(self, digits: int = 4) -> str:
        """`+0.1833 [0.1116, 0.2551] p=0.0082 (n=3)`, the cell of the comparison table."""
        if self.diff.mean is None:
            return "no shared seeds"
        p = "" if self.p is None else f" p={format_p(self.p)}"
        return f"{self.diff.mean:+.{digits}f} {self.diff.interval(digits)}{p} (n={self.diff.n})"


def format_p(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def paired_p(diff: Stat) -> float | None:
    """Two-sided p-value of the paired t-test that the mean difference is 0."""
    if diff.mean is None or diff.std is None or diff.n < 2:
        return None
    if diff.std == 0:  # every pair differs by the same amount: certain if non-zero, no evidence if zero
        return 1.0 if diff.mean == 0 else 0.0
    t = diff.mean / (diff.std / math.sqrt(diff.n))
    return float(2 * scipy_stats.t.sf(abs(t), diff.n - 1))


def paired(values: Mapping[Any, float | None], baseline: Mapping[Any, float | None]) -> Paired:
    """Compare `values` (seed → value) with `baseline` (seed → value) over the seeds both have a value for."""
    shared = tuple(s for s in values if s in baseline and values[s] is not None and baseline[s] is not None)
    diff = stat(values[s] - baseline[s] for s in shared)  # type: ignore[operator]
    return Paired(diff, paired_p(diff), shared)
