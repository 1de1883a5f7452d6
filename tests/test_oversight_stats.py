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


# -- edges and boundaries (each one a mutant of stats.py that the tests above let live) ----


def test_incomplete_beta_at_and_beyond_its_ends() -> None:
    for a, b in [(1.0, 1.0), (2.0, 3.0), (7.0, 4.0)]:
        assert stats.betainc(a, b, 0.0) == 0.0
        assert stats.betainc(a, b, -0.5) == 0.0
        assert stats.betainc(a, b, 1.0) == 1.0
        assert stats.betainc(a, b, 1.5) == 1.0
    # I_x(1, 1) = x and I_x(2, 1) = x^2: closed forms.
    assert stats.betainc(1.0, 1.0, 0.3) == pytest.approx(0.3, rel=1e-12)
    assert stats.betainc(2.0, 1.0, 0.3) == pytest.approx(0.09, rel=1e-12)


def test_a_tiny_tail_keeps_its_precision() -> None:
    # P(X >= 1) = 1 - (1 - p)^n, written with expm1/log1p so nothing cancels: ~1e-9 here.
    # Taking the complement 1 - I_{1-x}(b, a) for it would leave no correct digit.
    for n, p in [(1000, 1e-12), (10, 1e-15), (200_000, 1e-9)]:
        exact = -math.expm1(n * math.log1p(-p))
        assert stats.binom_sf(1, n, p) == pytest.approx(exact, rel=1e-9)


def test_binomial_tails_at_certain_and_impossible_shares() -> None:
    assert stats.binom_sf(3, 10, 0.0) == 0.0
    assert stats.binom_sf(3, 10, 1.0) == 1.0
    assert stats.binom_sf(10, 10, 1.0) == 1.0
    assert stats.binom_cdf(10, 10, 0.3) == 1.0
    assert stats.binom_cdf(12, 10, 0.3) == 1.0
    assert stats.binom_cdf(2, 10, 0.3) == pytest.approx(1 - _binom_sf_by_sum(3, 10, 0.3), rel=1e-12)


def test_binomial_test_of_nobody_is_never_significant() -> None:
    assert stats.binomial_test(0, 0, 0.5) == 1.0
    assert stats.binomial_test(1, 0, 0.3) == 1.0
    assert stats.binomial_test(1, 1, 0.3) == pytest.approx(0.3, rel=1e-12)
    assert stats.binomial_test(0, 1, 0.3) == 1.0


@pytest.mark.parametrize(
    ("k", "n", "confidence", "low", "high"),
    [
        # SciPy: binomtest(k, n).proportion_ci(confidence, "exact"); at k = 0 and k = n
        # the closed forms 1 - (tail)^(1/n) and (tail)^(1/n).
        (0, 10, 0.95, 0.0, 1 - 0.025**0.1),
        (10, 10, 0.95, 0.025**0.1, 1.0),
        (1, 10, 0.95, 0.0025285785444625728, 0.44501611702819543),
        (1, 1, 0.95, 0.025, 1.0),
        (0, 1, 0.95, 0.0, 0.975),
        (7, 10, 0.90, 0.39337578389442357, 0.9127355660858497),
        (3, 40, 0.99, 0.008627788841649442, 0.24837227476949533),
    ],
)
def test_clopper_pearson_against_scipy_and_closed_forms(
    k: int, n: int, confidence: float, low: float, high: float
) -> None:
    lo, hi = stats.clopper_pearson(k, n, confidence)
    assert (lo, hi) == pytest.approx((low, high), abs=1e-10)
    # The ends are exact: no share below 0 or above 1 is ever in the interval.
    assert (lo == 0.0) == (k == 0)
    assert (hi == 1.0) == (k == n)


def test_clopper_pearson_without_people_is_the_whole_range() -> None:
    assert stats.clopper_pearson(0, 0) == (0.0, 1.0)
    assert stats.clopper_pearson(3, 0) == (0.0, 1.0)
    assert stats.clopper_pearson(0, -1) == (0.0, 1.0)


