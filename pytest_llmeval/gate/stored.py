"""The gate over a stored run (``llmeval gate``): the same decision, exit codes and summary
as the pytest session's, from what the run stored. What makes a merged set of shards one
verdict. Pure: the caller reads the run and its rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llmeval.gate.baseline import Comparison
from pytest_llmeval.gate.decision import Facts, Findings, evaluate
from pytest_llmeval.gate.thresholds import Threshold
from pytest_llmeval.result import SampleResult


def thresholds_of(verdicts: Sequence[Mapping[str, Any]]) -> list[Threshold]:
    """The thresholds a run was shown or gated with (its stored verdicts carry them)."""
    out = {}
    for v in verdicts:
        t = Threshold(
            str(v["task"]), str(v["metric"]), str(v["op"]), float(v["threshold"]),
            str(v.get("source") or ""),
        )  # fmt: skip
        out[t.task, t.metric] = t
    return list(out.values())


def facts_of(params: Mapping[str, Any], rows: Sequence[SampleResult], partial: bool) -> Facts:
    """How the run went, from its rows: every stored row was run, and nothing else is
    known to have failed (the shards' own items were gated by nothing)."""
    errors = Counter(r.task for r in rows if r.eval_error)
    budget = [r for r in rows if r.budget_error and r.error]
    reasons = Counter((r.error or "").splitlines()[0][:300] for r in budget)
    misses = Counter(r.task for r in rows if r.passed is False and not r.error)
    return Facts(
        exitstatus=0,
        interrupted=False,
        stopped_early=False,
        samples=len(rows),
        planned=len(rows),
        errors=dict(errors),
        budget_errors=len(budget),
        misses=dict(misses),
        error_reason=reasons.most_common(1)[0][0] if reasons else None,
        max_error_rate=float(params.get("max_error_rate") or 0.0),
        strict=bool(params.get("strict")),
        partial=partial,
    )


def gate_stored(
    params: Mapping[str, Any],
    verdicts: Sequence[Mapping[str, Any]],
    rows: Sequence[SampleResult],
    metrics: Mapping[str, Any],
    partial: bool,
    comparison: Comparison | None = None,
    fail_underpowered: bool = False,
) -> Findings:
    """Thresholds and the baseline comparison applied to a stored run."""
    return evaluate(
        facts_of(params, rows, partial),
        thresholds_of(verdicts),
        (),
        rows,
        metrics,
        comparison,
        fail_underpowered,
    )
