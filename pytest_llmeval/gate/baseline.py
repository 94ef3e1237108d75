"""Baseline regression gate: pair two runs' samples and judge each metric's change. Pure.

Each metric change gets one verdict (``alpha`` one-sided, ``margin`` the allowed worsening):

- ``regression``: significantly worse (p <= alpha) *and* the observed worsening exceeds the
  margin. ``Comparison.failed`` is true iff any metric has this verdict.
- ``improvement``: significantly better and the improvement exceeds the margin (the baseline
  may be stale).
- ``underpowered``: neither, and the comparison could not have caught a worsening it should:
  its minimum detectable effect (the smallest true worsening this gate flags with probability
  ``power``, given the pairs and noise observed) exceeds ``detect_factor * margin``. With the
  defaults: a 2-point margin must come with 80% power against a true 5-point drop. Never
  reported for a zero margin.
- ``ok``: otherwise.

Binary metrics (``accuracy`` from ``passed``; any metric whose paired values are all 0/1) use
the exact McNemar test on the discordant pairs; other metrics a paired bootstrap of the
per-sample differences. Intervals are two-sided at ``1 - 2 * alpha`` (90% for alpha 0.05), so
their bound on the worse side matches the one-sided test.

Default margins: ``accuracy`` is always compared (where rows have a pass/fail verdict), at 2
points unless a margin names it. Other metrics are compared only when a margin names them:
each gated metric adds up to ``alpha`` to the chance that a rerun of an unchanged model fails
the gate, so gate what you mean to. Values are means over the pairs, not whole runs.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pytest_llmeval import stats
from pytest_llmeval.result import SampleResult

ALPHA = 0.05  # the gate's one-sided significance level, unless told otherwise
REGRESSION = "regression"
IMPROVEMENT = "improvement"
UNDERPOWERED = "underpowered"
OK = "ok"

ACCURACY = "accuracy"
ERROR_RATE = "error_rate"  # per sample: 1 if the model call failed; compared over all pairs
LATENCY = "latency_ms"  # per sample: the row's (original) latency
_HIGHER_IS_WORSE = frozenset({ERROR_RATE, "invalid_judge_rate", "flip_rate"})
_RESERVED = frozenset({ACCURACY, ERROR_RATE})  # scorer metrics aggregate.py also skips

_SPEC = re.compile(
    r"^\s*(?:(?P<task>[A-Za-z0-9_\-]+)\.)?(?P<metric>[A-Za-z0-9_@^]+)\s*:\s*"
    r"(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<pct>%?)\s*$"
)


def higher_is_worse(metric: str) -> bool:
    """Latencies (``*_ms``), ``error_rate``, ``invalid_judge_rate`` and ``flip_rate``: a rise
    is the regression."""
    return metric.endswith("_ms") or metric in _HIGHER_IS_WORSE


class MarginError(ValueError):
    """A malformed margin spec; the one-line message names it."""


@dataclass(frozen=True)
class Margin:
    """The allowed worsening of one metric (optionally of one task), in the metric's unit."""

    metric: str
    drop: float
    task: str | None = None

    @classmethod
    def parse(cls, spec: str) -> Margin:
        """``accuracy:-2%`` (``%``: percentage points), ``f1:-0.03``, ``qa.f1:-0.03``,
        ``latency_ms:200``. The sign is ignored: a margin is always an allowed worsening."""
        m = _SPEC.match(spec) if isinstance(spec, str) else None
        if not m:
            raise MarginError(
                f"margin {spec!r}: cannot parse (expected [TASK.]METRIC:DROP, e.g. "
                "'accuracy:-2%' or 'f1:-0.03')"
            )
        metric, pct = m.group("metric"), bool(m.group("pct"))
        if pct and metric.endswith("_ms"):
            raise MarginError(f"margin {spec!r}: '%' means percentage points; give ms instead")
        drop = abs(float(m.group("num"))) / (100.0 if pct else 1.0)
        if not math.isfinite(drop):
            raise MarginError(f"margin {spec!r}: not a finite number")
        return cls(metric, drop, m.group("task"))

    def __str__(self) -> str:
        prefix = f"{self.task}." if self.task else ""
        return f"{prefix}{self.metric}:{self.drop:g}"


