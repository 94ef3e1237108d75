"""Per-task and per-slice metrics with 95% intervals, from stored or reported rows. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_llmeval import stats

OVERALL = ""  # the slice key for "all samples of the task"


def metric_value(
    value: float | None,
    n: int,
    lo: float | None = None,
    hi: float | None = None,
    method: str | None = None,
) -> dict[str, Any]:
    return {"value": value, "lo": lo, "hi": hi, "n": n, "method": method}


def summarize(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{task: {slice: {metric: {value, lo, hi, n, method}}}}``; slice ``""`` is overall."""
    groups: dict[str, dict[str, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        task = str(row["task"])
        groups[task][OVERALL].append(row)
        for s in row.get("slices") or ():
            groups[task][str(s)].append(row)
    return {
        task: {sl: group_metrics(rs) for sl, rs in sorted(slices.items())}
        for task, slices in sorted(groups.items())
    }


def group_metrics(rows: list[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Metrics of one group of rows. Errored rows count only in ``error_rate`` (the model
    failed) or ``invalid_judge_rate`` (the judge did): an error is never a wrong answer."""
    n = len(rows)
    scored = [r for r in rows if not r.get("error")]
    out: dict[str, dict[str, Any]] = {}
    errors = sum(1 for r in rows if r.get("error") and r.get("error_kind") != "judge")
    out["error_rate"] = rate(errors, n)
    judged = [r for r in rows if r.get("judged")]
    if judged:
        invalid = sum(1 for r in judged if r.get("error_kind") == "judge")
        out["invalid_judge_rate"] = rate(invalid, len(judged))

    verdicts = [bool(r["passed"]) for r in scored if r.get("passed") is not None]
    if verdicts:
        out["accuracy"] = rate(sum(verdicts), len(verdicts))

    per_metric: dict[str, list[float]] = defaultdict(list)
    for r in scored:
        for name, score in (r.get("scores") or {}).items():
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
    latencies = [
        float(lat)
        for r in scored
        if (lat := r.get("original_latency_ms" if r.get("cached") else "latency_ms")) is not None
    ]
    out.update(_percentiles("latency", latencies))
    out.update(
        _percentiles(
            "judge_latency",
            [float(r["judge_latency_ms"]) for r in judged if r.get("judge_latency_ms") is not None],
        )
    )
    for field in (
        "prompt_tokens",
        "completion_tokens",
        "judge_prompt_tokens",
        "judge_completion_tokens",
    ):
        counts = [int(r[field]) for r in rows if r.get(field) is not None]
        if counts:
            out[f"{field}_total"] = metric_value(float(sum(counts)), len(counts))
    return out


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