def test_share_ratio_edges_and_confidence() -> None:
    for r in (stats.share_ratio(0, 0, 0.5), stats.share_ratio(3, 10, 0.0), stats.share_ratio(3, 10, -0.1)):
        assert math.isnan(r.ratio) and math.isnan(r.low) and math.isnan(r.high)
    one = stats.share_ratio(1, 1, 0.5)
    assert (one.ratio, one.low, one.high) == pytest.approx((2.0, 0.05, 2.0), abs=1e-10)
    r90 = stats.share_ratio(7, 10, 0.35, confidence=0.90)
    low, high = 0.39337578389442357, 0.9127355660858497  # SciPy, 90%: as above
    assert (r90.low, r90.high) == pytest.approx((low / 0.35, high / 0.35), abs=1e-9)


def test_fisher_exact_small_margins_and_bounds() -> None:
    # One person in the user's row (or one "yes" in all): P = col1 / total (or row1 / total).
    # SciPy: fisher_exact([[1, 0], [3, 5]], "greater") = 4/9; ([[1, 4], [0, 5]]) = 1/2.
    assert stats.fisher_greater(1, 0, 3, 5) == pytest.approx(4 / 9, rel=1e-12)
    assert stats.fisher_greater(1, 4, 0, 5) == pytest.approx(0.5, rel=1e-12)
    assert stats.fisher_greater(0, 0, 3, 4) == 1.0
    assert stats.fisher_greater(0, 0, 0, 0) == 1.0
    assert stats.fisher_greater(2, 0, 0, 0) == 1.0
    # P(A >= 0) sums every table to 1: rounding may overshoot it, the p-value never does.
    assert stats.fisher_greater(0, 6, 6, 0) == 1.0
    for a, b, c, d in [(0, 6, 6, 0), (0, 7, 3, 2), (0, 1, 5, 5)]:
        assert stats.fisher_greater(a, b, c, d) <= 1.0


def test_benjamini_hochberg_caps_at_one() -> None:
    assert stats.benjamini_hochberg([0.9, 0.8]) == pytest.approx([0.9, 0.9])
    assert stats.benjamini_hochberg([1.0, 0.6]) == [1.0, 1.0]


def test_median_of_odd_even_one_and_none() -> None:
    assert stats.median([3, 1, 2]) == 2.0
    assert stats.median([10, 1, 4, 2]) == 3.0
    assert stats.median([1, 2, 4, 10, 20, 40]) == 7.0
    assert stats.median([5]) == 5.0
    assert math.isnan(stats.median([]))


def test_robust_z_falls_back_to_the_mean_deviation_when_the_mad_is_zero() -> None:
    values = [1, 1, 1, 1, 10]  # median 1, MAD 0, mean absolute deviation 9/5
    assert stats.robust_z(10, values) == pytest.approx(9 / (1.2533 * 9 / 5), rel=1e-12)
    assert stats.robust_z(1, values) == 0.0
    assert stats.robust_z(4, []) is None
    # A non-zero MAD is used as it is: median 2, MAD 2.
    assert stats.robust_z(3, [0, 2, 4]) == pytest.approx(1 / (1.4826 * 2), rel=1e-12)


@pytest.mark.parametrize(("n", "p0"), [(1, 0.5), (2, 0.5), (10, 0.3), (40, 0.05), (100, 0.2)])
def test_critical_count_is_the_first_k_whose_tail_is_at_most_alpha(n: int, p0: float) -> None:
    # With alpha exactly P(X >= k), k itself is the answer (the tail falls strictly with k).
    for k in range(1, n + 1):
        assert stats.critical_count(n, p0, stats.binom_sf(k, n, p0)) == k
    assert stats.critical_count(0, p0, 0.05) is None
    assert stats.critical_count(n, 1.0, 0.05) is None


def test_min_detectable_ratio_edges() -> None:
    assert stats.min_detectable_ratio(100, 0.0) is None
    assert stats.min_detectable_ratio(100, -0.2) is None
    assert stats.min_detectable_ratio(0, 0.2) is None
    # The defaults are the usual alpha 0.05 and power 0.8.
    assert stats.min_detectable_ratio(100, 0.2) == stats.min_detectable_ratio(100, 0.2, 0.05, 0.8)
    # Certain detection (power 1) needs everyone: p1 = 1, a ratio of 1 / p0.
    r = stats.min_detectable_ratio(10, 0.2, 0.05, 1.0)
    assert r == pytest.approx(5.0, rel=1e-3)
