"""Per-task and per-slice metrics with 95% intervals, from stored or reported rows. Pure."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pytest_llmeval import stats
from pytest_llmeval.result import JUDGE, SampleResult

OVERALL = ""  # the slice key for "all samples of the task"
CLUSTER = "cluster-bootstrap"  # repeats: samples resampled, each with its tries


def metric_value(
    value: float | None,
    n: int,
    lo: float | None = None,
    hi: float | None = None,
    method: str | None = None,
) -> dict[str, Any]:
    return {"value": value, "lo": lo, "hi": hi, "n": n, "method": method}


def summarize(rows: Iterable[SampleResult]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{task: {slice: {metric: {value, lo, hi, n, method}}}}``; slice ``""`` is overall."""
    groups: dict[str, dict[str, list[SampleResult]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[row.task][OVERALL].append(row)
        for s in row.slices:
            groups[row.task][str(s)].append(row)
    return {
        task: {sl: group_metrics(rs) for sl, rs in sorted(slices.items())}
        for task, slices in sorted(groups.items())
    }


def group_metrics(rows: list[SampleResult]) -> dict[str, dict[str, Any]]:
    """Metrics of one group of results. Errored ones count only in ``error_rate`` (the
    model, the judge's call or a scorer failed) or ``invalid_judge_rate`` (the judge's
    verdict stayed invalid): an error is never a wrong answer."""
    n = len(rows)
    scored = [r for r in rows if r.evaluated]
    out: dict[str, dict[str, Any]] = {}
    errors = sum(1 for r in rows if r.error and r.error_kind != JUDGE)
    out["error_rate"] = rate(errors, n)
    judged = [r for r in rows if r.judged]
    if judged:
        invalid = sum(1 for r in judged if r.error_kind == JUDGE)
        out["invalid_judge_rate"] = rate(invalid, len(judged))

    tries = _by_sample(scored)
    if any(len(ts) > 1 for ts in tries.values()):
        out.update(repeated_metrics(tries))
    else:
        verdicts = [bool(r.passed) for r in scored if r.passed is not None]
        if verdicts:
            out["accuracy"] = rate(sum(verdicts), len(verdicts))
        per_metric: dict[str, list[float]] = defaultdict(list)
        for r in scored:
            for metric, value in _score_values(r):
                per_metric[metric].append(value)
        for metric, values in sorted(per_metric.items()):
            if metric not in out:
                out[metric] = mean_value(values)

    # A cached answer's latency is the model's original one, not the cache lookup's.
    out.update(_percentiles("latency", _latencies(scored, "model")))
    out.update(_percentiles("judge_latency", _latencies(judged, "judge")))
    for role, prefix in (("model", ""), ("judge", "judge_")):
        for name in ("prompt_tokens", "completion_tokens"):
            counts = [v for r in rows if (v := getattr(r.call(role), name)) is not None]
            if counts:
                out[f"{prefix}{name}_total"] = metric_value(float(sum(counts)), len(counts))
    # what this run paid, the model's calls and the judge's (a cached answer costs nothing)
    costs = [c for r in rows for c in (r.call("model").cost_usd, r.call("judge").cost_usd)
             if c is not None]  # fmt: skip
    if costs:
        out["cost_usd_total"] = metric_value(float(sum(costs)), n)
    return out


def mean_value(values: list[float], method: str | None = None) -> dict[str, Any]:
    lo, hi, how = stats.mean_interval(values)
    how = method if method and how == "bootstrap" else how
    return metric_value(sum(values) / len(values), len(values), lo, hi, how)


def _score_values(r: SampleResult) -> Iterator[tuple[str, float]]:
    for name, score in r.scores.items():
        value = score.get("value") if isinstance(score, Mapping) else score
        if value is not None:
            yield (score.get("metric", name) if isinstance(score, Mapping) else name), float(value)


def _by_sample(rows: list[SampleResult]) -> dict[str, list[SampleResult]]:
    out: dict[str, list[SampleResult]] = defaultdict(list)
    for r in rows:
        out[r.sample_id].append(r)
    return out


def repeated_metrics(tries: Mapping[str, list[SampleResult]]) -> dict[str, dict[str, Any]]:
    """Metrics of samples run K times, with the sample (not the try) as the unit: each
    sample's mean over its tries, and an interval from resampling samples (a cluster
    bootstrap: a sample's tries are not independent evidence). Besides accuracy and the
    scorers' metrics: ``pass@k`` (at least one of k tries passes) and ``pass^k`` (all k
    pass), with the unbiased estimators over each sample's n tries, for k = 2..K; and
    ``flip_rate``, the chance that two tries of a sample disagree."""
    out: dict[str, dict[str, Any]] = {}
    counts = [(len(v), sum(1 for r in v if r.passed)) for v in tries.values()
              if all(r.passed is not None for r in v)]  # fmt: skip
    if counts:
        out["accuracy"] = mean_value([c / n for n, c in counts], CLUSTER)
        most = max(n for n, _ in counts)
        for k in pass_ks(most):
            at = [pass_at_k(n, c, k) for n, c in counts if n >= k]
            power = [pass_hat_k(n, c, k) for n, c in counts if n >= k]
            out[f"pass@{k}"] = mean_value(at, CLUSTER)
            out[f"pass^{k}"] = mean_value(power, CLUSTER)
        pairs = [2 * c * (n - c) / (n * (n - 1)) for n, c in counts if n >= 2]
        if pairs:
            out["flip_rate"] = mean_value(pairs, CLUSTER)
    per_metric: dict[str, list[float]] = defaultdict(list)
    for rows in tries.values():
        sample: dict[str, list[float]] = defaultdict(list)
        for r in rows:
            for metric, value in _score_values(r):
                sample[metric].append(value)
        for metric, values in sample.items():
            per_metric[metric].append(sum(values) / len(values))
    for metric, values in sorted(per_metric.items()):
        if metric not in out:
            out[metric] = mean_value(values, CLUSTER)
    return out


def pass_ks(tries: int) -> list[int]:
    """The k of pass@k / pass^k reported for samples tried ``tries`` times."""
    if tries <= 10:
        return list(range(2, tries + 1))
    return sorted({2, 3, 5, 10, tries})


def pass_at_k(n: int, c: int, k: int) -> float:
    """The chance that at least one of k tries drawn from n (c of them passing) passes:
    the unbiased estimator ``1 - C(n-c, k) / C(n, k)`` (Chen et al., 2021)."""
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """The chance that all k tries drawn from n pass: ``C(c, k) / C(n, k)`` (tau-bench's
    pass^k)."""
    return math.comb(c, k) / math.comb(n, k)


def _latencies(rows: list[SampleResult], role: str) -> list[float]:
    return [float(v) for r in rows if (v := r.call(role).model_latency_ms) is not None]


def rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = stats.wilson_interval(k, n)
    return metric_value(k / n if n else None, n, lo, hi, "wilson")


def _percentiles(name: str, values: list[float]) -> dict[str, dict[str, Any]]:
    if not values:
        return {}
    return {
        f"{name}_p50_ms": metric_value(stats.percentile(values, 50), len(values)),
        f"{name}_p95_ms": metric_value(stats.percentile(values, 95), len(values)),
    }


def values(
    summary: Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]],
) -> dict[str, dict[str, float | None]]:
    """The overall point values per task, as the threshold gate reads them."""
    return {
        task: {m: v["value"] for m, v in slices.get(OVERALL, {}).items()}
        for task, slices in summary.items()
    }


def rows_for_storage(
    summary: Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]],
) -> list[dict[str, Any]]:
    return [
        {"task": task, "slice": sl, "metric": m, **v}
        for task, slices in summary.items()
        for sl, metrics in slices.items()
        for m, v in metrics.items()
    ]
