"""One self-contained HTML file per run: inline CSS, figures as ``data:`` PNGs, no script and
no external URL, so it reads offline and can be attached to a CI job as is.

Sections: the run (model, parameters, commit, datasets, timing, tokens), the threshold gate,
the baseline comparison (when there is one: verdicts, flipped samples), per task its metrics
and slices with 95% intervals (tables and plots, with the baseline's values and the deltas),
the latency distribution, and the worst samples: prompt, output and expected side by side, a
field-level diff for JSON outputs and the judge's rationale.

Every text that comes from a run (outputs, prompts, ids, explanations) is HTML-escaped, and a
Content-Security-Policy allows no script and no resource but the inline styles and images.

This module is the page (its style sheet and skeleton); the sections are drawn by
``overview`` (header, headline numbers, run, gate), ``baseline`` (the comparison),
``tasks`` (metrics, slices, latency) and ``samples`` (the worst samples, ``json_diff``),
from the pieces in ``markup``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pytest_llmeval.export.html.baseline import _baseline_section
from pytest_llmeval.export.html.markup import _badge, _e
from pytest_llmeval.export.html.overview import _gate_section, _header, _kpis, _run_section
from pytest_llmeval.export.html.samples import _samples_section, json_diff
from pytest_llmeval.export.html.tasks import _latency_section, _task_section
from pytest_llmeval.export.summary import worst
from pytest_llmeval.gate.baseline import Comparison
from pytest_llmeval.result import SampleResult
from pytest_llmeval.store.results import Run

__all__ = ["CSP", "CSS", "json_diff", "render", "worst"]

# Nothing runs and nothing loads: inline styles and data: images only. The page shows model
# outputs (untrusted text, escaped anyway), and stays readable offline as one file.
CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'"
)

CSS = """
:root { --fg:#111827; --muted:#6b7280; --line:#e5e7eb; --bg:#f9fafb; --card:#fff;
  --pass:#15803d; --pass-bg:#dcfce7; --fail:#b91c1c; --fail-bg:#fee2e2; --warn:#a16207;
  --warn-bg:#fef9c3; --info:#1d4ed8; --info-bg:#dbeafe; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
  color:var(--fg); background:var(--bg); }
