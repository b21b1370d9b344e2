"""The report's statistics against hand-computed values.

For n − 1 = 2 degrees of freedom Student's t has closed forms, so the numbers below need no table:
quantile t_p = (2p − 1) / √(2p(1 − p)), upper tail P(T > t) = (1 − t / √(t² + 2)) / 2.
"""

import math
import statistics

import numpy as np
import pytest

from retain.runs import stats
from retain.runs.stats import bootstrap_interval, paired, stat, t_quantile


def t2_quantile(p: float) -> float:
    return (2 * p - 1) / math.sqrt(2 * p * (1 - p))


def t2_tail(t: float) -> float:
    return (1 - t / math.sqrt(t * t + 2)) / 2


def test_t_quantiles_match_the_closed_form_and_the_usual_table():
    assert t_quantile(3) == pytest.approx(t2_quantile(0.975)) == pytest.approx(4.302653, abs=1e-6)
    # printed t tables, two-sided 95 %: df 1, 4, 9, 29
    for n, value in [(2, 12.706), (5, 2.776), (10, 2.262), (30, 2.045)]:
        assert t_quantile(n) == pytest.approx(value, abs=1e-3)


def test_a_cell_is_mean_sample_std_n_and_the_t_interval():
    s = stat([0.5, 0.6, 0.7, None])  # None: a run without the value
    assert s.mean == pytest.approx(0.6) and s.std == pytest.approx(0.1) and s.n == 3 and s.method == "t"
    half = t2_quantile(0.975) * 0.1 / math.sqrt(3)  # 0.248414
    assert (s.low, s.high) == (pytest.approx(0.6 - half), pytest.approx(0.6 + half))
    assert s.interval() == "[0.3516, 0.8484]" and s.format() == "0.6000 ± 0.1000"


def test_one_value_has_no_interval_and_none_have_no_mean():
    one = stat([0.3])
    assert (one.mean, one.std, one.n, one.low, one.high) == (0.3, 0.0, 1, None, None)
    assert one.interval() == "–" and stat([None]).format() == "–" and stat([]).n == 0


def test_from_twenty_values_the_interval_is_the_seeded_percentile_bootstrap():
    values = [float(v) for v in np.random.default_rng(5).normal(0.7, 0.05, size=stats.BOOTSTRAP_MIN_N)]
    s = stat(values)
    assert s.method == "bootstrap" and (s.low, s.high) == bootstrap_interval(values)
    assert s.mean == pytest.approx(statistics.mean(values)) and s.std == pytest.approx(statistics.stdev(values))
    # the same values, the same interval; close to the t interval for roughly normal data
    assert stat(values) == s
    t_low = s.mean - t_quantile(len(values)) * s.std / math.sqrt(len(values))
    assert s.low == pytest.approx(t_low, abs=0.01) and s.low < s.mean < s.high
    assert stat(values[:-1]).method == "t"


def test_the_bootstrap_is_the_quantiles_of_resampled_means():
    # two values: each resample's mean is 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4, so the 2.5 % and
    # 97.5 % quantiles are 0 and 1; a constant sample gives a point
    assert bootstrap_interval([0.0, 1.0], resamples=4000) == (0.0, 1.0)
    assert bootstrap_interval([0.4] * 5) == pytest.approx((0.4, 0.4))


def test_the_paired_comparison_uses_only_shared_seeds():
    a = {0: 0.7, 1: 0.8, 2: 0.9, 7: 0.1}  # seed 7 has no baseline run: left out
    b = {0: 0.5, 1: 0.65, 2: 0.7, 3: 0.2}
    result = paired(a, b)
    assert result.seeds == (0, 1, 2)
    # d = (0.2, 0.15, 0.2): mean 0.18333, s_d = 0.028868, t = mean / (s_d / √3) = 11
    d = result.diff
    assert d.mean == pytest.approx(0.55 / 3) and d.std == pytest.approx(math.sqrt(0.0025 / 3)) and d.n == 3
    assert result.p == pytest.approx(2 * t2_tail(11.0)) == pytest.approx(0.008163, abs=1e-6)
    half = t2_quantile(0.975) * d.std / math.sqrt(3)
    assert (d.low, d.high) == (pytest.approx(d.mean - half), pytest.approx(d.mean + half))
    assert result.format() == "+0.1833 [0.1116, 0.2550] p=0.0082 (n=3)"


def test_the_p_value_is_symmetric_and_degenerate_cases_are_explicit():
    assert paired({0: 0.5, 1: 0.65, 2: 0.7}, {0: 0.7, 1: 0.8, 2: 0.9}).p == pytest.approx(0.008163, abs=1e-6)
    assert paired({0: 0.5, 1: 0.75}, {0: 0.25, 1: 0.5}).p == 0.0  # every pair +0.25: no spread
    assert paired({0: 0.3, 1: 0.4}, {0: 0.3, 1: 0.4}).p == 1.0
    one = paired({0: 0.3}, {0: 0.1})
    assert one.p is None and one.format() == "+0.2000 – (n=1)"
    assert paired({0: 0.3}, {1: 0.1}).format() == "no shared seeds"
