"""Prometheus: a run as text exposition (a node_exporter textfile-collector file), or pushed
to a Pushgateway. Needs ``prometheus_client`` (imported when used, never by the plugin).

    llmeval export latest --format prometheus -o /var/lib/node_exporter/textfile/llmeval.prom

Families (label ``slice`` is ``""`` for all samples of a task; ``model`` is the model spec,
``run`` the run id):

- ``llmeval_<metric>{task,slice,model,run}``: one gauge per rate or score metric of the run
  (``llmeval_accuracy``, ``llmeval_f1``, ``llmeval_error_rate``, ``llmeval_judge_score``...),
  with its 95% interval as two more gauges, ``llmeval_<metric>_lower`` and
  ``llmeval_<metric>_upper`` (separate families rather than an ``interval`` label, so that
  aggregating ``llmeval_accuracy`` never mixes point values with bounds). Latency and token
  metrics are left out here: they are the histograms and counters below.
- ``llmeval_samples_total{task,model,outcome}``: samples that ``passed``, ``failed`` or
  ended in an ``error`` (``unscored`` too, for rows without a verdict, when there are any).
- ``llmeval_latency_seconds{task,model}``: histogram of the model's per-sample latency
  (a cached answer counts with its original latency; errored samples are left out, as in the
  latency metrics); ``llmeval_judge_latency_seconds`` likewise for judged samples.
- ``llmeval_tokens_total{task,model,kind=prompt|completion}``; the judge's tokens in
  ``llmeval_judge_tokens_total``.
- ``llmeval_threshold_passed{task,metric,model,run}`` (1 or 0 per threshold) and
  ``llmeval_gate_passed{model,run}``; ``llmeval_baseline_regression{model,run,baseline}``
  when the run was gated against a baseline.
- ``llmeval_run_info{run,model,status,partial,git_commit,git_dirty,host,plugin_version,
  baseline}`` = 1, ``llmeval_run_start_timestamp_seconds`` and
  ``llmeval_run_duration_seconds`` (when finished), by ``{model,run}``.

Metric names are sanitized to ``[a-zA-Z_:][a-zA-Z0-9_:]*`` (other characters become ``_``);
a run metric whose name would end in a suffix Prometheus reserves (``_total``, ``_count``,
``_sum``, ``_bucket``, ``_created``, ``_info``) or would collide with another family gets
``_value`` appended.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pytest_llmeval.result import SampleResult
from pytest_llmeval.stats import finite
from pytest_llmeval.store.results import Run

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

PREFIX = "llmeval_"
# Fixed buckets, so that runs stay comparable: 10 ms to 2 minutes.
LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
GAUGE_LABELS = ("task", "slice", "model", "run")
_RESERVED_SUFFIXES = ("_total", "_count", "_sum", "_bucket", "_created", "_info")
_FIXED_FAMILIES = frozenset(
    {
        "samples",
        "latency_seconds",
        "judge_latency_seconds",
        "tokens",
        "judge_tokens",
        "threshold_passed",
        "gate_passed",
        "baseline_regression",
        "run_info",
        "run_start_timestamp_seconds",
        "run_duration_seconds",
    }
)
_INVALID = re.compile(r"[^a-zA-Z0-9_:]")


def sanitize(name: str) -> str:
    """A Prometheus metric-name fragment: invalid characters become ``_``; a leading digit
    gets a ``_`` in front (``p95-ms`` -> ``p95_ms``, ``2nd`` -> ``_2nd``)."""
    out = _INVALID.sub("_", name) or "_"
    return "_" + out if out[0].isdigit() else out


def is_exported_gauge(metric: str) -> bool:
    """Rate and score metrics; latencies (``*_ms``) and token totals have their own families."""
    return not metric.endswith("_ms") and not metric.endswith("_tokens_total")


def gauge_names(metrics: Iterable[str]) -> dict[str, str]:
    """``{run metric: family name without the prefix}``, sanitized, reserved suffixes and
    collisions (with the fixed families, interval bounds or each other) avoided."""
    taken = set(_FIXED_FAMILIES)
    out: dict[str, str] = {}
    for metric in sorted(set(metrics)):  # point values first: a metric keeps its own name
        base = sanitize(metric)
        while base.endswith(_RESERVED_SUFFIXES) or base in taken:
            base += "_value"
        taken.add(base)
        out[metric] = base
    for metric, base in out.items():  # then room for the bounds, renaming where needed
        name = base
        while (
            f"{name}_lower" in taken or f"{name}_upper" in taken or (name != base and name in taken)
        ):
            name += "_value"
        taken.discard(base)
        taken.update({name, f"{name}_lower", f"{name}_upper"})
        out[metric] = name
    return out


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def latencies_s(rows: Iterable[SampleResult], judge: bool = False) -> list[float]:
    """Per-sample latencies in seconds of the results without an error: the model's (a
    cache hit: its original latency), or the judge's (``judge=True``)."""
    out = []
    for row in rows:
        if row.error and not judge:
            continue
        ms = finite(row.call("judge" if judge else "model").model_latency_ms)
        if ms is not None:
            out.append(ms / 1000.0)
    return out