main { max-width:1160px; margin:0 auto; padding:20px 24px 48px; }
header.top { background:#111827; color:#f9fafb; padding:18px 24px; }
header.top .inner { max-width:1160px; margin:0 auto; }
header.top h1 { margin:0 0 4px; font-size:22px; }
header.top .sub { color:#d1d5db; font-size:13px; }
header.top .sub code { color:#f9fafb; }
nav { margin:10px 0 0; font-size:13px; }
nav a { color:#93c5fd; margin-right:14px; text-decoration:none; }
h2 { font-size:18px; margin:28px 0 10px; padding-bottom:4px; border-bottom:2px solid var(--line); }
h3 { font-size:15px; margin:18px 0 8px; }
h4 { font-size:13px; margin:10px 0 6px; color:var(--muted); text-transform:uppercase;
  letter-spacing:.04em; }
section { margin-bottom:8px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 16px;
  margin:10px 0; }
.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(220px,1fr)); gap:10px; }
.cards.run { grid-template-columns:2fr 1fr; }
.kpi .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.kpi .value { font-size:26px; font-weight:650; }
.kpi .detail { color:var(--muted); font-size:12px; }
table { border-collapse:collapse; width:100%; background:var(--card); font-size:13px; }
th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#f3f4f6; font-weight:600; white-space:nowrap; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tr.sub td { color:var(--muted); }
dl.meta { display:grid; grid-template-columns:max-content 1fr max-content 1fr; gap:4px 16px;
  margin:0; }
dl.meta dt { color:var(--muted); }
dl.meta dd { margin:0; overflow-wrap:anywhere; }
code, pre { font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace;
  font-size:12px; }
pre { margin:0; white-space:pre-wrap; overflow-wrap:anywhere; background:#f3f4f6;
  border-radius:6px; padding:8px; max-height:22em; overflow:auto; }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px;
  font-weight:600; white-space:nowrap; }
.pass { color:var(--pass); background:var(--pass-bg); }
.fail { color:var(--fail); background:var(--fail-bg); }
.warn { color:var(--warn); background:var(--warn-bg); }
.info { color:var(--info); background:var(--info-bg); }
.neutral { color:#374151; background:#e5e7eb; }
.better { color:var(--pass); } .worse { color:var(--fail); }
.muted { color:var(--muted); }
img.plot { display:block; max-width:100%; height:auto; margin:8px 0; }
.grid3 { display:grid; grid-template-columns:repeat(3,minmax(0,1fr)); gap:10px; }
.grid3 > div > h4:first-child { margin-top:0; }
.msg { margin-bottom:6px; }
.role { font-size:11px; font-weight:600; color:var(--muted); text-transform:uppercase; }
article.sample { background:var(--card); border:1px solid var(--line); border-left:4px solid var(--fail);
  border-radius:8px; padding:12px 14px; margin:12px 0; }
article.sample.error { border-left-color:var(--warn); }
article.sample h3 { margin:0 0 6px; }
ul.why { margin:4px 0 8px; padding-left:18px; }
.diff td.status { font-weight:600; white-space:nowrap; }
.diff tr.match td.status { color:var(--pass); }
.diff tr.wrong td { background:#fff7ed; } .diff tr.wrong td.status { color:#c2410c; }
.diff tr.missing td { background:var(--fail-bg); } .diff tr.missing td.status { color:var(--fail); }
.diff tr.extra td { background:var(--info-bg); } .diff tr.extra td.status { color:var(--info); }
blockquote.judge { margin:8px 0 0; padding:8px 12px; border-left:3px solid #9333ea;
  background:#faf5ff; }
details { margin:6px 0; } summary { cursor:pointer; }
table.flips { table-layout:fixed; margin-top:6px; } table.flips th:first-child { width:14%; }
table.flips pre { max-height:10em; }
footer { color:var(--muted); font-size:12px; margin-top:32px; }
@media (max-width: 860px) { .grid3 { grid-template-columns:1fr; }
  dl.meta { grid-template-columns:max-content 1fr; } }
"""


def render(
    run: Run,
    samples: Sequence[SampleResult],
    baseline_run: Run | None = None,
    comparison: Comparison | Mapping[str, Any] | None = None,
    *,
    baseline_samples: Sequence[SampleResult] | None = None,
    top: int = 10,
) -> str:
    """The report of ``run`` as one HTML document.

    ``baseline_run`` adds baseline values and deltas to the metric tables and plots;
    ``comparison`` (a :class:`Comparison` or its ``as_dict`` form) the comparison section,
    by default the one stored with the run when it was gated against ``baseline_run`` (or
    against any baseline, when none is given); ``baseline_samples`` the baseline's outputs
    beside the candidate's for flipped samples; ``top`` how many samples to show per task."""
    from pytest_llmeval.export.html import plots

    if (
        comparison is None
        and run.comparison
        and (baseline_run is None or baseline_run.id == run.baseline)
    ):
        comparison = run.comparison
    cmp = (
        Comparison.from_dict(comparison)
        if comparison is not None and not isinstance(comparison, Comparison)
        else comparison
    )
    plots_on = plots.available()
    gate = ""
    if run.verdicts:
        ok = all(v.get("passed") for v in run.verdicts)
        gate = _badge("gate PASSED" if ok else "gate FAILED", "pass" if ok else "fail")
    regression = ""
    if cmp is not None:
        regression = _badge(
            "baseline REGRESSION" if cmp.failed else "no baseline regression",
            "fail" if cmp.failed else "pass",
        )
    samples_html, anchors = _samples_section(run, samples, top)
    tasks = "".join(
        _task_section(run, task, slices, baseline_run, plots_on)
        for task, slices in run.metrics.items()
    )
    base_note = (
        f'<p class="muted">Baseline values and deltas from run <code>{_e(baseline_run.id)}</code> '
        f"({_e(baseline_run.model)}).</p>"
        if baseline_run
        else ""
    )
    no_plots = (
        ""
        if plots_on
        else '<p class="muted">Plots need matplotlib: <code>pip install '
        "'pytest-llmeval[report]'</code>.</p>"
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    body = "".join(
        [
            _header(run, gate, regression),
            "<main>",
            _kpis(run, samples),
            _run_section(run, samples),
            _gate_section(run),
            _baseline_section(cmp, samples, baseline_samples, anchors, top),
            f'<section id="tasks"><h2>Metrics per task and slice</h2>{base_note}{no_plots}',
            tasks or '<p class="muted">No metrics.</p>',
            "</section>",
            _latency_section(samples, plots_on),
            samples_html,
            f"<footer>Generated by pytest-llmeval {_e(run.plugin_version or '')} on {generated}."
            "</footer></main>",
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>llmeval report: {_e(run.model)} {_e(run.id)}</title>"
        f"<style>{CSS}</style></head><body>{body}</body></html>\n"
    )
