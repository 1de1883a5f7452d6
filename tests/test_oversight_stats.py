"""The oversight statistics against published values (R, SciPy, the BH 1995 paper)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pars.oversight import stats


def _binom_sf_by_sum(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


@pytest.mark.parametrize(
    ("k", "n", "p", "expected"),
    [
        # R: binom.test(7, 10, 0.3, alternative = "greater")$p.value
        (7, 10, 0.3, 0.0105920784),
        # SciPy: binomtest(682, 925, 0.75, alternative="greater").pvalue (Mendel's peas)
        (682, 925, 0.75, 0.8240891223524226),
        (0, 10, 0.3, 1.0),
        (11, 10, 0.3, 0.0),
    ],
)
def test_binomial_tail_matches_published_values(k: int, n: int, p: float, expected: float) -> None:
    assert stats.binomial_test(k, n, p) == pytest.approx(expected, rel=1e-6, abs=1e-12)


@given(st.integers(0, 60), st.integers(1, 60), st.floats(0.001, 0.999))
def test_binomial_tail_equals_the_exact_sum(k: int, n: int, p: float) -> None:
    assert stats.binom_sf(k, n, p) == pytest.approx(_binom_sf_by_sum(k, n, p), rel=1e-9, abs=1e-15)


def test_fisher_exact_on_the_lady_tasting_tea() -> None:
    # Fisher (1935): 3 of 4 cups right; one-sided p = 17/70.
    assert stats.fisher_greater(3, 1, 1, 3) == pytest.approx(17 / 70, rel=1e-12)
    # SciPy: fisher_exact([[10, 2], [3, 15]], alternative="greater").pvalue
    assert stats.fisher_greater(10, 2, 3, 15) == pytest.approx(0.000465180943362905, rel=1e-9)
    assert stats.fisher_greater(0, 5, 5, 0) == pytest.approx(1.0)


def test_clopper_pearson_matches_r() -> None:
    # R: binom.test(7, 10)$conf.int
    lo, hi = stats.clopper_pearson(7, 10)
    assert (lo, hi) == pytest.approx((0.3475471, 0.9332605), abs=1e-7)
    assert stats.clopper_pearson(0, 10) == pytest.approx((0.0, 0.3084971), abs=1e-7)
    assert stats.clopper_pearson(45, 200) == pytest.approx((0.1691025, 0.2892396), abs=1e-7)


def test_share_ratio_divides_the_interval_by_the_baseline() -> None:
    r = stats.share_ratio(7, 10, 0.35)
    assert r.ratio == pytest.approx(2.0)
    assert (r.low, r.high) == pytest.approx((0.3475471 / 0.35, 0.9332605 / 0.35), abs=1e-6)


def test_benjamini_hochberg_on_the_1995_example() -> None:
    # Benjamini & Hochberg (1995), section 4: 15 p-values, four rejected at q = 0.05.
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
         0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000]  # fmt: skip
    q = stats.benjamini_hochberg(p)
    assert sum(x <= 0.05 for x in q) == 4
    # R: p.adjust(p, "BH")
    assert q[:5] == pytest.approx([0.0015, 0.003, 0.0095, 0.035625, 0.0603])
    assert stats.benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert stats.benjamini_hochberg([]) == []


def test_robust_z_ignores_the_outlier_it_measures() -> None:
    values = [10, 12, 11, 9, 10, 11, 500]
    z = stats.robust_z(500, values)
    assert z is not None and z > 100
    assert stats.robust_z(10, values) == pytest.approx(-0.6745, abs=1e-3)
    assert stats.robust_z(3, [3, 3, 3]) is None


def test_power_gives_the_smallest_detectable_ratio() -> None:
    # n = 100, p0 = 0.2, alpha 0.05: 28 or more is significant; P(X >= 28 | p1) = 0.8 at p1 ~ 0.314.
    assert stats.critical_count(100, 0.2, 0.05) == 28
    r = stats.min_detectable_ratio(100, 0.2, 0.05, 0.8)
    assert r is not None
    assert stats.binom_sf(28, 100, r * 0.2) == pytest.approx(0.8, abs=1e-6)
    assert stats.binom_sf(27, 100, 0.2) > 0.05 >= stats.binom_sf(28, 100, 0.2)
    # More people, finer detection; too few, none.
    big = stats.min_detectable_ratio(10_000, 0.2)
    assert big is not None and big < r
    assert stats.min_detectable_ratio(1, 0.5, 0.01) is None


def _poisson_binomial_sf(k: int, ps: list[float]) -> float:
    """P(S >= k) for a sum of independent Bernoulli(p_i), by the exact convolution."""
    dist = [1.0]
    for p in ps:
        nxt = [0.0] * (len(dist) + 1)
        for j, mass in enumerate(dist):
            nxt[j] += mass * (1 - p)
            nxt[j + 1] += mass * p
        dist = nxt
    return sum(dist[k:])


@given(st.lists(st.floats(0.01, 0.99), min_size=5, max_size=60), st.integers(1, 60))
def test_the_per_query_tail_is_bounded_by_the_binomial_of_the_same_mean(ps: list[float], extra: int) -> None:
    # Hoeffding (1956): from the mean plus one, the Poisson-binomial tail is at most the binomial's
    # with the same mean; the per-query view's p-value relies on it.
    n, mean = len(ps), sum(ps)
    k = min(n, math.ceil(mean + 1) + extra % max(1, n - math.ceil(mean + 1) + 1))
    if k < mean + 1:
        return
    exact = _poisson_binomial_sf(k, ps)
    assert exact <= stats.binomial_test(k, n, mean / n) * (1 + 1e-9) + 1e-12
