"""What a run means: which thresholds apply, whether they could be checked, and the run's
status, verdict and exit code. Pure: no pytest, shared by the plugin and the ``llmeval``
command.

Three outcomes are kept apart, because CI must act differently on each:

- a **miss**: a sample below its pass mark. In a gated task it is part of the statistics,
  not a failure; the thresholds decide.
- an **outage**: samples could not be evaluated (the model or the judge failed after
  retries, a scorer raised, the server stopped answering). Beyond the error budget the run
  is *not evaluated*: exit 6, status ``errored``, never a baseline. Retrying may help.
- a **regression** or a failed threshold: the verdict, exit 1.

A server that rejects the configuration itself (a bad key, an unknown model, a parameter it
refuses) is a usage error: exit 4, also ``errored``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_llmeval.gate import aggregate
from pytest_llmeval.gate.baseline import UNDERPOWERED, Comparison
from pytest_llmeval.gate.thresholds import Threshold, Verdict
from pytest_llmeval.gate.thresholds import evaluate as evaluate_thresholds
from pytest_llmeval.result import SampleResult

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 2
EXIT_USAGE = 4
EXIT_NOT_EVALUATED = 6
EXIT_BUDGET = 7  # stopped at its budget: not a verdict, and not an outage to retry as it is

PASSED, FAILED, NOT_EVALUATED = "passed", "failed", "not evaluated"

# Metrics every suite has, whatever its scorers.
RUN_METRICS = frozenset(
    {
        "accuracy",
        "error_rate",
        "latency_p50_ms",
        "latency_p95_ms",
        "prompt_tokens_total",
        "completion_tokens_total",
        "contamination_rate",
        "cost_usd_total",
    }
)


# ...and every judged suite (plus judge_<dimension> per rubric dimension).
JUDGE_METRICS = frozenset(
    {
        "judge_score",
        "invalid_judge_rate",
        "injection_flag_rate",
        "judge_latency_p50_ms",
        "judge_latency_p95_ms",
        "judge_prompt_tokens_total",
        "judge_completion_tokens_total",
    }
)


def never_produced(
    verdicts: Iterable[Verdict],
    values: Mapping[str, Mapping[str, float | None]],
    rows: Iterable[SampleResult],
) -> list[Verdict]:
    """Verdicts on a metric that nothing in the run could have produced: a name recorded by
    no sample (``llmeval_record`` in a marked test is only known once it ran). A metric that
    exists but has no value (every sample errored) is not one of these: it fails."""
    seen = set(RUN_METRICS) | JUDGE_METRICS
    for r in rows:
        for name, score in r.scores.items():
            seen.add(score.get("metric", name) if isinstance(score, Mapping) else name)
    return [
        v
        for v in verdicts
        if v.value is None
        and v.threshold.task in values
        and v.threshold.metric not in seen
        and not v.threshold.metric.startswith("judge_")
    ]


class GateError(ValueError):
    """A threshold or margin that cannot be checked; a usage error (exit 4)."""


def merge(
    suite_layer: Iterable[Threshold],
    project_layer: Iterable[Threshold],
    judged: Iterable[str] = (),
) -> dict[tuple[str, str], Threshold]:
    """Suite thresholds overridden per (task, metric) by the project's (pyproject, ini,
    command line). A judged, gated task also gets ``invalid_judge_rate <= 0.02`` unless it
    sets its own: a judge that cannot grade must not let the gate pass. (Errored samples
    are the error budget's, see :func:`decide`.)"""
    merged: dict[tuple[str, str], Threshold] = {}
    for layer in (suite_layer, project_layer):
        for t in layer:
            merged[(t.task, t.metric)] = t
    for task in {t for t, _ in merged} & set(judged):
        merged.setdefault(
            (task, "invalid_judge_rate"),
            Threshold(task, "invalid_judge_rate", "<=", 0.02, "default"),
        )
    return merged


def check_names(
    thresholds: Iterable[Threshold],
    margins: Iterable[Any],
    suites: Mapping[str, frozenset[str] | None],
) -> tuple[list[str], list[str]]:
    """Thresholds and margins against the collected suites: ``suites`` maps each suite name
    to the metrics it can produce (None: any, as a marked test may ``llmeval_record``).

    Returns ``(errors, notes)``: a name that cannot exist is an error; a project threshold
    (pyproject or ini) for a suite that was not collected this session is only a note,
    since running a subset of the suites is normal.
    """
    errors: list[str] = []
    notes: list[str] = []
    known = ", ".join(sorted(suites)) or "none"
    for t in thresholds:
        where = f"{t.source}: " if t.source else ""
        if t.task not in suites:
            msg = f"threshold {t.task}.{t.metric}{t}: no collected suite is named {t.task!r}"
            if t.source == "--llmeval-threshold":
                errors.append(f"{where}{msg} (collected: {known}{_did_you_mean(t.task, suites)})")
            else:
                notes.append(f"{where}{msg}; not checked this run")
            continue
        problem = _unknown_metric(t.metric, suites[t.task])
        if problem:
            errors.append(f"{where}threshold {t.task}.{t.metric}{t}: {problem}")
    for m in margins:
        tasks = [m.task] if m.task else list(suites)
        if m.task and m.task not in suites:
            errors.append(
                f"--llmeval-fail {m}: no collected suite is named {m.task!r} "
                f"(collected: {known}{_did_you_mean(m.task, suites)})"
            )
            continue
        producible = [suites[t] for t in tasks]
        if m.metric in ("accuracy", "error_rate", "latency_ms"):
            continue
        if producible and all(_unknown_metric(m.metric, p) for p in producible):
            errors.append(f"--llmeval-fail {m}: {_unknown_metric(m.metric, producible[0])}")
    return errors, notes


def _unknown_metric(metric: str, producible: frozenset[str] | None) -> str | None:
    if producible is None or metric in producible:
        return None
    return (
        f"no such metric {metric!r} (this suite produces: {', '.join(sorted(producible))}"
        f"{_did_you_mean(metric, producible)})"
    )


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class Facts:
    """How the session went, as the decision needs it (controller side)."""

    exitstatus: int  # pytest's own, before the gate
    interrupted: bool  # Ctrl-C (not a stop of our own)
    stopped_early: bool  # -x / --maxfail
    collect_errors: int = 0
    crashed: int = 0  # xdist workers that died
    other_failures: int = 0  # failed tests that are not eval samples
    samples: int = 0  # rows recorded (resumed rows included)
    planned: int = 0  # samples the suites hold, as far as known
    errors: Mapping[str, int] = field(default_factory=dict)  # error items per task
    budget_errors: int = 0  # what the error budget counts: failed calls, raising scorers
    rejected: int = 0  # of those, requests the server refused (a 4xx): a retry cannot help
    misses: Mapping[str, int] = field(default_factory=dict)
    gated: frozenset[str] = frozenset()
    stop: Mapping[str, Any] | None = None  # the engine's: {kind, reason, since}
    error_reason: str | None = None  # the most common error's message
    errors_since: float | None = None
    max_error_rate: float = 0.0
    strict: bool = False
    partial: bool = False
    # suites of which the session selected only part (-k, --lf, node ids): (selected, all).
    # Not gated: a gate over a hand-picked part of a suite says nothing about the suite.
    selections: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    shard: str | None = None  # "I/N": one shard of every suite, gated once merged
    unsent: int = 0  # samples not sent: they could have passed the budget
    budget: Mapping[str, Any] | None = None  # the engine's account of it


@dataclass(frozen=True)
class Decision:
    status: str  # complete | interrupted | incomplete | errored
    partial: bool
    verdict: str | None  # passed | failed | not evaluated; None when nothing was gated
    exitstatus: int
    reason: str | None = None  # one line: why not evaluated, interrupted or incomplete


@dataclass(frozen=True)
class Findings:
    """What the gate found in a run: every threshold's verdict, the ones it could not
    check, the tasks it gated, and the decision."""

    verdicts: list[Verdict]
    unchecked: list[Verdict]
    gated: frozenset[str]
    decision: Decision
    informational: list[Verdict] = field(default_factory=list)  # on a selection: not gated


def regressed(comparison: Comparison | None, fail_underpowered: bool = False) -> bool:
    """Whether a baseline comparison fails the gate: a significant regression beyond its
    margin, or (``--fail-underpowered``) a comparison too small to have seen one."""
    if comparison is None:
        return False
    return comparison.failed or (fail_underpowered and bool(comparison.with_verdict(UNDERPOWERED)))


def evaluate(
    facts: Facts,
    suite_thresholds: Iterable[Threshold],
    project_thresholds: Iterable[Threshold],
    rows: Sequence[SampleResult],
    metrics: Mapping[str, Any],
    comparison: Comparison | None = None,
    fail_underpowered: bool = False,
) -> Findings:
    """The whole gate: thresholds merged with their defaults and checked against the run's
    metrics, the baseline policy, and the decision. A threshold on a metric that no sample
    could produce is a usage error (exit 4), never a silent pass."""
    values = aggregate.values(metrics)
    thresholds = merge(suite_thresholds, project_thresholds, {r.task for r in rows if r.judged})
    verdicts = evaluate_thresholds(thresholds.values(), values)
    unchecked = never_produced(verdicts, values, rows)
    selected = set(facts.selections) | (set(values) if facts.shard else set())
    informational = [v for v in verdicts if v.threshold.task in selected and v not in unchecked]
    gated = frozenset({t.task for t in thresholds.values()} & set(values)) - selected
    facts = replace(facts, gated=gated)
    decision = decide(
        facts,
        [v for v in verdicts if v not in unchecked and v not in informational],
        regressed(comparison, fail_underpowered),
    )
    if unchecked and decision.exitstatus in (EXIT_OK, EXIT_FAILED):
        v = unchecked[0]
        t = v.threshold
        decision = Decision(
            decision.status,
            decision.partial,
            None,
            EXIT_USAGE,
            f"cannot check threshold {t.task}.{t.metric}{t} ({t.source}): {v.note}",
        )
    return Findings(verdicts, unchecked, gated, decision, informational)


def decide(
    facts: Facts,
    verdicts: Iterable[Verdict] = (),
    regressed: bool = False,
) -> Decision:
    """The run's status, verdict and exit code."""
    verdicts = list(verdicts)
    errored = facts.budget_errors
    if facts.stop is not None:
        kind = facts.stop.get("kind")
        code = EXIT_USAGE if kind == "rejected" else EXIT_NOT_EVALUATED
        return Decision("errored", True, NOT_EVALUATED, code, _stop_line(facts))
    if facts.interrupted:
        return Decision("interrupted", True, None, EXIT_INTERRUPTED, "interrupted (Ctrl-C)")
    if errored and errored > facts.max_error_rate * max(facts.samples, 1):
        # every error a refusal: the same requests will be refused again, so this is not an
        # outage to retry (6) but input to fix (4)
        code = EXIT_USAGE if facts.rejected == errored else EXIT_NOT_EVALUATED
        return Decision("errored", facts.partial, NOT_EVALUATED, code, _error_line(facts))
    if facts.unsent:
        return Decision("incomplete", True, None, EXIT_BUDGET, _budget_line(facts))
    if facts.exitstatus not in (EXIT_OK, EXIT_FAILED):
        return Decision("incomplete", True, None, facts.exitstatus, None)
    incomplete = facts.collect_errors or facts.crashed or facts.stopped_early
    status = "incomplete" if incomplete else "complete"
    reason = None
    if facts.collect_errors:
        reason = f"{facts.collect_errors} collection error(s)"
    elif facts.crashed:
        reason = f"{facts.crashed} xdist worker(s) crashed"
    elif facts.stopped_early:
        reason = "stopped early (-x / --maxfail)"
    # a task without thresholds: its misses and errors fail, as in plain pytest; a selection
    # of a gated suite: its misses are still misses (its items decide, not the gate)
    ungated = any(
        (facts.misses.get(t) and t not in facts.selections and not facts.shard)
        or facts.errors.get(t)
        for t in set(facts.misses) | set(facts.errors)
        if t not in facts.gated
    )
    strict = facts.strict and sum(facts.misses.values()) > 0
    gate_failed = any(not v.passed for v in verdicts) or regressed
    failed = (
        facts.other_failures > 0 or facts.collect_errors > 0 or ungated or strict or gate_failed
    )
    verdict = (FAILED if gate_failed or strict else PASSED) if verdicts or regressed else None
    return Decision(
        status,
        facts.partial or bool(incomplete),
        verdict,
        EXIT_FAILED if failed else EXIT_OK,
        reason,
    )


def _budget_line(facts: Facts) -> str:
    b = facts.budget or {}
    spent = b.get("spent_usd")
    money = f"${spent:.4f} spent, " if spent else ""
    return (
        f"stopped at the budget ({b.get('limit', 'set')}): {money}{b.get('spent_tokens', 0):,} "
        f"tokens; {facts.unsent} sample(s) not sent (continue with --llmeval-resume latest "
        "and a larger budget)"
    )


def _clock(t: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) if t else "the start"


def _stop_line(facts: Facts) -> str:
    stop = facts.stop or {}
    errored = facts.budget_errors
    not_run = max(0, facts.planned - facts.samples)
    counts = f"{errored} of {max(facts.planned, facts.samples)} samples errored"
    if not_run:
        counts += f" and {not_run} {'was' if not_run == 1 else 'were'} not run"
    return f"{counts}: {stop.get('reason')} (since {_clock(stop.get('since'))})"


def _error_line(facts: Facts) -> str:
    errored = facts.budget_errors
    budget = f"{facts.max_error_rate:.0%}" if facts.max_error_rate else "none"
    what = "were rejected by the server" if facts.rejected == errored else "errored"
    line = (
        f"{errored} of {facts.samples} samples {what} (error budget: {budget}): "
        f"{facts.error_reason or 'see the error items'} (since {_clock(facts.errors_since)})"
    )
    if facts.rejected == errored:
        line += "; a rerun will be rejected the same way: fix those samples or the server's limits"
    return line
