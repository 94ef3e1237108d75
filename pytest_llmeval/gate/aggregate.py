"""Per-task and per-slice metrics with 95% intervals, from stored or reported rows. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_llmeval import stats
from pytest_llmeval.result import JUDGE, SampleResult

OVERALL = ""  # the slice key for "all samples of the task"


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

    verdicts = [bool(r.passed) for r in scored if r.passed is not None]
    if verdicts:
        out["accuracy"] = rate(sum(verdicts), len(verdicts))

    per_metric: dict[str, list[float]] = defaultdict(list)
    for r in scored:
        for name, score in r.scores.items():
            value = score.get("value") if isinstance(score, Mapping) else score
            if value is None:
                continue
            metric = score.get("metric", name) if isinstance(score, Mapping) else name
            per_metric[metric].append(float(value))
    for metric, values in sorted(per_metric.items()):
        if metric in out:
            continue
        lo, hi, method = stats.mean_interval(values)
        out[metric] = metric_value(sum(values) / len(values), len(values), lo, hi, method)

    # A cached answer's latency is the model's original one, not the cache lookup's.
    out.update(_percentiles("latency", _latencies(scored, "model")))
    out.update(_percentiles("judge_latency", _latencies(judged, "judge")))
    for role, prefix in (("model", ""), ("judge", "judge_")):
        for name in ("prompt_tokens", "completion_tokens"):
            counts = [v for r in rows if (v := getattr(r.call(role), name)) is not None]
            if counts:
                out[f"{prefix}{name}_total"] = metric_value(float(sum(counts)), len(counts))
    return out


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
