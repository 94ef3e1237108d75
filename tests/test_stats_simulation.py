"""The baseline gate's statistics against exact references and simulations with known truth.

Simulated eval items have mixed difficulty: per-item pass probabilities mostly near 0 or 1
with some in between, so that two runs of the *same* model flip ~10% of the items, as real
reruns of LLM evals do. Every simulation is vectorized with numpy and seeded. Run with ``-s``
to see the measured figures (they are also in the assertion messages).
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from pytest_llmeval import stats
from pytest_llmeval.gate.baseline import REGRESSION, UNDERPOWERED, compare, judge_binary, judge_mean
from pytest_llmeval.result import SampleResult

np = pytest.importorskip("numpy")

ALPHA, MARGIN, DROP = 0.05, 0.02, 0.05


# --- exact reference values ---------------------------------------------------------------


def _sf_exact(k: int, m: int) -> float:
    """P(X >= k), X ~ Binomial(m, 1/2), in exact integer arithmetic."""
    k = max(k, 0)
    term = math.comb(m, k) if k <= m else 0
    total = 0
    for j in range(k, m + 1):
        total += term
        term = term * (m - j) // (j + 1)
    return float(Fraction(total, 2**m))


@pytest.mark.parametrize(
    ("b", "c"),
    [(0, 0), (0, 5), (5, 0), (10, 2), (2, 10), (6, 6), (7, 6), (30, 17), (1, 0), (0, 1)],
)
def test_mcnemar_exact_matches_the_binomial_sum(b: int, c: int) -> None:
    assert stats.mcnemar_exact(b, c) == pytest.approx(_sf_exact(b, b + c), rel=1e-12)
    two = min(1.0, 2 * min(_sf_exact(b, b + c), _sf_exact(c, b + c)))
    assert stats.mcnemar_exact_two_sided(b, c) == pytest.approx(two, rel=1e-12)


def test_mcnemar_known_values_and_large_counts() -> None:
    assert stats.mcnemar_exact(10, 2) == pytest.approx(79 / 4096)  # (C(12,10)+12+1) / 2^12
    assert stats.mcnemar_exact(5, 0) == 1 / 32
    assert stats.mcnemar_exact(0, 0) == 1.0
    for k, m in [(1510, 3000), (1600, 3000), (1400, 3000), (1700, 3000), (2900, 3000)]:
        assert stats.binom_half_sf(k, m) == pytest.approx(_sf_exact(k, m), rel=1e-9, abs=1e-300)
    assert stats.mcnemar_exact(3000, 0) == 0.0 or stats.mcnemar_exact(3000, 0) < 1e-300
    with pytest.raises(ValueError):
        stats.mcnemar_exact(-1, 2)


def test_mcnemar_critical_values() -> None:
    for m in range(0, 60):
        k = stats.mcnemar_critical(m, ALPHA)
        assert k == m + 1 or stats.mcnemar_exact(k, m - k) <= ALPHA
        assert k == 0 or stats.mcnemar_exact(k - 1, m - k + 1) > ALPHA
    assert stats.mcnemar_critical(4, ALPHA) == 5  # 4 flips can never be significant
    assert stats.mcnemar_critical(5, ALPHA) == 5  # 5-0: p = 1/32


def test_paired_bootstrap_basics() -> None:
    diffs = [-1.0, -0.5, 0.0, -0.25, -0.75, 0.1, -0.3, -0.2]
    r = stats.paired_bootstrap(diffs, confidence=0.9, seed=3)
    assert r.mean == pytest.approx(sum(diffs) / 8)
    assert r.lo < r.mean < r.hi < 0
    assert r.p_less < 0.05 < 0.95 < r.p_greater
    assert r == stats.paired_bootstrap(diffs, confidence=0.9, seed=3)
    same = stats.paired_bootstrap_many([diffs, [-d for d in diffs]], confidence=0.9, seed=3)
    assert same[0] == r and same[1].p_greater == r.p_less
    zero = stats.paired_bootstrap([0.0] * 20)
    assert (zero.lo, zero.hi, zero.p_less, zero.p_greater) == (0.0, 0.0, 1.0, 1.0)
    assert math.isnan(stats.paired_bootstrap([]).mean)
    one = stats.paired_bootstrap([-0.5])
    assert (one.lo, one.hi, one.p_less, one.p_greater) == (-0.5, -0.5, 0.5, 1.0)
    assert stats.paired_bootstrap([-0.5] * 4).p_less == 1 / 16  # the sign test's floor
    with pytest.raises(ValueError):
        stats.paired_bootstrap_many([[1.0], [1.0, 2.0]])


def test_mde_exact_and_normal_agree_and_move_the_right_way() -> None:
    for n in (300, 1000, 2000):
        for r in (0.05, 0.1, 0.2):
            exact = stats.mde_paired_binary(n, r, ALPHA, 0.8, MARGIN, exact=True)
            normal = stats.mde_paired_binary(n, r, ALPHA, 0.8, MARGIN, exact=False)
            assert exact == pytest.approx(normal, abs=0.0025), (n, r)
    mde = [stats.mde_paired_binary(n, 0.1, ALPHA, 0.8, MARGIN) for n in (120, 500, 2000, 10_000)]
    assert mde == sorted(mde, reverse=True)
    assert mde[-1] > MARGIN  # never below the margin: the gate needs the drop above it
    assert stats.mde_paired_binary(0, 0.1) == math.inf
    assert stats.mde_paired_binary(4, 0.0) == math.inf  # 4 pairs can never be significant
    # mean: closed form
    assert stats.mde_paired_mean(400, 0.2, ALPHA, 0.8) == pytest.approx(
        (1.6449 + 0.8416) * 0.01, abs=1e-4
    )
    assert stats.mde_paired_mean(400, 0.2, ALPHA, 0.8, margin=0.05) == pytest.approx(
        0.05 + 0.008416, abs=1e-5
    )
    assert stats.mde_paired_mean(0, 0.2) == math.inf


# --- simulations ----------------------------------------------------------------------------


def _items(rng: np.random.Generator, sims: int, n: int) -> np.ndarray:
    """Per-item pass probabilities: 70% easy (Beta(40, 1), ~0.98), 15% hard (Beta(1, 40),
    ~0.02), 15% in between (Beta(2, 2)). Beta(a, 1) is U ** (1 / a): cheap to draw."""
    u = rng.random((sims, n))
    easy = rng.random((sims, n)) ** (1 / 40)
    mid = rng.beta(2, 2, (sims, n))
    return np.where(u < 0.70, easy, np.where(u < 0.85, 1.0 - easy, mid))


def _runs(seed: int, sims: int, n: int, drop: float) -> tuple[np.ndarray, np.ndarray]:
    """Pass/fail of a baseline run and a candidate run whose true accuracy is ``drop`` lower
    (each item's pass probability scaled down, so the mean falls by exactly ``drop``)."""
    rng = np.random.default_rng(seed)
    p = _items(rng, sims, n)
    q = p * (1.0 - drop / p.mean(axis=1, keepdims=True))
    return rng.random((sims, n)) < p, rng.random((sims, n)) < q


def _gate(base: np.ndarray, cand: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    b = (base & ~cand).sum(axis=1)
    c = (~base & cand).sum(axis=1)
    n = base.shape[1]
    verdicts = [
        judge_binary(int(x), int(y), n, MARGIN, ALPHA)[0] for x, y in zip(b, c, strict=True)
    ]
    return verdicts, b, c


def _share(verdicts: list[str], which: str) -> float:
    return sum(v == which for v in verdicts) / len(verdicts)


def test_binary_gate_against_simulation() -> None:
    sims = 4000
    figures = {}
    # (i) A/A at n=500: the same model twice.
    base, cand = _runs(1, sims, 500, 0.0)
    flip = float((base != cand).mean())
    verdicts, b, c = _gate(base, cand)
    figures["flip rate A/A"] = flip
    figures["A/A false alarm n=500"] = aa500 = _share(verdicts, REGRESSION)
    figures["A/A underpowered n=500"] = under500 = _share(verdicts, UNDERPOWERED)
    figures["naive gate A/A n=500"] = naive500 = float(((b - c) / 500 > MARGIN).mean())
    figures["naive gate (>=) A/A n=500"] = naive500_ge = float((b - c >= MARGIN * 500).mean())
    # (ii) a true 5-point drop at n=500.
    verdicts, b, c = _gate(*_runs(2, sims, 500, DROP))
    figures["A/B detection n=500"] = detect500 = _share(verdicts, REGRESSION)
    # (iii) n=120: A/A for the naive gate, A/B for the underpowered verdict.
    base, cand = _runs(3, sims, 120, 0.0)
    verdicts, b, c = _gate(base, cand)
    figures["A/A false alarm n=120"] = aa120 = _share(verdicts, REGRESSION)
    figures["naive gate A/A n=120"] = naive120 = float(((b - c) / 120 > MARGIN).mean())
    figures["naive gate (>=) A/A n=120"] = float((b - c >= MARGIN * 120).mean())
    verdicts, b, c = _gate(*_runs(4, sims, 120, DROP))
    figures["A/B detection n=120"] = _share(verdicts, REGRESSION)
    rest = [v for v in verdicts if v != REGRESSION]
    figures["A/B underpowered share of non-regressions n=120"] = under120 = _share(
        rest, UNDERPOWERED
    )
    print("\nbinary gate simulation:", {k: round(v, 4) for k, v in figures.items()})

    assert 0.085 <= flip <= 0.115, figures
    assert aa500 <= ALPHA + 0.01, figures
    assert aa120 <= ALPHA + 0.01, figures
    assert under500 <= 0.01, figures  # n=500, ~10% flips, 2-point margin: adequately powered
    assert detect500 >= 0.80, figures
    assert under120 >= 0.90, figures
    # The naive "fail on a drop of more than 2 points" gate fires on noise: measured 0.071
    # (0.06-0.07 over other seeds; 0.09 for ">= 2 points", b - c >= 10 rather than >= 11) at
    # n=500 and 0.236 at n=120. Bounds with room; well above the McNemar gate's rate.
    assert 0.05 <= naive500 <= 0.13 and naive500 > 1.5 * aa500, figures
    assert 0.07 <= naive500_ge <= 0.15, figures
    assert 0.17 <= naive120 <= 0.30 and naive120 > 4 * ALPHA, figures


@pytest.mark.parametrize(("n", "rate"), [(120, 0.1), (500, 0.1), (500, 0.2), (5000, 0.1)])
def test_mde_has_the_stated_power_in_simulation(n: int, rate: float) -> None:
    """Simulate the MDE's own model at the MDE: the gate must fire in ~80% of the runs."""
    mde = stats.mde_paired_binary(n, rate, ALPHA, 0.8, MARGIN)
    rng = np.random.default_rng(n)
    counts = rng.multinomial(n, [rate / 2 + mde, rate / 2, 1 - rate - mde], size=4000)
    fired = [judge_binary(int(b), int(c), n, MARGIN, ALPHA)[0] == REGRESSION for b, c, _ in counts]
    got = sum(fired) / len(fired)
    print(f"\nMDE n={n} r={rate}: {mde:.4f}, simulated power {got:.3f}")
    assert 0.77 <= got <= 0.85, (mde, got)


def test_paired_interval_coverage() -> None:
    base, cand = _runs(5, 2000, 500, DROP)
    b = (base & ~cand).sum(axis=1)
    c = (~base & cand).sum(axis=1)
    covered = 0
    for x, y in zip(b.tolist(), c.tolist(), strict=True):
        lo, hi = stats.paired_proportion_interval(x, y, 500, 0.90)
        covered += lo <= -DROP <= hi
    coverage = covered / len(b)
    print(f"\n90% paired interval coverage: {coverage:.3f}")
    assert 0.87 <= coverage <= 0.93, coverage


def _rows(passed: np.ndarray, f1: np.ndarray | None = None) -> list[SampleResult]:
    out: list[SampleResult] = []
    for i, ok in enumerate(passed.tolist()):
        scores = (
            {} if f1 is None else {"f1": {"value": float(f1[i]), "passed": None, "metric": "f1"}}
        )
        out.append(SampleResult(f"t::s{i:05d}", "t", f"s{i:05d}", passed=ok, scores=scores))
    return out


def test_compare_end_to_end_matches_the_vectorized_gate() -> None:
    base, cand = _runs(6, 60, 500, DROP)
    verdicts, _, _ = _gate(base, cand)
    for i in range(len(verdicts)):
        result = compare(_rows(base[i]), _rows(cand[i]))
        assert result.tasks[0].metrics[0].verdict == verdicts[i]
        assert result.failed == (verdicts[i] == REGRESSION)


def _f1_runs(seed: int, sims: int, n: int, drop: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-item F1: exact (1.0) with the item's probability, else a partial match ~ Beta(2, 3).
    The candidate loses ``drop`` of mean F1 through lower exact-match probabilities."""
    rng = np.random.default_rng(seed)
    p = _items(rng, sims, n)
    partial = 0.4  # mean of Beta(2, 3)
    q = p - drop / (1.0 - partial) * p / p.mean(axis=1, keepdims=True) if drop else p

    def run(prob: np.ndarray) -> np.ndarray:
        return np.where(rng.random(prob.shape) < prob, 1.0, rng.beta(2, 3, prob.shape))

    return run(p), run(q)


def test_continuous_gate_against_simulation() -> None:
    sims, n, resamples = 400, 300, 1000
    confidence = 1 - 2 * ALPHA
    figures = {}
    for name, drop, seed in (("A/A false alarm", 0.0, 7), ("A/B detection (-5 points)", DROP, 8)):
        base, cand = _f1_runs(seed, sims, n, drop)
        diffs = cand - base
        sds = diffs.std(axis=1, ddof=1)
        fired = 0
        for i in range(sims):
            boot = stats.paired_bootstrap(diffs[i], confidence, resamples, seed=i)
            fired += judge_mean(boot, float(sds[i]), MARGIN, ALPHA)[0] == REGRESSION
        figures[name] = fired / sims
        # compare() takes the same path from rows
        passed = np.zeros(n, dtype=bool)
        for i in range(3):
            result = compare(
                _rows(passed, base[i]), _rows(passed, cand[i]), ["f1:-0.02"], resamples=resamples
            )
            (f1,) = [m for m in result.tasks[0].metrics if m.metric == "f1"]
            boot = stats.paired_bootstrap(diffs[i], confidence, resamples)
            assert f1.method == "paired-bootstrap" and f1.p_value == boot.p_less
            assert f1.verdict == judge_mean(boot, float(sds[i]), MARGIN, ALPHA)[0]
    print(f"\ncontinuous gate simulation (n={n}, {sims} sims): {figures}")
    assert figures["A/A false alarm"] <= ALPHA + 0.02, figures
    assert figures["A/B detection (-5 points)"] >= 0.8, figures
