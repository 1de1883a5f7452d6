"""Exact tests and effect sizes for the oversight detectors, on plain numbers.

Why these: a city solicitor must be able to say "if this analyst had searched the
same kind of people as the records in scope, a skew this large would happen less
than once in N": that is an exact one-sided binomial tail against the scope's
share (a census of the records, not a sample, so it is treated as known). Fisher's
exact test compares two counted groups (one user against the rest of the agency).
Benjamini–Hochberg keeps the expected share of wrongly flagged users at ``alpha``
however many users are tested. The effect size is the ratio of the user's share to
the scope's share, with an exact Clopper–Pearson interval divided by the baseline.

Everything rests on the regularized incomplete beta function (continued fraction,
Lentz's method), so tails stay exact and fast for any n.

Rule: pure and deterministic: no I/O, no randomness, no numpy/scipy; tests pin
results against published values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_EPS = 1e-15
_TINY = 1e-300


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta (Numerical Recipes 6.4, modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): the one-sided ("greater") exact binomial p-value."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return min(1.0, max(0.0, betainc(k, n - k + 1, p)))


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    return 1.0 - binom_sf(k + 1, n, p) if k < n else 1.0


def binomial_test(k: int, n: int, p0: float) -> float:
    """Exact one-sided binomial test: p-value of seeing k or more of n when the share is p0."""
    if n <= 0:
        return 1.0
    return binom_sf(k, n, p0)


def _log_hypergeom(x: int, row1: int, col1: int, total: int) -> float:
    def lc(n: int, k: int) -> float:
        return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)

    return lc(col1, x) + lc(total - col1, row1 - x) - lc(total, row1)


def fisher_greater(a: int, b: int, c: int, d: int) -> float:
    """Fisher's exact test, one-sided: is a/(a+b) greater than c/(c+d)?

    Table ``[[a, b], [c, d]]``: rows are the groups (user, rest), columns the
    outcome (yes, no). Returns P(A >= a) under the hypergeometric null.
    """
    row1, col1, total = a + b, a + c, a + b + c + d
    if total == 0 or row1 == 0 or col1 == 0:
        return 1.0
    hi = min(row1, col1)
    terms = [_log_hypergeom(x, row1, col1, total) for x in range(a, hi + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def _bisect(f: Callable[[float], float], lo: float, hi: float, target: float, increasing: bool) -> float:
    """The x in [lo, hi] where a monotone f crosses ``target``."""
    for _ in range(200):
        mid = (lo + hi) / 2.0
        value = f(mid)
        if (value < target) == increasing:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    return (lo + hi) / 2.0


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) two-sided interval for a proportion k/n."""
    if n <= 0:
        return (0.0, 1.0)
    tail = (1.0 - confidence) / 2.0
    lower = 0.0 if k == 0 else _bisect(lambda p: binom_sf(k, n, p), 0.0, 1.0, tail, True)
    upper = 1.0 if k == n else _bisect(lambda p: binom_cdf(k, n, p), 0.0, 1.0, tail, False)
    return (lower, upper)


@dataclass(frozen=True, slots=True)
class ShareRatio:
    """The user's share over the baseline share, with its exact interval."""

    ratio: float
    low: float
    high: float


def share_ratio(k: int, n: int, p0: float, confidence: float = 0.95) -> ShareRatio:
    """(k/n) / p0 with the Clopper–Pearson interval of k/n divided by p0.

    The baseline p0 is a census of the records in scope, so only k/n is uncertain.
    """
    if n <= 0 or p0 <= 0.0:
        return ShareRatio(math.nan, math.nan, math.nan)
    lo, hi = clopper_pearson(k, n, confidence)
    return ShareRatio((k / n) / p0, lo / p0, hi / p0)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """BH-adjusted q-values, in the input order (as R's ``p.adjust(p, "BH")``)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        q[i] = min(1.0, running)
    return q


def median(values: Sequence[float]) -> float:
    s = sorted(values)
    n = len(s)
    if n == 0:
        return math.nan
    mid = n // 2
    return float(s[mid]) if n % 2 else (s[mid - 1] + s[mid]) / 2.0


def robust_z(x: float, values: Sequence[float]) -> float | None:
    """(x − median) / (1.4826 · MAD) over ``values``; None when the spread is zero.

    With a zero MAD (most users alike) the mean absolute deviation times 1.2533
    stands in, as in Iglewicz and Hoaglin; None if that is zero too.
    """
    if not values:
        return None
    med = median(values)
    mad = median([abs(v - med) for v in values])
    scale = 1.4826 * mad
    if scale == 0.0:
        scale = 1.2533 * sum(abs(v - med) for v in values) / len(values)
    if scale == 0.0:
        return None
    return (x - med) / scale


def critical_count(n: int, p0: float, alpha: float) -> int | None:
    """The smallest k with P(X >= k | n, p0) <= alpha, or None if even n is not enough."""
    if n <= 0 or p0 >= 1.0:
        return None
    lo, hi = 0, n
    if binom_sf(n, n, p0) > alpha:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if binom_sf(mid, n, p0) <= alpha:
            hi = mid
        else:
            lo = mid + 1
    return lo


def min_detectable_ratio(n: int, p0: float, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """The smallest share ratio p1/p0 an exact one-sided binomial test at ``alpha``
    detects with probability ``power`` from ``n`` people; None if none can be."""
    if p0 <= 0.0:
        return None
    k = critical_count(n, p0, alpha)
    if k is None:
        return None
    if binom_sf(k, n, 1.0) < power:
        return None
    p1 = _bisect(lambda p: binom_sf(k, n, p), p0, 1.0, power, True)
    return p1 / p0