DEFAULT_MARGIN = Margin(ACCURACY, 0.02)


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one task, baseline vs candidate over ``n`` pairs."""

    metric: str
    method: str  # "mcnemar-exact" or "paired-bootstrap"
    n: int
    baseline: float
    candidate: float
    delta: float  # candidate - baseline, in the metric's unit
    lo: float  # interval of delta at Comparison.confidence
    hi: float
    p_value: float  # one-sided, in the worse direction
    p_better: float  # one-sided, in the better direction
    margin: float  # allowed worsening
    mde: float  # smallest true worsening flagged with probability Comparison.power; inf: none
    verdict: str
    higher_is_worse: bool = False
    is_rate: bool = True  # values in [0, 1]: shown in points
    b: int | None = None  # binary: pairs 1 -> 0 (pass -> fail)
    c: int | None = None  # binary: pairs 0 -> 1

    @property
    def worsening(self) -> float:
        return self.delta if self.higher_is_worse else -self.delta


@dataclass(frozen=True)
class TaskComparison:
    task: str
    n_baseline: int
    n_candidate: int
    paired: int  # samples in both runs, neither errored
    errored: int  # samples in both runs left out for an error on either side
    added: tuple[str, ...]  # sample ids only in the candidate
    removed: tuple[str, ...]  # sample ids only in the baseline
    metrics: tuple[MetricComparison, ...]
    pass_to_fail: tuple[str, ...]  # all of them, sorted
    fail_to_pass: tuple[str, ...]
    not_compared: tuple[str, ...] = ()  # metrics present in both runs without a margin
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    tasks: tuple[TaskComparison, ...]
    alpha: float
    power: float
    detect_factor: float
    top: int
    baseline_label: str = "baseline"
    candidate_label: str = "candidate"
    unused_margins: tuple[str, ...] = ()  # margins that matched no metric of any task
    baseline_model: str | None = None
    candidate_model: str | None = None

    @property
    def confidence(self) -> float:
        return 1.0 - 2.0 * self.alpha

    @property
    def failed(self) -> bool:
        return any(m.verdict == REGRESSION for t in self.tasks for m in t.metrics)

    @property
    def counts(self) -> dict[str, int]:
        """How many metric comparisons got each verdict."""
        out: dict[str, int] = {}
        for t in self.tasks:
            for m in t.metrics:
                out[m.verdict] = out.get(m.verdict, 0) + 1
        return out

    def with_verdict(self, verdict: str) -> list[tuple[str, MetricComparison]]:
        return [(t.task, m) for t in self.tasks for m in t.metrics if m.verdict == verdict]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Comparison:
        """The inverse of :meth:`as_dict` (as stored with a run)."""

        def metric(m: Mapping[str, Any]) -> MetricComparison:
            fixed: dict[str, Any] = {
                k: (math.inf if v is None and k == "mde" else v) for k, v in m.items()
            }
            return MetricComparison(**fixed)

        def task(t: Mapping[str, Any]) -> TaskComparison:
            plain: dict[str, Any] = {
                k: tuple(v) if isinstance(v, list) else v for k, v in t.items()
            }
            plain["metrics"] = tuple(metric(m) for m in t["metrics"])
            return TaskComparison(**plain)

        keep = {f for f in cls.__dataclass_fields__ if f != "tasks"}
        rest: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in keep
        }
        return cls(tasks=tuple(task(t) for t in d["tasks"]), **rest)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``inf`` MDEs become ``None``)."""
        d = asdict(self)
        d["failed"] = self.failed
        d["counts"] = self.counts
        for t in d["tasks"]:
            for m in t["metrics"]:
                m.update(
                    {k: None for k, v in m.items() if isinstance(v, float) and not math.isfinite(v)}
                )
        return d


