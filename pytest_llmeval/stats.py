"""Confidence intervals for eval metrics. Pure functions; numpy is imported only where needed.

Conventions: ``confidence`` is two-sided (0.95 -> 2.5% in each tail); resampling methods take
an explicit ``seed`` so that a run's reported intervals are reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Any

__all__ = [
    "PairedBootstrap",
    "binom_half_sf",
    "bootstrap_mean_interval",
    "exceeds_margin",
    "gate_power_binary",
    "mcnemar_critical",
    "mcnemar_exact",
    "mcnemar_exact_two_sided",
    "mde_paired_binary",
    "mde_paired_mean",
    "mean_interval",
    "paired_bootstrap",
    "paired_bootstrap_many",
    "paired_proportion_interval",
    "percentile",
    "wilson_interval",
]

# Resample index draws per chunk: small enough to stay in cache (measured ~2x faster than
# one big array at n=200) while bounding memory for large n.
_BOOTSTRAP_CHUNK = 65_536


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def _z(confidence: float) -> float:
    """The two-sided standard normal quantile: 1.959964... for 0.95."""
    _check_confidence(confidence)
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; ``(0.0, 1.0)`` when ``n == 0``."""
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    z = _z(confidence)
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2n = z * z / n
    denom = 1.0 + z2n
    center = (p + z2n / 2.0) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return low, high


