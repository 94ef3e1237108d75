"""Rendering of a baseline comparison: terminal lines and a Markdown PR comment. Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_llmeval.gate.baseline import (
    IMPROVEMENT,
    REGRESSION,
    UNDERPOWERED,
    Comparison,
    MetricComparison,
    TaskComparison,
)
from pytest_llmeval.untrusted import printable


def _points(x: float) -> str:
    """``0.088`` -> ``"8.8"``, ``0.02`` -> ``"2"``."""
    text = f"{100.0 * x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _num(x: float) -> str:
    if math.isnan(x):
        return "-"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def _value(m: MetricComparison, x: float) -> str:
    if math.isnan(x):
        return "-"
    return f"{x:.3f}" if m.is_rate else _num(x)


def _delta(m: MetricComparison, x: float, sign: bool = True) -> str:
    if math.isnan(x):
        return "-"
    if m.is_rate:
        return f"{100.0 * x:+.1f}" if sign else _points(x)
    return f"{x:+.4g}" if sign else _num(x)


def _unit(m: MetricComparison) -> str:
    return " pt" if m.is_rate else ""


def _interval(m: MetricComparison) -> str:
    if math.isnan(m.lo) or math.isnan(m.hi):
        return "-"
    return f"[{_delta(m, m.lo)}, {_delta(m, m.hi)}]{_unit(m)}"


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _mde(m: MetricComparison) -> str:
    return "none" if not math.isfinite(m.mde) else _delta(m, m.mde, sign=False) + _unit(m)


def _amount(m: MetricComparison, x: float) -> str:
    """``8.8 points``, ``1 point``; a bare number for metrics that are not rates."""
    size = _delta(m, x, sign=False)
    return f"{size} point{'' if size == '1' else 's'}" if m.is_rate else size


def underpowered_note(m: MetricComparison, power: float) -> str:
    """``n=120 pairs can only detect drops of 8.8 points or more with 80% power; the margin
    is 2 points.``"""
    what = "rise" if m.higher_is_worse else "drop"
    margin = f"the margin is {_amount(m, m.margin)}."
    if not math.isfinite(m.mde):
        return f"n={m.n} pairs cannot detect any {what} with {power:.0%} power; {margin}"
    return (
        f"n={m.n} pairs can only detect {what}s of {_amount(m, m.mde)} or more with "
        f"{power:.0%} power; {margin}"
    )


def headline(comparison: Comparison) -> str:
    counts = comparison.counts
    parts = []
    if comparison.failed:
        regressed = ", ".join(
            f"{task}.{m.metric} {_delta(m, m.delta)}{_unit(m)}"
            for task, m in comparison.with_verdict(REGRESSION)
        )
        parts.append(f"REGRESSION vs the baseline: {regressed}")
    else:
        parts.append("no regression vs the baseline")
    if counts.get(IMPROVEMENT):
        parts.append(
            f"{counts[IMPROVEMENT]} improved beyond the margin (the baseline may be stale)"
        )
    if counts.get(UNDERPOWERED):
        parts.append(f"{counts[UNDERPOWERED]} underpowered")
    return "; ".join(parts)


def sample_counts(t: TaskComparison) -> str:
    """'N pairs, K added, ...': what a task's comparison rests on."""
    bits = [f"{t.paired} pairs"]
    if t.added:
        bits.append(f"{len(t.added)} added")
    if t.removed:
        bits.append(f"{len(t.removed)} removed")
    if t.errored:
        bits.append(f"{t.errored} left out for errors")
    return ", ".join(bits)


def _ids(ids: Sequence[str], top: int, quote: str = "") -> str:
    shown = ", ".join(f"{quote}{i}{quote}" for i in ids[:top])
    more = len(ids) - min(len(ids), top)
    return shown + (f" (+{more} more)" if more else "")


def _all_ids(ids: Sequence[str], shown: int = 10) -> str:
    """Every id for a PR comment: the first ten inline, the rest folded away."""
    head = ", ".join(f"`{i}`" for i in ids[:shown])
    if len(ids) <= shown:
        return head
    rest = ", ".join(f"`{i}`" for i in ids[shown:])
    return f"{head}<details><summary>and {len(ids) - shown} more</summary>\n\n{rest}\n\n</details>"


def _rows(c: Comparison, t: TaskComparison) -> list[tuple[str, ...]]:
    return [
        (
            m.metric,
            str(m.n),
            _value(m, m.baseline),
            _value(m, m.candidate),
            _delta(m, m.delta) + _unit(m),
            _interval(m),
            _p(m.p_value),
            _mde(m),
            _delta(m, m.margin, sign=False) + _unit(m),
            m.verdict.upper() if m.verdict in (REGRESSION, IMPROVEMENT) else m.verdict,
        )
        for m in t.metrics
    ]