def verdict(
    worsening: float,
    p_worse: float,
    p_better: float,
    margin: float,
    mde: float,
    alpha: float,
    detect_factor: float,
) -> str:
    """The verdict rule of the module docstring, on one metric's change."""
    if p_worse <= alpha and stats.exceeds_margin(worsening, margin):
        return REGRESSION
    if p_better <= alpha and stats.exceeds_margin(-worsening, margin):
        return IMPROVEMENT
    if margin > 0 and stats.exceeds_margin(mde, detect_factor * margin):
        return UNDERPOWERED
    return OK


def judge_binary(
    b: int,
    c: int,
    n: int,
    margin: float,
    alpha: float = ALPHA,
    power: float = 0.8,
    detect_factor: float = 2.5,
    higher_is_worse: bool = False,
) -> tuple[str, float, float, float]:
    """``(verdict, p_worse, p_better, mde)`` for ``b`` pairs 1->0 and ``c`` 0->1 of ``n``.

    The MDE takes the observed flip rate ``(b + c) / n`` as the noise level (conservative when
    a real change adds flips)."""
    worse, better = (c, b) if higher_is_worse else (b, c)
    p_worse, p_better = stats.mcnemar_exact(worse, better), stats.mcnemar_exact(better, worse)
    mde = stats.mde_paired_binary(n, (b + c) / n, alpha, power, margin) if n else math.inf
    worsening = (worse - better) / n if n else 0.0
    return (
        verdict(worsening, p_worse, p_better, margin, mde, alpha, detect_factor),
        p_worse,
        p_better,
        mde,
    )


def judge_mean(
    boot: stats.PairedBootstrap,
    sd_diff: float,
    margin: float,
    alpha: float = ALPHA,
    power: float = 0.8,
    detect_factor: float = 2.5,
    higher_is_worse: bool = False,
) -> tuple[str, float, float, float]:
    """``(verdict, p_worse, p_better, mde)`` from the paired bootstrap of ``candidate -
    baseline`` and the standard deviation of those differences (nan: fewer than 2 pairs)."""
    if higher_is_worse:
        p_worse, p_better, worsening = boot.p_greater, boot.p_less, boot.mean
    else:
        p_worse, p_better, worsening = boot.p_less, boot.p_greater, -boot.mean
    n = boot.n
    mde = stats.mde_paired_mean(n, sd_diff, alpha, power, margin) if n >= 2 else math.inf
    return (
        verdict(worsening, p_worse, p_better, margin, mde, alpha, detect_factor),
        p_worse,
        p_better,
        mde,
    )


def compare(
    baseline_rows: Iterable[SampleResult],
    candidate_rows: Iterable[SampleResult],
    margins: Iterable[Margin | str] = (),
    alpha: float = ALPHA,
    detect_factor: float = 2.5,
    top: int = 10,
    *,
    power: float = 0.8,
    resamples: int = 2000,
    seed: int = 0,
    baseline_label: str = "baseline",
    candidate_label: str = "candidate",
    baseline_model: str | None = None,
    candidate_model: str | None = None,
) -> Comparison:
    """Compare two runs' per-sample rows (``task``, ``sample_id``, ``passed``, ``error``,
    ``scores``), paired on ``(task, sample_id)``. ``margins``: :class:`Margin` or specs; a
    task-specific margin wins over a global one for its task."""
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha!r}")
    parsed = [m if isinstance(m, Margin) else Margin.parse(m) for m in margins]
    table = {(m.task, m.metric): m for m in parsed}
    base, cand = _index(baseline_rows), _index(candidate_rows)
    used: set[Margin] = set()
    tasks = []
    for task in sorted(set(base) | set(cand)):
        b_rows, c_rows = base.get(task, {}), cand.get(task, {})
        chosen: dict[str, Margin] = {ACCURACY: table.get((None, ACCURACY), DEFAULT_MARGIN)}
        chosen.update({metric: m for (t, metric), m in table.items() if t is None})
        chosen.update({metric: m for (t, metric), m in table.items() if t == task})
        tc = _compare_task(
            task, b_rows, c_rows, chosen, alpha, power, detect_factor, resamples, seed
        )
        used.update(chosen[m.metric] for m in tc.metrics)
        tasks.append(tc)
    return Comparison(
        tuple(tasks),
        alpha,
        power,
        detect_factor,
        top,
        baseline_label,
        candidate_label,
        tuple(str(m) for m in parsed if m not in used),
        baseline_model,
        candidate_model,
    )


