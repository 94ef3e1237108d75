"""The metrics sections of the HTML report: per task its metrics and slices with 95%
intervals (tables and plots, with the baseline's values and the deltas), and the latency
distribution per task."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llmeval.export.html.markup import _badge, _e, _interval, _latency_ms, _slug, _spec
from pytest_llmeval.export.summary import fmt, ordered
from pytest_llmeval.gate.baseline import higher_is_worse
from pytest_llmeval.result import SampleResult
from pytest_llmeval.stats import finite
from pytest_llmeval.store.results import Run


def _is_rate(metric: str, *values: float | None) -> bool:
    return (
        not metric.endswith("_ms")
        and not metric.endswith("_total")
        and all(v is None or 0.0 <= v <= 1.0 for v in values)
    )


def _delta(metric: str, value: float | None, base: float | None) -> str:
    """``+2.5 pt`` for rates, ``+12`` otherwise; coloured by direction (better/worse)."""
    if value is None or base is None:
        return ""
    diff = value - base
    text = f"{100.0 * diff:+.1f} pt" if _is_rate(metric, value, base) else f"{diff:+,.4g}"
    if abs(diff) < 1e-12 or metric.endswith("_total"):
        return f'<span class="muted">{_e(text)}</span>'
    better = diff < 0 if higher_is_worse(metric) else diff > 0
    return f'<span class="{"better" if better else "worse"}">{_e(text)}</span>'


def _judge_p50(values: Sequence[float] | None) -> str:
    from pytest_llmeval.stats import percentile

    return f"{percentile(values, 50):,.0f}" if values else ""


def _threshold_map(run: Run, task: str) -> dict[str, tuple[str, float]]:
    return {
        str(v["metric"]): (str(v["op"]), float(v["threshold"]))
        for v in run.verdicts
        if v.get("task") == task
    }


def _task_section(
    run: Run,
    task: str,
    slices: Mapping[str, Mapping[str, Mapping[str, Any]]],
    baseline_run: Run | None,
    plots_on: bool,
) -> str:
    overall = slices.get("", {})
    base_slices = (baseline_run.metrics.get(task) or {}) if baseline_run else {}
    base_overall = base_slices.get("", {})
    verdicts = {str(v["metric"]): v for v in run.verdicts if v.get("task") == task}
    with_base = baseline_run is not None
    head = (
        "<tr><th>metric</th><th class=num>value</th><th class=num>95% interval</th>"
        "<th class=num>n</th><th class=num>threshold</th><th>verdict</th>"
        + ("<th class=num>baseline</th><th class=num>delta</th>" if with_base else "")
        + "</tr>"
    )
    rows = []
    for name in ordered(overall):
        m = overall[name]
        v = verdicts.get(name)
        value = finite(m.get("value"))
        base = finite((base_overall.get(name) or {}).get("value"))
        cells = [
            f"<td><code>{_e(name)}</code></td>",
            f"<td class=num>{_e(fmt(value))}</td>",
            f"<td class=num>{_e(_interval(m))}</td>",
            f"<td class=num>{_e(m.get('n', ''))}</td>",
            f"<td class=num>{_e(_spec(v)) if v else ''}</td>",
            "<td>"
            + ((_badge("PASS", "pass") if v["passed"] else _badge("FAIL", "fail")) if v else "")
            + "</td>",
        ]
        if with_base:
            cells += [
                f"<td class=num>{_e(fmt(base)) if base is not None else ''}</td>",
                f"<td class=num>{_delta(name, value, base)}</td>",
            ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    parts = [
        f'<section id="{_slug("task", task)}"><h3>{_e(task)}</h3>',
        f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>",
    ]
    if plots_on:
        from pytest_llmeval.export.html import plots

        plotted = [
            n
            for n in ordered(overall)
            if not n.endswith(("_ms", "_total")) and finite(overall[n].get("value")) is not None
        ]
        rates = [
            n
            for n in plotted
            if _is_rate(n, *(finite(overall[n].get(k)) for k in ("value", "lo", "hi")))
        ]
        scales = [n for n in plotted if n not in rates]
        thresholds = _threshold_map(run, task)
        uri = plots.interval_plot(
            f"{task}: metrics with 95% intervals",
            overall,
            rates,
            base_overall if with_base else None,
            thresholds=thresholds,
        )
        if uri:
            parts.append(f'<img class="plot" alt="{_e(task)} metrics" src="{uri}">')
        if scales:
            values = [
                x
                for n in scales
                for x in (finite(overall[n].get(k)) for k in ("value", "lo", "hi"))
                if x is not None
            ]
            low = min(0.0, *values) if values else 0.0
            high = max(values) if values else 1.0
            uri = plots.interval_plot(
                f"{task}: scores with 95% intervals",
                overall,
                scales,
                base_overall if with_base else None,
                xlim=(low, math.ceil(high)) if high > low else None,
                thresholds=thresholds,
            )
            if uri:
                parts.append(f'<img class="plot" alt="{_e(task)} scores" src="{uri}">')
    slice_names = [s for s in slices if s and "accuracy" in slices[s]]
    if slice_names:
        srows = []
        for sl in slice_names:
            m = slices[sl]["accuracy"]
            value = finite(m.get("value"))
            base = finite(((base_slices.get(sl) or {}).get("accuracy") or {}).get("value"))
            row = (
                f"<td>{_e(sl)}</td><td class=num>{_e(m.get('n', ''))}</td>"
                f"<td class=num>{_e(fmt(value))}</td><td class=num>{_e(_interval(m))}</td>"
            )
            if with_base:
                row += (
                    f"<td class=num>{_e(fmt(base)) if base is not None else ''}</td>"
                    f"<td class=num>{_delta('accuracy', value, base)}</td>"
                )
            srows.append(f"<tr>{row}</tr>")
        shead = (
            "<tr><th>slice</th><th class=num>n</th><th class=num>accuracy</th>"
            "<th class=num>95% interval</th>"
            + ("<th class=num>baseline</th><th class=num>delta</th>" if with_base else "")
            + "</tr>"
        )
        parts.append(
            f"<h4>Slices</h4><table><thead>{shead}</thead><tbody>{''.join(srows)}</tbody></table>"
        )
        if plots_on:
            from pytest_llmeval.export.html import plots

            acc = {sl: slices[sl]["accuracy"] for sl in slice_names}
            if "accuracy" in overall:
                acc = {"(all)": overall["accuracy"], **acc}
            base_acc = None
            if with_base:
                base_acc = {
                    sl: (base_slices.get(sl) or {}).get("accuracy") or {} for sl in slice_names
                }
                base_acc["(all)"] = base_overall.get("accuracy") or {}
            uri = plots.interval_plot(
                f"{task}: accuracy per slice with 95% intervals",
                acc,
                list(acc),
                base_acc,
            )
            if uri:
                parts.append(f'<img class="plot" alt="{_e(task)} slices" src="{uri}">')
    parts.append("</section>")
    return "".join(parts)


def _latency_section(samples: Sequence[SampleResult], plots_on: bool) -> str:
    by_task: dict[str, list[float]] = defaultdict(list)
    judge: dict[str, list[float]] = defaultdict(list)
    for r in samples:
        if not r.error and (v := _latency_ms(r)) is not None:
            by_task[r.task].append(v)
        if (j := finite(r.call("judge").latency_ms)) is not None:
            judge[r.task].append(j)
    if not by_task:
        return '<section id="latency"><h2>Latency</h2><p class="muted">No latencies.</p></section>'
    from pytest_llmeval.stats import percentile

    rows = "".join(
        f"<tr><td>{_e(task)}</td><td class=num>{len(v)}</td>"
        f"<td class=num>{percentile(v, 50):,.0f}</td><td class=num>{percentile(v, 95):,.0f}</td>"
        f"<td class=num>{max(v):,.0f}</td>"
        f"<td class=num>{_judge_p50(judge.get(task))}</td></tr>"
        for task, v in sorted(by_task.items())
    )
    img = ""
    if plots_on:
        from pytest_llmeval.export.html import plots

        uri = plots.latency_histogram(by_task)
        if uri:
            img = f'<img class="plot" alt="latency distribution" src="{uri}">'
    return (
        '<section id="latency"><h2>Latency</h2>'
        '<p class="muted">The model\'s latency per sample (a cached answer counts with its '
        "original latency); errored samples are left out.</p>"
        f"{img}<table><thead><tr><th>task</th><th class=num>n</th><th class=num>p50 ms</th>"
        "<th class=num>p95 ms</th><th class=num>max ms</th><th class=num>judge p50 ms</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></section>"
    )