_ALIGN = {"metric": ":---", "verdict": ":---"}


def _side(c: Comparison, which: str, quote: str = "") -> str:
    """``RUN (model SPEC)``: a comparison always says which models it compares."""
    label = getattr(c, f"{which}_label")
    model = getattr(c, f"{which}_model")
    text = f"{which} {quote}{label}{quote}" if not quote else f"{quote}{label}{quote}"
    return f"{text} (model {quote}{model}{quote})" if model else text


def _header(c: Comparison) -> tuple[str, ...]:
    conf = f"{c.confidence:.0%} interval"
    return ("metric", "n", "baseline", "candidate", "delta", conf, "p", "MDE", "margin", "verdict")


def to_text(comparison: Comparison) -> list[str]:
    """Terminal lines: a table per task, the top flipped ids, then the headline."""
    c = comparison
    lines = [f"llmeval compare: {_side(c, 'baseline')} -> {_side(c, 'candidate')}"]
    for t in c.tasks:
        lines.append(f"{t.task}  ({sample_counts(t)})")
        for note in t.notes:
            lines.append(f"  note: {note}")
        if t.metrics:
            rows = [_header(c), *_rows(c, t)]
            widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
            lines += [
                "  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                for r in rows
            ]
        for m in t.metrics:
            if m.verdict == UNDERPOWERED:
                lines.append(f"  {m.metric}: {underpowered_note(m, c.power)}")
        if t.pass_to_fail:
            lines.append(f"  pass->fail ({len(t.pass_to_fail)}): {_ids(t.pass_to_fail, c.top)}")
        if t.fail_to_pass:
            lines.append(f"  fail->pass ({len(t.fail_to_pass)}): {_ids(t.fail_to_pass, c.top)}")
        if t.not_compared:
            lines.append(f"  not compared (no margin): {', '.join(t.not_compared)}")
    if c.unused_margins:
        lines.append(f"margins matching no metric: {', '.join(c.unused_margins)}")
    lines.append(f"llmeval compare {'FAILED' if c.failed else 'PASSED'}: {headline(c)}")
    # labels, model specs and notes come from stored runs: escaped like all shown text
    return [printable(line) for line in lines]


def to_markdown(comparison: Comparison) -> str:
    """A PR comment: headline, a table per task, underpowered sentences, flipped samples in a
    collapsible ``<details>``, added/removed counts."""
    c = comparison
    mark = "❌" if c.failed else "✅"
    out = [
        f"### {mark} llmeval: {headline(c)}",
        "",
        f"Baseline {_side(c, 'baseline', '`')}, candidate {_side(c, 'candidate', '`')}; "
        "one-sided tests at "
        f"alpha = {c.alpha:g}, {c.confidence:.0%} intervals of candidate - baseline.",
    ]
    for t in c.tasks:
        out += ["", f"#### {t.task}", "", sample_counts(t) + "."]
        out += [f"> {note}" for note in t.notes]
        if t.metrics:
            header = _header(c)
            out += [
                "",
                "| " + " | ".join(header) + " |",
                "|" + "|".join(_ALIGN.get(h, "---:") for h in header) + "|",
            ]
            for row in _rows(c, t):
                cells = [
                    f"`{row[0]}`",
                    *row[1:-1],
                    f"**{row[-1]}**" if row[-1].isupper() else row[-1],
                ]
                out.append("| " + " | ".join(cells) + " |")
        weak = [m for m in t.metrics if m.verdict == UNDERPOWERED]
        if weak:
            out += ["", "> **Underpowered**: a real regression could pass unnoticed."]
            out += [f"> - `{m.metric}`: {underpowered_note(m, c.power)}" for m in weak]
        if t.pass_to_fail or t.fail_to_pass:
            out += [
                "",
                f"<details><summary>Flipped samples: {len(t.pass_to_fail)} pass→fail, "
                f"{len(t.fail_to_pass)} fail→pass</summary>",
                "",
            ]
            if t.pass_to_fail:
                out.append(f"- pass→fail: {_all_ids(t.pass_to_fail)}")
            if t.fail_to_pass:
                out.append(f"- fail→pass: {_all_ids(t.fail_to_pass)}")
            out += ["", "</details>"]
        if t.not_compared:
            out += ["", f"Not compared (no margin): {', '.join(f'`{m}`' for m in t.not_compared)}."]
    if c.unused_margins:
        out += ["", f"Margins matching no metric: {', '.join(c.unused_margins)}."]
    return printable("\n".join(out), block=True) + "\n"