@dataclass(frozen=True)
class _Sample:
    """One sample of one run, over its tries (one, or K with repeats): the unit the
    comparison pairs on."""

    error: bool  # no try could be evaluated
    errors: float  # the share of its tries that errored
    values: dict[str, float]  # each metric's mean over the tries that were evaluated


def _index(rows: Iterable[SampleResult]) -> dict[str, dict[str, _Sample]]:
    tries: dict[tuple[str, str], dict[tuple[str, int], SampleResult]] = defaultdict(dict)
    for row in rows:
        tries[row.task, row.sample_id][row.nodeid, row.repeat] = row  # a later duplicate wins
    out: dict[str, dict[str, _Sample]] = defaultdict(dict)
    for (task, sample_id), by_try in tries.items():
        out[task][sample_id] = _sample(list(by_try.values()))
    return out


def _sample(rows: list[SampleResult]) -> _Sample:
    ok = [r for r in rows if not r.error]
    errors = (len(rows) - len(ok)) / len(rows)
    if len(rows) == 1:
        return _Sample(not ok, errors, _values(ok[0]) if ok else {})
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for r in ok:
        for metric, value in _values(r).items():
            sums[metric] += value
            counts[metric] += 1
    return _Sample(not ok, errors, {m: total / counts[m] for m, total in sums.items()})


def _values(row: SampleResult) -> dict[str, float]:
    """Per-sample metric values of a result without an error (mirrors
    aggregate.group_metrics: a scorer metric is the mean of its scorer values)."""
    out: dict[str, float] = {}
    if row.passed is not None:
        out[ACCURACY] = 1.0 if row.passed else 0.0
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for name, score in row.scores.items():
        if type(score) is dict or isinstance(score, Mapping):  # the fast check first
            value, metric = score.get("value"), str(score.get("metric", name))
        else:
            value, metric = score, name
        if value is None or metric in _RESERVED or not math.isfinite(v := float(value)):
            continue
        sums[metric] = sums.get(metric, 0.0) + v
        counts[metric] = counts.get(metric, 0) + 1
    for metric, total in sums.items():
        out[metric] = total / counts[metric]
    latency = row.model.model_latency_ms if row.model is not None else None
    if latency is not None:
        out[LATENCY] = float(latency)
    return out


