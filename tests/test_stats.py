from __future__ import annotations

import math

import pytest

from pytest_llmeval.stats import (
    bootstrap_mean_interval,
    mean_interval,
    percentile,
    wilson_interval,
)

# 95% Wilson score intervals. The Newcombe (1998, Stat. Med. 17:857, Table I, method 3) rows
# are published values; the others are the textbook formula worked by hand.
WILSON_CASES = [
    (0, 10, 0.0, 0.2775),
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (81, 100, 0.7222, 0.8749),
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize(("k", "n", "low", "high"), WILSON_CASES)
def test_wilson_known_values(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-3)
    assert hi == pytest.approx(high, abs=1e-3)


def test_wilson_edges_and_confidence() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 5)[0] == 0.0
    assert wilson_interval(5, 5)[1] == 1.0
    lo95, hi95 = wilson_interval(30, 60)
    lo99, hi99 = wilson_interval(30, 60, confidence=0.99)
    assert lo99 < lo95 < 0.5 < hi95 < hi99
    for bad in [(-1, 5), (6, 5), (1, -1)]:
        with pytest.raises(ValueError):
            wilson_interval(*bad)
    with pytest.raises(ValueError):
        wilson_interval(1, 2, confidence=1.0)


def test_wilson_coverage_by_simulation() -> None:
    np = pytest.importorskip("numpy")
    p, n, sims = 0.9, 120, 2000
    successes = np.random.default_rng(12345).binomial(n, p, size=sims)
    covered = 0
    for k in successes.tolist():
        lo, hi = wilson_interval(k, n)
        covered += lo <= p <= hi
    coverage = covered / sims
    assert 0.93 <= coverage <= 0.97, coverage


def test_bootstrap_coverage_by_simulation() -> None:
    np = pytest.importorskip("numpy")
    a, b, n, sims = 2.0, 5.0, 200, 400
    true_mean = a / (a + b)
    data = np.random.default_rng(2024).beta(a, b, size=(sims, n))
    covered = 0
    for i in range(sims):
        lo, hi = bootstrap_mean_interval(data[i].tolist(), seed=i)
        covered += lo <= true_mean <= hi
    coverage = covered / sims
    assert 0.91 <= coverage <= 0.98, coverage


def test_bootstrap_edges_and_determinism() -> None:
    pytest.importorskip("numpy")
    lo, hi = bootstrap_mean_interval([])
    assert math.isnan(lo) and math.isnan(hi)
    assert bootstrap_mean_interval([0.3]) == (0.3, 0.3)
    assert bootstrap_mean_interval([0.5] * 10) == (0.5, 0.5)
    values = [0.1, 0.4, 0.35, 0.8, 0.9, 0.2, 0.55, 0.6]
    first = bootstrap_mean_interval(values, seed=7)
    assert first == bootstrap_mean_interval(values, seed=7)
    assert first[0] < sum(values) / len(values) < first[1]
    narrow = bootstrap_mean_interval(values, confidence=0.5, seed=7)
    assert first[0] < narrow[0] < narrow[1] < first[1]
    with pytest.raises(ValueError):
        bootstrap_mean_interval(values, resamples=0)


def test_bootstrap_large_n_chunked() -> None:
    np = pytest.importorskip("numpy")
    values = np.random.default_rng(3).random(50_000)
    lo, hi = bootstrap_mean_interval(values.tolist(), resamples=200)
    # standard error of a U(0,1) mean at n=50k is ~0.0013
    assert lo < float(values.mean()) < hi
    assert hi - lo < 0.01


@pytest.mark.parametrize(
    ("values", "method"),
    [
        ([1, 0, 1, 1], "wilson"),
        ([1.0, 0.0], "wilson"),
        ([True, False, True], "wilson"),
        ([0.5, 1.0, 0.0], "bootstrap"),
    ],
)
def test_mean_interval_picks_method(values: list[float], method: str) -> None:
    pytest.importorskip("numpy")
    lo, hi, got = mean_interval(values)
    assert got == method
    assert 0.0 <= lo <= hi <= 1.0


def test_mean_interval_matches_wilson_and_empty() -> None:
    assert mean_interval([1, 1, 0, 1]) == (*wilson_interval(3, 4), "wilson")
    assert mean_interval([]) == (0.0, 1.0, "wilson")


@pytest.mark.parametrize("q", [0, 5, 25, 50, 90, 95, 99, 100, 33.3])
def test_percentile_matches_numpy(q: float) -> None:
    np = pytest.importorskip("numpy")
    values = np.random.default_rng(5).lognormal(size=37).tolist()
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_edges() -> None:
    assert math.isnan(percentile([], 50))
    assert percentile([4.0], 95) == 4.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    with pytest.raises(ValueError):
        percentile([1.0], 101)
