"""The baseline comparison section of the HTML report: per task the paired verdicts of each
metric, and the samples that flipped (pass to fail, fail to pass) with the baseline's and the
candidate's outputs side by side."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pytest_llmeval.export.comparison import sample_counts
from pytest_llmeval.export.html.markup import _badge, _e, _pre, _pretty_expected, _slug
from pytest_llmeval.gate.baseline import (
    IMPROVEMENT,
    REGRESSION,
    UNDERPOWERED,
    Comparison,
    MetricComparison,
)
from pytest_llmeval.result import SampleResult


def _cmp_value(m: MetricComparison, x: float) -> str:
    if math.isnan(x):
        return "-"
    return f"{x:.3f}" if m.is_rate else f"{x:,.4g}"


def _cmp_delta(m: MetricComparison, x: float) -> str:
    if math.isnan(x):
        return "-"
    return f"{100.0 * x:+.1f} pt" if m.is_rate else f"{x:+,.4g}"


def _verdict_badge(verdict: str) -> str:
    kind = {REGRESSION: "fail", IMPROVEMENT: "pass", UNDERPOWERED: "warn"}.get(verdict, "neutral")
    return _badge(verdict.upper() if verdict in (REGRESSION, IMPROVEMENT) else verdict, kind)


def _flip_rows(
    ids: Sequence[str],
    task: str,
    base_rows: Mapping[tuple[str, str], SampleResult],
    cand_rows: Mapping[tuple[str, str], SampleResult],
    anchors: set[str],
    top: int,
) -> str:
    out = []
    for sid in ids[:top]:
        b, c = base_rows.get((task, sid)), cand_rows.get((task, sid))
        anchor = _slug("sample", task, sid)
        label = (
            f'<a href="#{anchor}"><code>{_e(sid)}</code></a>'
            if anchor in anchors
            else f"<code>{_e(sid)}</code>"
        )
        shown = c or b
        expected = shown.expected if shown is not None else None
        out.append(
            f"<tr><td>{label}</td><td>{_pre(b.output) if b else '-'}</td>"
            f"<td>{_pre(c.output) if c else '-'}</td>"
            f"<td>{_pre(_pretty_expected(expected))}</td></tr>"
        )
    more = len(ids) - min(len(ids), top)
    if more:
        out.append(f'<tr class="sub"><td colspan="4">... and {more} more</td></tr>')
    return "".join(out)


def _baseline_section(
    comparison: Comparison | None,
    samples: Sequence[SampleResult],
    baseline_samples: Sequence[SampleResult] | None,
    anchors: set[str],
    top: int,
) -> str:
    if comparison is None:
        return (
            '<section id="baseline"><h2>Baseline</h2><p class="muted">No baseline comparison: '
            "run with <code>--llmeval-baseline RUN</code> or "
            "<code>llmeval report RUN --baseline OTHER</code>.</p></section>"
        )
    from pytest_llmeval.export.comparison import headline, underpowered_note

    c = comparison
    parts = [
        '<section id="baseline"><h2>Baseline comparison</h2>',
        f"<p>{_badge(headline(c), 'fail' if c.failed else 'pass')}</p>",
        f'<p class="muted">baseline <code>{_e(c.baseline_label)}</code> &rarr; candidate '
        f"<code>{_e(c.candidate_label)}</code>; one-sided tests at alpha = {c.alpha:g}, "
        f"{c.confidence:.0%} intervals of candidate &minus; baseline.</p>",
    ]
    base_rows = {(r.task, r.sample_id): r for r in baseline_samples or ()}
    cand_rows = {(r.task, r.sample_id): r for r in samples}
    for t in c.tasks:
        parts.append(f'<h3>{_e(t.task)} <span class="muted">({_e(sample_counts(t))})</span></h3>')
        parts += [f'<p class="muted">note: {_e(n)}</p>' for n in t.notes]
        if t.metrics:
            rows = "".join(
                f"<tr><td><code>{_e(m.metric)}</code></td><td class=num>{m.n}</td>"
                f"<td class=num>{_e(_cmp_value(m, m.baseline))}</td>"
                f"<td class=num>{_e(_cmp_value(m, m.candidate))}</td>"
                f"<td class=num>{_e(_cmp_delta(m, m.delta))}</td>"
                f"<td class=num>[{_e(_cmp_delta(m, m.lo))}, {_e(_cmp_delta(m, m.hi))}]</td>"
                f"<td class=num>{_e('<0.001' if m.p_value < 0.001 else f'{m.p_value:.3f}')}</td>"
                f"<td>{_verdict_badge(m.verdict)}</td></tr>"
                for m in t.metrics
            )
            parts.append(
                "<table><thead><tr><th>metric</th><th class=num>n</th>"
                "<th class=num>baseline</th><th class=num>candidate</th><th class=num>delta</th>"
                f"<th class=num>{c.confidence:.0%} interval</th><th class=num>p</th>"
                f"<th>verdict</th></tr></thead><tbody>{rows}</tbody></table>"
            )
        for m in t.metrics:
            if m.verdict == UNDERPOWERED:
                parts.append(
                    f'<p class="muted">{_e(m.metric)}: {_e(underpowered_note(m, c.power))}</p>'
                )
        for title, ids in (
            ("pass &rarr; fail", t.pass_to_fail),
            ("fail &rarr; pass", t.fail_to_pass),
        ):
            if not ids:
                continue
            shown = ", ".join(ids[:top]) + (f" (+{len(ids) - top} more)" if len(ids) > top else "")
            parts.append(
                f"<details><summary><b>{title} ({len(ids)})</b>: <code>{_e(shown)}</code>"
                "</summary><table class=flips><thead><tr><th>sample</th><th>baseline output</th>"
                "<th>candidate output</th><th>expected</th></tr></thead>"
                f"<tbody>{_flip_rows(ids, t.task, base_rows, cand_rows, anchors, top)}</tbody>"
                "</table></details>"
            )
        if t.not_compared:
            parts.append(
                f'<p class="muted">not compared (no margin): {_e(", ".join(t.not_compared))}</p>'
            )
    if c.unused_margins:
        parts.append(
            f'<p class="muted">margins matching no metric: {_e(", ".join(c.unused_margins))}</p>'
        )
    parts.append("</section>")
    return "".join(parts)