def bootstrap_mean_interval(
    values: Sequence[float], confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval for the mean; ``(nan, nan)`` for no values."""
    _check_confidence(confidence)
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    if n == 1:
        v = float(values[0])
        return v, v

    import numpy as np

    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples, dtype=float)
    step = max(1, _BOOTSTRAP_CHUNK // n)
    for start in range(0, resamples, step):
        stop = min(resamples, start + step)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = data[idx].mean(axis=1)
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, str]:
    """An interval for a metric's mean and the method used.

    All-0/1 values are a proportion: Wilson (``"wilson"``; no values gives ``(0, 1)``).
    Anything else (F1s, similarities): percentile bootstrap (``"bootstrap"``).
    """
    if all(v == 0 or v == 1 for v in values):
        successes = sum(1 for v in values if v == 1)
        low, high = wilson_interval(successes, len(values), confidence)
        return low, high, "wilson"
    low, high = bootstrap_mean_interval(values, confidence)
    return low, high, "bootstrap"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation (numpy's default);
    nan for no values."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be in [0, 100], got {q!r}")
    if not values:
        return math.nan
    ordered = sorted(float(v) for v in values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    frac = pos - lo
    return ordered[lo] + (ordered[hi] - ordered[lo]) * frac


# --- Paired comparisons of two runs (the baseline regression gate) -------------------------
#
# Conventions: a paired difference is ``candidate - baseline``; for pass/fail pairs ``b``
# counts pass->fail (worse) and ``c`` fail->pass (better).


_LN2 = math.log(2.0)


def _binom_half_upper(k: int, m: int) -> float:
    """P(X >= k), X ~ Binomial(m, 1/2), for ``2k > m`` (the terms then only decrease).

    Log-space first term (``math.lgamma``), then the ratio recurrence in linear space, stopped
    once a term no longer moves the sum: O(sqrt(m)) terms, exact to float rounding.
    """
    log_first = math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1) - m * _LN2
    total = term = 1.0
    for j in range(k, m):
        term *= (m - j) / (j + 1)
        total += term
        if term < 1e-17 * total:
            break
    return min(1.0, math.exp(log_first + math.log(total)))


def binom_half_sf(k: int, m: int) -> float:
    """P(X >= k) for X ~ Binomial(m, 1/2), exact (log-space sums), fast for large ``m``."""
    if m < 0:
        raise ValueError(f"need m >= 0, got {m}")
    if k <= 0:
        return 1.0
    if k > m:
        return 0.0
    if 2 * k > m:
        return _binom_half_upper(k, m)
    # k at or below the mean: P(X >= k) = 1 - P(X <= k - 1) = 1 - P(X >= m - k + 1).
    return max(0.0, 1.0 - _binom_half_upper(m - k + 1, m))


def _check_pair_counts(b: int, c: int) -> None:
    if b < 0 or c < 0:
        raise ValueError(f"need discordant counts b, c >= 0, got b={b}, c={c}")


def mcnemar_exact(b: int, c: int) -> float:
    """Exact one-sided McNemar p-value that the candidate is worse.

    ``b``: pairs pass->fail (baseline passed, candidate failed); ``c``: fail->pass. Under H0
    (no change) each discordant pair is equally likely either way, so ``b ~ Binomial(b+c, 1/2)``
    and ``p = P(X >= b)``. No discordant pairs gives 1.0.
    """
    _check_pair_counts(b, c)
    return binom_half_sf(b, b + c)


def mcnemar_exact_two_sided(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: twice the smaller tail, capped at 1."""
    _check_pair_counts(b, c)
    if b == c:
        return 1.0
    return min(1.0, 2.0 * binom_half_sf(max(b, c), b + c))


@lru_cache(maxsize=65_536)
def mcnemar_critical(m: int, alpha: float) -> int:
    """The smallest ``b`` with ``mcnemar_exact(b, m - b) <= alpha`` (``m + 1`` when even
    ``b = m`` is not significant, e.g. ``m <= 4`` at alpha 0.05)."""
    if m <= 0:
        return m + 1
    z = NormalDist().inv_cdf(1.0 - alpha) if 0.0 < alpha < 1.0 else 0.0
    k = max(0, min(m + 1, math.ceil(m / 2.0 + z * math.sqrt(m) / 2.0)))
    while k <= m and binom_half_sf(k, m) > alpha:
        k += 1
    while k > 0 and binom_half_sf(k - 1, m) <= alpha:
        k -= 1
    return k


def paired_proportion_interval(
    b: int, c: int, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Interval for the change in pass rate ``(c - b) / n`` of ``n`` paired samples.

    Adjusted Wald of Agresti & Min (2005): add 0.5 to each cell of the 2x2 table, then Wald.
    Good coverage down to small ``n`` and never degenerate when ``b = c = 0``.
    """
    _check_pair_counts(b, c)
    if n < b + c:
        raise ValueError(f"need b + c <= n, got b={b}, c={c}, n={n}")
    z = _z(confidence)
    if n == 0:
        return -1.0, 1.0
    m = n + 2.0
    p12, p21 = (b + 0.5) / m, (c + 0.5) / m
    diff = p21 - p12
    half = z * math.sqrt(max(0.0, p12 + p21 - diff * diff) / m)
    return max(-1.0, diff - half), min(1.0, diff + half)


@dataclass(frozen=True)
class PairedBootstrap:
    """Percentile bootstrap of the mean paired difference.

    ``p_less``: one-sided p-value for H1 "the mean difference is < 0" (H0: >= 0), the share of
    resampled means >= 0 with the +1 correction, ``(1 + #{mean* >= 0}) / (resamples + 1)``;
    ``p_greater`` mirrors it. By percentile-interval inversion, ``p_less <= (1 - confidence)
    / 2`` is (up to ties and the +1) the same event as ``hi < 0``. Neither is ever below the
    sign test's ``2**-n`` (which only matters below 11 pairs).
    """

    mean: float
    lo: float
    hi: float
    p_less: float
    p_greater: float
    n: int
    resamples: int


def paired_bootstrap(
    diffs: Sequence[float], confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> PairedBootstrap:
    """Bootstrap the mean of paired differences (resampling pairs, not runs)."""
    return paired_bootstrap_many([diffs], confidence, resamples, seed)[0]


def paired_bootstrap_many(
    rows: Sequence[Sequence[float]],
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> list[PairedBootstrap]:
    """:func:`paired_bootstrap` of several metrics over the same pairs, drawing each resample's
    indices once for all of them. Every row must have the same length; each row's result
    equals ``paired_bootstrap(row, ...)`` (same seed, same draws)."""
    _check_confidence(confidence)
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if not rows:
        return []
    n = len(rows[0])
    if any(len(r) != n for r in rows):
        raise ValueError("paired_bootstrap_many: rows differ in length")
    if n == 0:
        return [PairedBootstrap(math.nan, math.nan, math.nan, 1.0, 1.0, 0, resamples)] * len(rows)

    import numpy as np

    data = np.asarray(rows, dtype=float)
    means = np.empty((len(rows), resamples), dtype=float)
    if n == 1:
        means[:] = data[:, :1]
    else:
        rng = np.random.default_rng(seed)
        step = max(1, _BOOTSTRAP_CHUNK // n)
        for start in range(0, resamples, step):
            stop = min(resamples, start + step)
            idx = rng.integers(0, n, size=(stop - start, n))
            for i in range(len(rows)):
                means[i, start:stop] = data[i][idx].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    lows, highs = np.quantile(means, [tail, 1.0 - tail], axis=1)
    # Resampled means of identical values can differ from 0 by float rounding only.
    eps = 1e-12 * max(1.0, float(np.abs(data).max()))
    at_least = (means >= -eps).sum(axis=1)
    at_most = (means <= eps).sum(axis=1)
    # A handful of pairs all pointing one way resample to a zero-width distribution; no test
    # of n pairs can be surer than the sign test's 2**-n, so neither is this one.
    floor = 0.5**n
    return [
        PairedBootstrap(
            mean=float(data[i].mean()),
            lo=float(lows[i]),
            hi=float(highs[i]),
            p_less=max(floor, (1.0 + float(at_least[i])) / (resamples + 1.0)),
            p_greater=max(floor, (1.0 + float(at_most[i])) / (resamples + 1.0)),
            n=n,
            resamples=resamples,
        )
        for i in range(len(rows))
    ]


# --- Power of the gate and minimum detectable effects ------------------------------------

# Exact power sums up to this many pairs (<50 ms per MDE); above it the normal
# approximation, within ~0.05 point of the exact sum there (see the tests).
EXACT_POWER_MAX_N = 2000


def exceeds_margin(worsening: float, margin: float) -> bool:
    """``worsening > margin``, with a hair of tolerance so that a drop of exactly the margin
    (``10/500`` against ``0.02``) never counts as exceeding it through float rounding."""
    return worsening > margin + 1e-9 * max(1.0, abs(margin))


def _check_power_args(n: int, alpha: float, power: float) -> None:
    if n < 0:
        raise ValueError(f"need n >= 0, got {n}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha!r}")
    if not alpha < power < 1.0:
        raise ValueError(f"power must be in (alpha, 1), got {power!r}")


def _margin_critical(m: int, n: int, margin: float) -> int:
    """The smallest ``b`` of ``m`` discordant pairs with ``(2b - m) / n`` exceeding ``margin``."""
    b = max(0, math.floor((m + n * margin) / 2.0))
    while b > 0 and exceeds_margin((2 * (b - 1) - m) / n, margin):
        b -= 1
    while not exceeds_margin((2 * b - m) / n, margin):
        b += 1
    return b


@lru_cache(maxsize=64)
def _log_factorials(n: int) -> tuple[float, ...]:
    return tuple(math.lgamma(i + 1.0) for i in range(n + 1))


def _power_binary_exact(n: int, rate: float, drop: float, alpha: float, margin: float) -> float:
    import numpy as np

    psi = min(1.0, rate + drop)  # discordant rate under the alternative
    if psi <= 0.0 or n == 0:
        return 0.0
    pi = min(1.0, (rate / 2.0 + drop) / psi)  # share of discordant pairs that are pass->fail
    lf = np.asarray(_log_factorials(n))
    if psi >= 1.0:
        ds = np.array([n])
        weights = np.ones(1)
    else:
        sd = math.sqrt(n * psi * (1.0 - psi))
        lo = max(0, math.floor(n * psi - 10.0 * sd - 2.0))
        hi = min(n, math.ceil(n * psi + 10.0 * sd + 2.0))
        ds = np.arange(lo, hi + 1)
        log_w = lf[n] - lf[ds] - lf[n - ds] + ds * math.log(psi) + (n - ds) * math.log1p(-psi)
        weights = np.exp(log_w)
    ks = np.array(
        [max(mcnemar_critical(int(m), alpha), _margin_critical(int(m), n, margin)) for m in ds]
    )
    if pi >= 1.0:
        tails = (ks <= ds).astype(float)
    else:
        d_lo, d_hi = int(ds[0]), int(ds[-1])
        sd_b = math.sqrt(d_hi * pi * (1.0 - pi))
        b_lo = max(0, int(ks.min()), math.floor(d_lo * pi - 10.0 * sd_b - 2.0))
        b_hi = min(d_hi, math.ceil(d_hi * pi + 10.0 * sd_b + 2.0))
        if b_lo > b_hi:
            return 0.0
        bs = np.arange(b_lo, b_hi + 1)[None, :]
        m2 = ds[:, None]
        valid = (bs <= m2) & (bs >= ks[:, None])
        rest = np.where(valid, m2 - bs, 0)
        log_pmf = lf[m2] - lf[np.where(valid, bs, 0)] - lf[rest]
        log_pmf = log_pmf + bs * math.log(pi) + rest * math.log1p(-pi)
        tails = np.where(valid, np.exp(np.where(valid, log_pmf, 0.0)), 0.0).sum(axis=1)
    return float(min(1.0, float((weights * tails).sum())))


def _power_binary_normal(n: int, rate: float, drop: float, alpha: float, margin: float) -> float:
    psi = min(1.0, rate + drop)
    if psi <= 0.0 or n == 0:
        return 0.0
    nd = NormalDist()
    # The gate needs X = b - c at or above the larger of the exact test's cut (about
    # z*sqrt(D) + 1) and the margin's (the first integer above n*margin); continuity-corrected.
    cut = max(nd.inv_cdf(1.0 - alpha) * math.sqrt(n * psi) + 1.0, math.floor(n * margin) + 1.0)
    var = n * max(psi - drop * drop, 1e-12)
    return nd.cdf((n * drop - cut + 0.5) / math.sqrt(var))


def gate_power_binary(
    n: int,
    discordant_rate: float,
    drop: float,
    alpha: float = 0.05,
    margin: float = 0.0,
    exact: bool | None = None,
) -> float:
    """Probability that the McNemar gate flags a true ``drop`` in pass rate over ``n`` pairs.

    Model: with no true change a share ``discordant_rate`` of the pairs flips, half each way
    (the A/A noise); a true drop ``d`` adds pass->fail flips, so each pair is pass->fail with
    probability ``r/2 + d`` and fail->pass with ``r/2``. The gate flags when the exact one-sided
    McNemar test is significant at ``alpha`` *and* the observed drop ``(b - c) / n`` exceeds
    ``margin``. ``exact`` (default: ``n <= EXACT_POWER_MAX_N``) sums the multinomial exactly:
    over the number of discordant pairs ``D ~ Binomial(n, r + d)``, then ``b | D ~ Binomial(D,
    (r/2 + d) / (r + d))`` above the gate's critical value for that ``D``. Otherwise a
    continuity-corrected normal approximation of ``b - c``.
    """
    if n < 0:
        raise ValueError(f"need n >= 0, got {n}")
    if not 0.0 <= discordant_rate <= 1.0 or drop < 0.0:
        raise ValueError(f"need 0 <= discordant_rate <= 1 and drop >= 0, got {discordant_rate}")
    use_exact = n <= EXACT_POWER_MAX_N if exact is None else exact
    fn = _power_binary_exact if use_exact else _power_binary_normal
    return fn(n, discordant_rate, drop, alpha, margin)


@lru_cache(maxsize=4096)
def mde_paired_binary(
    n: int,
    discordant_rate: float,
    alpha: float = 0.05,
    power: float = 0.8,
    margin: float = 0.0,
    exact: bool | None = None,
) -> float:
    """Minimum detectable effect of the McNemar gate: the smallest true drop in pass rate
    that :func:`gate_power_binary` flags with probability ``power``; ``inf`` if none can be.

    ``discordant_rate`` is the share of pairs that flip with no true change (two runs of the
    same model flip ~10% of items). Solved by bisection to 2e-4 (0.02 point) over drops up to
    ``1 - discordant_rate``; exact binomial sums up to ``EXACT_POWER_MAX_N`` pairs, the
    normal approximation above. With margin 0 and the normal approximation this is the
    textbook ``(z_alpha sqrt(psi) + z_power sqrt(psi - d^2)) / sqrt(n)`` with
    ``psi = r + d`` (Connor 1987). A ``margin`` raises it: the gate also needs the observed
    drop above the margin.
    """
    _check_power_args(n, alpha, power)
    if not 0.0 <= discordant_rate <= 1.0:
        raise ValueError(f"need 0 <= discordant_rate <= 1, got {discordant_rate!r}")

    def flags(drop: float) -> bool:
        return gate_power_binary(n, discordant_rate, drop, alpha, margin, exact) >= power

    top = 1.0 - discordant_rate
    if n == 0 or top <= 0.0 or not flags(top):
        return math.inf
    lo, hi = 0.0, top
    if exact is not False and n > 30:
        # The normal approximation lands within ~0.2 point: bracket around it first.
        guess = mde_paired_binary(n, discordant_rate, alpha, power, margin, exact=False)
        if math.isfinite(guess):
            if flags(min(top, guess + 0.005)):
                hi = min(top, guess + 0.005)
            if not flags(max(0.0, guess - 0.005)):
                lo = max(0.0, guess - 0.005)
    while hi - lo > 2e-4:
        mid = (lo + hi) / 2.0
        if flags(mid):
            hi = mid
        else:
            lo = mid
    return hi


def mde_paired_mean(
    n: int, sd_diff: float, alpha: float = 0.05, power: float = 0.8, margin: float = 0.0
) -> float:
    """Minimum detectable drop in a mean score over ``n`` pairs whose per-pair differences
    have standard deviation ``sd_diff`` (normal approximation; ``inf`` for no pairs).

    The gate flags when the one-sided test is significant, ``mean > z_alpha * se`` with ``se
    = sd_diff / sqrt(n)``, and the mean drop exceeds ``margin``; so it flags a true drop ``d``
    with probability ``Phi((d - max(z_alpha * se, margin)) / se)``, and the MDE is
    ``max(z_alpha * se, margin) + z_power * se``.
    """
    _check_power_args(n, alpha, power)
    if sd_diff < 0.0 or math.isnan(sd_diff):
        raise ValueError(f"need sd_diff >= 0, got {sd_diff!r}")
    if n == 0:
        return math.inf
    nd = NormalDist()
    se = sd_diff / math.sqrt(n)
    return max(nd.inv_cdf(1.0 - alpha) * se, margin) + nd.inv_cdf(power) * se


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None: stored
    metrics and scores may be missing, strings or NaN."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