def _compare_task(
    task: str,
    b_rows: Mapping[str, _Sample],
    c_rows: Mapping[str, _Sample],
    margins: Mapping[str, Margin],
    alpha: float,
    power: float,
    detect_factor: float,
    resamples: int,
    seed: int,
) -> TaskComparison:
    common = sorted(set(b_rows) & set(c_rows))
    clean = [i for i in common if not b_rows[i].error and not c_rows[i].error]
    b_vals = {i: b_rows[i].values for i in clean}
    c_vals = {i: c_rows[i].values for i in clean}
    present = {m for i in clean for m in b_vals[i].keys() & c_vals[i].keys()} - {LATENCY}
    notes: list[str] = []
    if not b_rows or not c_rows:
        notes.append(f"task only in the {'candidate' if c_rows else 'baseline'}")

    series: dict[str, tuple[list[str], list[float], list[float]]] = {}
    for metric in margins if common else ():
        if metric == ERROR_RATE:
            ids = common
            bv = [b_rows[i].errors for i in ids]
            cv = [c_rows[i].errors for i in ids]
        else:
            ids = [i for i in clean if metric in b_vals[i] and metric in c_vals[i]]
            bv = [b_vals[i][metric] for i in ids]
            cv = [c_vals[i][metric] for i in ids]
        if ids or any(metric in v for v in (*b_vals.values(), *c_vals.values())):
            series[metric] = (ids, bv, cv)
            if not ids and common:
                notes.append(f"{metric}: no pairs with a value in both runs")

    results: dict[str, MetricComparison] = {}
    boot_groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for metric, (ids, bv, cv) in series.items():
        if ids and all(v in (0.0, 1.0) for v in (*bv, *cv)):
            results[metric] = _binary(
                metric, bv, cv, margins[metric].drop, alpha, power, detect_factor
            )
        elif not ids:
            results[metric] = _binary(
                metric, [], [], margins[metric].drop, alpha, power, detect_factor
            )
        else:
            boot_groups[tuple(ids)].append(metric)
    for metrics in boot_groups.values():
        diffs = [[c - b for b, c in zip(series[m][1], series[m][2], strict=True)] for m in metrics]
        boots = stats.paired_bootstrap_many(diffs, 1.0 - 2.0 * alpha, resamples, seed)
        for metric, boot in zip(metrics, boots, strict=True):
            _, bv, cv = series[metric]
            results[metric] = _continuous(
                metric, bv, cv, boot, margins[metric].drop, alpha, power, detect_factor
            )

    flips: dict[bool, list[str]] = {True: [], False: []}
    for i in clean:
        bp, cp = b_vals[i].get(ACCURACY), c_vals[i].get(ACCURACY)
        # a flip: the sample's majority verdict changed (with one try, its verdict)
        if bp is not None and cp is not None and (bp > 0.5) != (cp > 0.5):
            flips[bp > 0.5].append(i)
    order = sorted(results, key=lambda m: (m != ACCURACY, m))
    return TaskComparison(
        task=task,
        n_baseline=len(b_rows),
        n_candidate=len(c_rows),
        paired=len(clean),
        errored=len(common) - len(clean),
        added=tuple(sorted(set(c_rows) - set(b_rows))),
        removed=tuple(sorted(set(b_rows) - set(c_rows))),
        metrics=tuple(results[m] for m in order),
        pass_to_fail=tuple(flips[True]),
        fail_to_pass=tuple(flips[False]),
        not_compared=tuple(sorted(present - set(results))),
        notes=tuple(notes),
    )


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _binary(
    metric: str,
    bv: list[float],
    cv: list[float],
    margin: float,
    alpha: float,
    power: float,
    detect_factor: float,
) -> MetricComparison:
    n = len(bv)
    b = sum(1 for x, y in zip(bv, cv, strict=True) if x > y)
    c = sum(1 for x, y in zip(bv, cv, strict=True) if x < y)
    worse = higher_is_worse(metric)
    v, p_worse, p_better, mde = judge_binary(b, c, n, margin, alpha, power, detect_factor, worse)
    lo, hi = stats.paired_proportion_interval(b, c, n, 1.0 - 2.0 * alpha)
    base, cand = _mean(bv), _mean(cv)
    delta = (c - b) / n if n else math.nan
    return MetricComparison(
        metric, "mcnemar-exact", n, base, cand, delta, lo, hi, p_worse, p_better,
        margin, mde, v, worse, True, b, c,
    )  # fmt: skip


def _continuous(
    metric: str,
    bv: list[float],
    cv: list[float],
    boot: stats.PairedBootstrap,
    margin: float,
    alpha: float,
    power: float,
    detect_factor: float,
) -> MetricComparison:
    n = len(bv)
    worse = higher_is_worse(metric)
    sq = sum((c - b - boot.mean) ** 2 for b, c in zip(bv, cv, strict=True))
    sd = math.sqrt(sq / (n - 1)) if n >= 2 else math.nan
    v, p_worse, p_better, mde = judge_mean(boot, sd, margin, alpha, power, detect_factor, worse)
    is_rate = not metric.endswith("_ms") and all(0.0 <= x <= 1.0 for x in (*bv, *cv))
    return MetricComparison(
        metric, "paired-bootstrap", n, _mean(bv), _mean(cv), boot.mean, boot.lo, boot.hi,
        p_worse, p_better, margin, mde, v, worse, is_rate,
    )  # fmt: skip
