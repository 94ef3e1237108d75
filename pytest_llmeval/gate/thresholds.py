"""Threshold specs (``accuracy >= 0.85``) and verdicts on aggregated metrics. Pure."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_SPEC = re.compile(r"^\s*(>=|<=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(%?)\s*$")


# Metrics whose values are shares of samples: a threshold outside [0, 1] can never be met.
PROPORTIONS = frozenset(
    {"accuracy", "exact_match", "f1", "contains", "field_f1", "field_precision", "field_recall"}
)


def is_proportion(metric: str) -> bool:
    return metric in PROPORTIONS or metric.endswith("_rate")


class ThresholdError(ValueError):
    """A malformed threshold spec; the message says which and why."""


@dataclass(frozen=True)
class Threshold:
    """``op value`` on one metric of one task."""

    task: str
    metric: str
    op: str
    value: float
    source: str = ""

    @classmethod
    def parse(cls, task: str, metric: str, spec: object, source: str = "") -> Threshold:
        """Parse ``">=0.85"`` (or ``">=85%"``); raise ThresholdError naming the spec."""
        if isinstance(spec, bool) or not isinstance(spec, str):
            raise ThresholdError(
                f"{source or 'threshold'}: {task}.{metric}: expected a string like '>=0.85', "
                f"got {spec!r}"
            )
        m = _SPEC.match(spec)
        if not m:
            raise ThresholdError(
                f"{source or 'threshold'}: {task}.{metric}: cannot parse {spec!r} "
                "(use >=, >, <= or < and a number, e.g. '>=0.85' or '>=85%')"
            )
        value = float(m.group(2)) / (100.0 if m.group(3) else 1.0)
        if is_proportion(metric) and not 0.0 <= value <= 1.0:
            raise ThresholdError(
                f"{source or 'threshold'}: {task}.{metric}: {spec!r} is outside [0, 1], and "
                f"{metric} is a proportion, so it could never be met (write "
                f"'{m.group(1)}{value / 100:g}' or '{m.group(1)}{m.group(2)}%')"
            )
        return cls(task, metric, m.group(1), value, source)

    @classmethod
    def parse_qualified(cls, text: str, source: str = "") -> Threshold:
        """Parse ``task.metric>=0.85`` as given on the command line or in ini."""
        m = re.match(r"^\s*([A-Za-z0-9_\-]+)\.([A-Za-z0-9_@^]+)\s*(.+)$", text)
        if not m:
            raise ThresholdError(
                f"{source or 'threshold'}: cannot parse {text!r} "
                "(expected TASK.METRIC>=VALUE, e.g. 'json_extraction.accuracy>=0.85')"
            )
        return cls.parse(m.group(1), m.group(2), m.group(3), source)

    def check(self, value: float | None) -> bool:
        return value is not None and not math.isnan(value) and _OPS[self.op](value, self.value)

    def __str__(self) -> str:
        return f"{self.op}{self.value:g}"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one threshold on a run's aggregate."""

    threshold: Threshold
    value: float | None
    passed: bool
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        t = self.threshold
        return {
            "task": t.task,
            "metric": t.metric,
            "op": t.op,
            "threshold": t.value,
            "value": self.value,
            "passed": self.passed,
            "note": self.note,
            "source": t.source,
        }


def from_table(table: Mapping[str, Any], source: str) -> list[Threshold]:
    """Read ``{task: {metric: spec}}`` (pyproject's ``[tool.llmeval.thresholds]``)."""
    out = []
    for task, metrics in table.items():
        if not isinstance(metrics, Mapping):
            raise ThresholdError(f"{source}: {task}: expected a table of metric = 'spec'")
        for metric, spec in metrics.items():
            out.append(Threshold.parse(str(task), str(metric), spec, source))
    return out


def merge(*layers: Iterable[Threshold]) -> dict[tuple[str, str], Threshold]:
    """Later layers override earlier ones per (task, metric)."""
    merged: dict[tuple[str, str], Threshold] = {}
    for layer in layers:
        for t in layer:
            merged[(t.task, t.metric)] = t
    return merged


def evaluate(
    thresholds: Iterable[Threshold], metrics: Mapping[str, Mapping[str, float | None]]
) -> list[Verdict]:
    """Check each threshold against ``metrics[task][metric]``; a missing metric fails."""
    verdicts = []
    for t in thresholds:
        task_metrics = metrics.get(t.task)
        if task_metrics is None:
            continue  # the task did not run in this session: nothing to judge
        value = task_metrics.get(t.metric)
        if value is None:
            known = ", ".join(sorted(k for k, v in task_metrics.items() if v is not None))
            verdicts.append(Verdict(t, None, False, f"no metric {t.metric!r} (have: {known})"))
        else:
            verdicts.append(Verdict(t, value, t.check(value)))
    return verdicts