def _outcome(row: SampleResult) -> str:
    if row.error:
        return "error"
    if row.passed is None:
        return "unscored"
    return "passed" if row.passed else "failed"


class RunCollector:
    """A ``prometheus_client`` collector yielding one run's families (no ``_created`` series,
    no global state: each export builds its own registry)."""

    def __init__(self, run: Run, samples: Sequence[SampleResult]) -> None:
        self.run = run
        self.samples = samples

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        run, model, run_id = self.run, self.run.model or "", self.run.id
        yield from self._metric_gauges(GaugeMetricFamily)

        by_task: dict[str, list[SampleResult]] = defaultdict(list)
        for row in self.samples:
            by_task[row.task].append(row)

        outcomes = CounterMetricFamily(
            PREFIX + "samples",
            "Evaluated samples by outcome (error: the model or judge call failed).",
            labels=("task", "model", "outcome"),
        )
        for task, rows in sorted(by_task.items()):
            counts = {"passed": 0, "failed": 0, "error": 0}
            for row in rows:
                kind = _outcome(row)
                counts[kind] = counts.get(kind, 0) + 1
            for kind, count in counts.items():
                outcomes.add_metric((task, model, kind), float(count))
        yield outcomes

        for name, doc, judge in (
            ("latency_seconds", "Model latency per sample (cache hits: the original).", False),
            ("judge_latency_seconds", "Judge latency per judged sample.", True),
        ):
            hist = HistogramMetricFamily(PREFIX + name, doc, labels=("task", "model"))
            for task, rows in sorted(by_task.items()):
                values = latencies_s(rows, judge=judge)
                if values:
                    buckets = [
                        (repr(bound), float(sum(1 for v in values if v <= bound)))
                        for bound in LATENCY_BUCKETS_S
                    ]
                    buckets.append(("+Inf", float(len(values))))
                    hist.add_metric((task, model), buckets, sum_value=math.fsum(values))
            if hist.samples:
                yield hist

        for name, doc, role in (
            ("tokens", "Model tokens.", "model"),
            ("judge_tokens", "Judge tokens.", "judge"),
        ):
            tokens = CounterMetricFamily(PREFIX + name, doc, labels=("task", "model", "kind"))
            for task, rows in sorted(by_task.items()):
                for kind in ("prompt", "completion"):
                    used = [int(v) for r in rows if (v := getattr(r.call(role), f"{kind}_tokens"))]
                    if used:
                        tokens.add_metric((task, model, kind), float(sum(used)))
            if tokens.samples:
                yield tokens

        if run.verdicts:
            thresholds = GaugeMetricFamily(
                PREFIX + "threshold_passed",
                "1 when the threshold on this metric was met, 0 otherwise.",
                labels=("task", "metric", "model", "run"),
            )
            for v in run.verdicts:
                thresholds.add_metric(
                    (str(v["task"]), str(v["metric"]), model, run_id), 1.0 if v["passed"] else 0.0
                )
            yield thresholds
            yield _single(
                GaugeMetricFamily(
                    PREFIX + "gate_passed",
                    "1 when every threshold of the run was met.",
                    labels=("model", "run"),
                ),
                (model, run_id),
                1.0 if all(v["passed"] for v in run.verdicts) else 0.0,
            )
        if run.baseline and run.comparison:
            yield _single(
                GaugeMetricFamily(
                    PREFIX + "baseline_regression",
                    "1 when the run regressed against its baseline.",
                    labels=("model", "run", "baseline"),
                ),
                (model, run_id, run.baseline),
                1.0 if run.comparison.get("failed") else 0.0,
            )

        info = {
            "run": run_id,
            "model": model,
            "status": run.status,
            "partial": str(run.partial).lower(),
            "git_commit": run.git_commit or "",
            "git_dirty": "" if run.git_dirty is None else str(run.git_dirty).lower(),
            "host": run.host or "",
            "plugin_version": run.plugin_version or "",
            "baseline": run.baseline or "",
        }
        yield _single(
            GaugeMetricFamily(PREFIX + "run_info", "Run metadata (always 1).", labels=tuple(info)),
            tuple(info.values()),
            1.0,
        )
        started, finished = _timestamp(run.started_at), _timestamp(run.finished_at)
        if started is not None:
            yield _single(
                GaugeMetricFamily(
                    PREFIX + "run_start_timestamp_seconds",
                    "When the run started (Unix time).",
                    labels=("model", "run"),
                ),
                (model, run_id),
                started,
            )
        if started is not None and finished is not None:
            yield _single(
                GaugeMetricFamily(
                    PREFIX + "run_duration_seconds",
                    "Wall time of the run.",
                    labels=("model", "run"),
                ),
                (model, run_id),
                max(finished - started, 0.0),
            )

    def _metric_gauges(self, family: Any) -> Iterator[Metric]:
        model, run_id = self.run.model or "", self.run.id
        present = {
            metric
            for slices in self.run.metrics.values()
            for metrics in slices.values()
            for metric in metrics
            if is_exported_gauge(metric)
        }
        for metric, name in gauge_names(present).items():
            point = family(PREFIX + name, f"llmeval metric {metric!r}.", labels=GAUGE_LABELS)
            lower = family(
                PREFIX + name + "_lower", f"Lower 95% bound of {metric!r}.", labels=GAUGE_LABELS
            )
            upper = family(
                PREFIX + name + "_upper", f"Upper 95% bound of {metric!r}.", labels=GAUGE_LABELS
            )
            for task, slices in sorted(self.run.metrics.items()):
                for sl, metrics in sorted(slices.items()):
                    m = metrics.get(metric)
                    if not isinstance(m, Mapping):
                        continue
                    labels = (task, sl, model, run_id)
                    for fam, key in ((point, "value"), (lower, "lo"), (upper, "hi")):
                        value = finite(m.get(key))
                        if value is not None:
                            fam.add_metric(labels, value)
            for fam in (point, lower, upper):
                if fam.samples:
                    yield fam


