"""Metrics and the baseline gate for samples run K times (``--llmeval-repeats``), checked
against exact enumeration and against simulations with known ground truth.

Simulated samples have mixed difficulty (pass probabilities mostly near 0 or 1, some in
between), so a sample's tries disagree as a sampled model's do. Run with ``-s`` to see the
figures (they are also in the assertion messages).
"""

from __future__ import annotations

import itertools
import math

import pytest

from pytest_llmeval.gate import aggregate
from pytest_llmeval.gate.baseline import REGRESSION, compare
from pytest_llmeval.result import SampleResult

np = pytest.importorskip("numpy")

ALPHA = 0.05


@pytest.mark.parametrize(("n", "c"), [(1, 0), (1, 1), (3, 1), (5, 2), (5, 5), (6, 0), (7, 4)])
def test_pass_at_k_and_pass_hat_k_are_the_exact_chances_over_subsets(n: int, c: int) -> None:
    tries = [True] * c + [False] * (n - c)
    for k in range(1, n + 1):
        subsets = list(itertools.combinations(tries, k))
        at = sum(any(s) for s in subsets) / len(subsets)
        hat = sum(all(s) for s in subsets) / len(subsets)
        assert aggregate.pass_at_k(n, c, k) == pytest.approx(at)
        assert aggregate.pass_hat_k(n, c, k) == pytest.approx(hat)


def _tries(task: str, sample: str, passed: list[bool]) -> list[SampleResult]:
    return [
        SampleResult(f"e.yaml::{sample}", task, sample, passed=p, repeat=r)
        for r, p in enumerate(passed)
    ]


def test_repeated_rows_are_summarized_per_sample() -> None:
    rows = (
        _tries("qa", "a", [True, True, True])
        + _tries("qa", "b", [True, False, False])
        + _tries("qa", "c", [False, False, False])
    )
    m = aggregate.summarize(rows)["qa"][""]
    assert m["accuracy"]["value"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert m["accuracy"]["n"] == 3  # samples, not tries
    assert m["pass@2"]["value"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert m["pass^2"]["value"] == pytest.approx((1 + 0 + 0) / 3)
    assert m["pass@3"]["value"] == pytest.approx(2 / 3) and m["pass^3"]["value"] == 1 / 3
    # two tries of b disagree in 2 of its 3 pairs; a and c never
    assert m["flip_rate"]["value"] == pytest.approx((0 + 2 / 3 + 0) / 3)
    assert m["error_rate"]["n"] == 9  # errors are counted per try
    single = aggregate.summarize(_tries("qa", "a", [True]) + _tries("qa", "b", [False]))
    assert "pass@2" not in single["qa"][""] and "flip_rate" not in single["qa"][""]


def test_an_errored_try_counts_as_an_error_not_as_a_miss() -> None:
    failed = SampleResult("e.yaml::a", "qa", "a", error="HTTP 500", error_kind="model", repeat=2)
    rows = [*_tries("qa", "a", [True, True]), failed]
    m = aggregate.summarize(rows)["qa"][""]
    assert m["accuracy"]["value"] == 1.0 and m["error_rate"]["value"] == pytest.approx(1 / 3)


def _difficulty(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-sample pass probabilities: 45% easy (0.97), 25% hard (0.05), 30% in between."""
    kind = rng.random(n)
    mid = rng.uniform(0.2, 0.8, n)
    return np.where(kind < 0.45, 0.97, np.where(kind < 0.70, 0.05, mid))


POPULATION_MEAN = 0.45 * 0.97 + 0.25 * 0.05 + 0.30 * 0.5


def test_the_interval_treats_samples_not_tries_as_the_unit() -> None:
    """Over new samples each time, the cluster-bootstrap interval covers the population's
    accuracy about 95% of the time; a Wilson interval over the N*K tries, which takes a
    sample's tries for independent evidence, is far too narrow."""
    rng = np.random.default_rng(11)
    sims, n, k = 300, 100, 5
    cluster = wilson = 0
    for _ in range(sims):
        p = _difficulty(rng, n)
        passes = rng.random((n, k)) < p[:, None]
        rows = [
            SampleResult(f"e::s{i}", "qa", f"s{i}", passed=bool(passes[i, r]), repeat=r)
            for i in range(n)
            for r in range(k)
        ]
        acc = aggregate.summarize(rows)["qa"][""]["accuracy"]
        assert acc["method"] == aggregate.CLUSTER
        cluster += acc["lo"] <= POPULATION_MEAN <= acc["hi"]
        lo, hi = aggregate.stats.wilson_interval(int(passes.sum()), n * k)
        wilson += lo <= POPULATION_MEAN <= hi
    figures = {"cluster bootstrap": cluster / sims, "wilson over tries": wilson / sims}
    print("\n95% interval coverage with K=5:", figures)
    assert 0.92 <= figures["cluster bootstrap"] <= 0.98, figures
    assert figures["wilson over tries"] <= 0.85, figures


def _repeated_runs(
    rng: np.random.Generator, n: int, k: int, drop: float
) -> tuple[list[SampleResult], list[SampleResult]]:
    p = _difficulty(rng, n)
    q = np.clip(p - drop, 0.0, 1.0) if drop else p

    def run(prob: np.ndarray) -> list[SampleResult]:
        passes = rng.random((n, k)) < prob[:, None]
        return [
            SampleResult(f"e::s{i}", "qa", f"s{i}", passed=bool(passes[i, r]), repeat=r)
            for i in range(n)
            for r in range(k)
        ]

    return run(p), run(q)


def test_the_repeated_gate_against_simulation() -> None:
    """The gate pairs each sample's pass rate over its tries (a paired bootstrap over
    samples): the same model twice (A/A) fails no more than alpha + 1 point of the time,
    with the default 2-point margin and with none; a true 5-point drop is caught."""
    rng = np.random.default_rng(42)
    n, k = 200, 5
    figures = {}
    runs = (("A/A false alarm", 0.0, 600), ("A/B detection (-5 points)", 0.05, 150))
    for name, drop, sims in runs:
        fired = {"accuracy:-0.02": 0, "accuracy:0": 0}
        for i in range(sims):
            base, cand = _repeated_runs(rng, n, k, drop)
            for margin in fired:
                result = compare(base, cand, [margin], resamples=1000, seed=i)
                (acc,) = [m for m in result.tasks[0].metrics if m.metric == "accuracy"]
                assert acc.method == "paired-bootstrap" and acc.n == n
                fired[margin] += acc.verdict == REGRESSION
        for margin, count in fired.items():
            figures[f"{name} ({margin})"] = count / sims
    print(f"\nrepeated gate (n={n}, K={k}): {figures}")
    for margin in ("accuracy:-0.02", "accuracy:0"):
        assert figures[f"A/A false alarm ({margin})"] <= ALPHA + 0.01, figures
        assert figures[f"A/B detection (-5 points) ({margin})"] >= 0.8, figures


def test_a_flip_is_a_change_of_the_majority_verdict() -> None:
    base = _tries("qa", "a", [True, True, False]) + _tries("qa", "b", [False, False, True])
    cand = _tries("qa", "a", [True, False, False]) + _tries("qa", "b", [False, True, False])
    task = compare(base, cand).tasks[0]
    assert task.pass_to_fail == ("a",) and task.fail_to_pass == ()
    assert math.isclose(task.metrics[0].baseline, 0.5)