def _single(family: Metric, labels: Sequence[str], value: float) -> Metric:
    family.add_metric(labels, value)  # type: ignore[attr-defined]
    return family


def registry(run: Run, samples: Sequence[SampleResult]) -> CollectorRegistry:
    """A fresh ``CollectorRegistry`` holding the run's families."""
    from prometheus_client import CollectorRegistry

    reg = CollectorRegistry(auto_describe=False)
    reg.register(RunCollector(run, samples))
    return reg


def render(run: Run, samples: Sequence[SampleResult]) -> str:
    """The Prometheus text exposition (format 0.0.4) of the run."""
    from prometheus_client import generate_latest

    return generate_latest(registry(run, samples)).decode("utf-8")


def write(run: Run, samples: Sequence[SampleResult], out: IO[str]) -> None:
    """The exporter-table entry: ``llmeval export RUN --format prometheus``."""
    out.write(render(run, samples))


def write_textfile(run: Run, samples: Sequence[SampleResult], path: Path | str) -> None:
    """Write a textfile-collector file atomically (a temporary file renamed into place, so
    node_exporter never reads half a file). Name it ``*.prom``."""
    from prometheus_client import write_to_textfile

    write_to_textfile(str(path), registry(run, samples))


def push(
    run: Run,
    samples: Sequence[SampleResult],
    gateway_url: str,
    job: str = "llmeval",
    grouping_key: Mapping[str, str] | None = None,
    timeout: float | None = 30.0,
) -> None:
    """PUT the run's families to a Pushgateway (replacing the group's previous push).

    The group is ``job`` plus ``grouping_key``, by default ``{"model": run.model}``, so that
    each model keeps its latest run and pushing one model never wipes another's metrics."""
    from prometheus_client import push_to_gateway

    key = dict(grouping_key) if grouping_key is not None else {"model": run.model or ""}
    push_to_gateway(
        gateway_url, job=job, registry=registry(run, samples), grouping_key=key, timeout=timeout
    )
