"""One self-contained HTML file per run: inline CSS, figures as ``data:`` PNGs, no script and
no external URL, so it reads offline and can be attached to a CI job as is.

Sections: the run (model, parameters, commit, datasets, timing, tokens), the threshold gate,
the baseline comparison (when there is one: verdicts, flipped samples), per task its metrics
and slices with 95% intervals (tables and plots, with the baseline's values and the deltas),
the latency distribution, and the worst samples: prompt, output and expected side by side, a
field-level diff for JSON outputs and the judge's rationale.

Every text that comes from a run (outputs, prompts, ids, explanations) is HTML-escaped, and a
Content-Security-Policy allows no script and no resource but the inline styles and images.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from pytest_llmeval.compare import (
    IMPROVEMENT,
    REGRESSION,
    UNDERPOWERED,
    Comparison,
    MetricComparison,
    higher_is_worse,
)
from pytest_llmeval.results import Run
from pytest_llmeval.summary import fmt, ordered

# Nothing runs and nothing loads: inline styles and data: images only. The page shows model
# outputs (untrusted text, escaped anyway), and stays readable offline as one file.
CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'"
)
MAX_TEXT = 6000  # characters of a prompt message, output or expected shown per sample

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


# ------------------------------------------------------------------------------- helpers


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _slug(*parts: str) -> str:
    """An element id (and URL fragment) from parts joined by ``::`` (sample ids never hold
    ``::``); characters outside ``A-Za-z0-9_.-/`` become ``~hex``, so ids stay distinct."""
    return "::".join(re.sub(r"[^A-Za-z0-9_.\-/]", lambda m: f"~{ord(m[0]):x}", p) for p in parts)


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge {kind}">{_e(text)}</span>'


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit:,} more characters)"


def _pre(text: Any) -> str:
    return f"<pre>{_e(_clip('' if text is None else str(text)))}</pre>"


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


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


def _spec(verdict: Mapping[str, Any]) -> str:
    """``>=0.85``: a threshold verdict's operator and value."""
    return f"{verdict['op']}{float(verdict['threshold']):g}"


def _judge_p50(values: Sequence[float] | None) -> str:
    from pytest_llmeval.stats import percentile

    return f"{percentile(values, 50):,.0f}" if values else ""


def _interval(m: Mapping[str, Any]) -> str:
    lo, hi = _finite(m.get("lo")), _finite(m.get("hi"))
    return "" if lo is None or hi is None else f"[{fmt(lo)}, {fmt(hi)}]"


def _latency_ms(row: Mapping[str, Any]) -> float | None:
    return _finite(row.get("original_latency_ms" if row.get("cached") else "latency_ms"))


def _messages(prompt: Any) -> list[tuple[str, str]] | None:
    data = prompt
    if isinstance(prompt, str):
        try:
            data = json.loads(prompt)
        except ValueError:
            return None
    if isinstance(data, list) and all(isinstance(m, Mapping) for m in data):
        return [(str(m.get("role", "")), _content(m.get("content"))) for m in data]
    return None


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multi-part content: the text parts
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return "" if content is None else json.dumps(content, ensure_ascii=False)


def _json_value(text: Any) -> Any:
    """``expected`` as stored: JSON text of an object or list, else None."""
    if isinstance(text, dict | list):
        return text
    if not isinstance(text, str) or not text.strip().startswith(("{", "[")):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None


# ------------------------------------------------------------------------------- JSON diff


def json_diff(expected: Any, output: str | None) -> tuple[list[dict[str, Any]], str]:
    """Field-level comparison of a JSON output with the expected value: rows of ``path``,
    ``expected``, ``got`` and ``status`` (``match``, ``wrong``, ``missing``, ``extra``),
    compared after the JSON scorers' canonicalization, and how the output was parsed
    (``direct``, ``fence``, ``balanced``, or why it could not be)."""
    from pytest_llmeval.scorers.json_extraction import flatten, parse_json

    parsed, how = parse_json(output or "")
    exp = flatten(expected)
    got = flatten(parsed) if parsed is not None else {}
    rows: list[dict[str, Any]] = []
    for path, (canon, original) in exp.items():
        if path not in got:
            rows.append({"path": path, "expected": original, "got": None, "status": "missing"})
        else:
            status = "match" if got[path][0] == canon else "wrong"
            rows.append({"path": path, "expected": original, "got": got[path][1], "status": status})
    for path, (_, original) in got.items():
        if path not in exp:
            rows.append({"path": path, "expected": None, "got": original, "status": "extra"})
    return rows, how


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _diff_table(expected: Any, output: str | None) -> str:
    rows, how = json_diff(expected, output)
    if how not in ("direct", "fence", "balanced"):
        return (
            '<h4>JSON fields: expected vs output</h4><p class="muted">The output has no JSON '
            f"to compare ({_e(how)}): all {len(rows)} expected fields are missing.</p>"
        )
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[r["status"]] += 1
    summary = ", ".join(f"{counts[k]} {k}" for k in ("match", "wrong", "missing", "extra"))
    note = f"output parsed ({_e(how)}): {summary}"
    body = "".join(
        f'<tr class="{r["status"]}"><td><code>{_e(r["path"] or "(root)")}</code></td>'
        f"<td><code>{'' if r['status'] == 'extra' else _e(_json_text(r['expected']))}</code></td>"
        f"<td><code>{'' if r['status'] == 'missing' else _e(_json_text(r['got']))}</code></td>"
        f'<td class="status">{_e(r["status"])}</td></tr>'
        for r in rows
    )
    return (
        f'<h4>JSON fields: expected vs output</h4><p class="muted">{note}</p>'
        '<table class="diff"><thead><tr><th>field</th><th>expected</th><th>output</th>'
        f"<th>status</th></tr></thead><tbody>{body}</tbody></table>"
    )


# ------------------------------------------------------------------------------- sections


def _header(run: Run, gate: str, regression: str) -> str:
    partial = " " + _badge("partial", "warn") if run.partial else ""
    status_kind = "pass" if run.status == "complete" else "warn"
    return (
        '<header class="top"><div class="inner">'
        f"<h1>llmeval report: {_e(run.model or 'unknown model')}</h1>"
        f'<div class="sub">run <code>{_e(run.id)}</code> &middot; '
        f"started {_e(run.started_at[:19].replace('T', ' '))} UTC &middot; "
        f"{_badge(run.status, status_kind)}{partial} {gate} {regression}</div>"
        '<nav><a href="#run">Run</a><a href="#gate">Gate</a><a href="#baseline">Baseline</a>'
        '<a href="#tasks">Tasks</a><a href="#latency">Latency</a>'
        '<a href="#samples">Worst samples</a></nav>'
        "</div></header>"
    )


def _run_section(run: Run, samples: Sequence[Mapping[str, Any]]) -> str:
    started, finished = _time(run.started_at), _time(run.finished_at)
    duration = (
        _duration((finished - started).total_seconds()) if started and finished else "running"
    )
    commit = (
        f"<code>{_e(run.git_commit)}</code>"
        + (" " + _badge("dirty", "warn") if run.git_dirty else "")
        if run.git_commit
        else '<span class="muted">not a git checkout</span>'
    )

    def total(field: str) -> int:
        return sum(int(r[field]) for r in samples if r.get(field) is not None)

    prompt, completion = total("prompt_tokens"), total("completion_tokens")
    judge_prompt, judge_completion = total("judge_prompt_tokens"), total("judge_completion_tokens")
    cached = sum(1 for r in samples if r.get("cached"))
    errors = sum(1 for r in samples if r.get("error"))
    model_time = sum(v for r in samples if (v := _latency_ms(r)) is not None) / 1000.0
    tokens = f"{prompt:,} prompt + {completion:,} completion"
    if judge_prompt or judge_completion:
        tokens += f"; judge {judge_prompt:,} + {judge_completion:,}"
    meta = [
        ("model", f"<code>{_e(run.model)}</code>"),
        ("run id", f"<code>{_e(run.id)}</code>"),
        ("status", _e(run.status) + (" (partial: not every sample ran)" if run.partial else "")),
        ("exit status", _e(run.exitstatus)),
        ("started", _e(run.started_at)),
        ("finished", _e(run.finished_at or "-")),
        ("duration", _e(duration)),
        ("commit", commit),
        ("host", _e(run.host)),
        ("plugin version", _e(run.plugin_version)),
        ("samples", f"{len(samples):,} ({cached:,} from the cache, {errors:,} errored)"),
        ("tokens", _e(tokens)),
        ("model time", f"{model_time:,.1f} s summed over samples"),
    ]
    if run.baseline:
        meta.append(("gated against", f"<code>{_e(run.baseline)}</code>"))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in meta)
    params = "".join(
        f"<tr><td><code>{_e(k)}</code></td><td><code>{_e(_json_text(v))}</code></td></tr>"
        for k, v in sorted(run.params.items())
        if v is not None
    )
    datasets = "".join(
        f'<tr><td><code>{_e(name)}</code></td><td><code title="{_e(digest)}">'
        f"{_e(str(digest)[:16])}</code></td></tr>"
        for name, digest in sorted(run.datasets.items())
    )
    return (
        '<section id="run"><h2>Run</h2><div class="cards run">'
        f'<div class="card"><dl class="meta">{dl}</dl></div>'
        '<div class="card"><h4>Parameters</h4><table><tbody>'
        f"{params or '<tr><td class=muted>none</td></tr>'}</tbody></table>"
        "<h4>Datasets (sha256)</h4><table><tbody>"
        f"{datasets or '<tr><td class=muted>none</td></tr>'}</tbody></table></div>"
        "</div></section>"
    )


def _kpis(run: Run, samples: Sequence[Mapping[str, Any]]) -> str:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in samples:
        kind = "error" if r.get("error") else ("passed" if r.get("passed") else "missed")
        counts[str(r.get("task"))][kind] += 1
    cards = []
    for task, slices in run.metrics.items():
        overall = slices.get("", {})
        name = "accuracy" if "accuracy" in overall else next(iter(ordered(overall)), None)
        m = overall.get(name, {}) if name else {}
        value = _finite(m.get("value"))
        c = counts.get(task, {})
        cards.append(
            f'<div class="card kpi"><div class="label">{_e(task)} &middot; {_e(name or "-")}</div>'
            f'<div class="value">{_e(fmt(value))}</div>'
            f'<div class="detail">95% interval {_e(_interval(m) or "-")}; '
            f"{c.get('passed', 0)} passed, {c.get('missed', 0)} missed, "
            f"{c.get('error', 0)} errored</div></div>"
        )
    return f'<div class="cards">{"".join(cards)}</div>' if cards else ""


def _gate_section(run: Run) -> str:
    if not run.verdicts:
        return (
            '<section id="gate"><h2>Gate</h2><p class="muted">No thresholds configured: '
            "misses fail like plain tests.</p></section>"
        )
    failed = [v for v in run.verdicts if not v.get("passed")]
    rows = "".join(
        f"<tr><td>{_e(v['task'])}</td><td><code>{_e(v['metric'])}</code></td>"
        f'<td class="num">{_e("missing" if v.get("value") is None else fmt(v["value"]))}</td>'
        f'<td class="num">{_e(_spec(v))}</td>'
        f"<td>{_badge('PASS', 'pass') if v.get('passed') else _badge('FAIL', 'fail')}</td>"
        f'<td class="muted">{_e(v.get("note") or v.get("source") or "")}</td></tr>'
        for v in run.verdicts
    )
    head = (
        _badge(f"gate FAILED: {len(failed)} of {len(run.verdicts)} thresholds missed", "fail")
        if failed
        else _badge(f"gate PASSED: {len(run.verdicts)}/{len(run.verdicts)} thresholds met", "pass")
    )
    return (
        f'<section id="gate"><h2>Gate</h2><p>{head}</p><table><thead><tr><th>task</th>'
        '<th>metric</th><th class="num">value</th><th class="num">threshold</th>'
        f"<th>verdict</th><th>source</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


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
    base_rows: Mapping[tuple[str, str], Mapping[str, Any]],
    cand_rows: Mapping[tuple[str, str], Mapping[str, Any]],
    anchors: set[str],
    top: int,
) -> str:
    out = []
    for sid in ids[:top]:
        b, c = base_rows.get((task, sid), {}), cand_rows.get((task, sid), {})
        anchor = _slug("sample", task, sid)
        label = (
            f'<a href="#{anchor}"><code>{_e(sid)}</code></a>'
            if anchor in anchors
            else f"<code>{_e(sid)}</code>"
        )
        out.append(
            f"<tr><td>{label}</td><td>{_pre(b.get('output')) if b else '-'}</td>"
            f"<td>{_pre(c.get('output')) if c else '-'}</td>"
            f"<td>{_pre(_pretty_expected(c.get('expected') if c else b.get('expected')))}</td></tr>"
        )
    more = len(ids) - min(len(ids), top)
    if more:
        out.append(f'<tr class="sub"><td colspan="4">... and {more} more</td></tr>')
    return "".join(out)


def _baseline_section(
    comparison: Comparison | None,
    samples: Sequence[Mapping[str, Any]],
    baseline_samples: Sequence[Mapping[str, Any]] | None,
    anchors: set[str],
    top: int,
) -> str:
    if comparison is None:
        return (
            '<section id="baseline"><h2>Baseline</h2><p class="muted">No baseline comparison: '
            "run with <code>--llmeval-baseline RUN</code> or "
            "<code>llmeval report RUN --baseline OTHER</code>.</p></section>"
        )
    from pytest_llmeval.compare_report import headline, underpowered_note

    c = comparison
    parts = [
        '<section id="baseline"><h2>Baseline comparison</h2>',
        f"<p>{_badge(headline(c), 'fail' if c.failed else 'pass')}</p>",
        f'<p class="muted">baseline <code>{_e(c.baseline_label)}</code> &rarr; candidate '
        f"<code>{_e(c.candidate_label)}</code>; one-sided tests at alpha = {c.alpha:g}, "
        f"{c.confidence:.0%} intervals of candidate &minus; baseline.</p>",
    ]
    base_rows = {(str(r["task"]), str(r["sample_id"])): r for r in baseline_samples or ()}
    cand_rows = {(str(r["task"]), str(r["sample_id"])): r for r in samples}
    for t in c.tasks:
        bits = [f"{t.paired} pairs"]
        if t.added:
            bits.append(f"{len(t.added)} added")
        if t.removed:
            bits.append(f"{len(t.removed)} removed")
        if t.errored:
            bits.append(f"{t.errored} left out for errors")
        parts.append(f'<h3>{_e(t.task)} <span class="muted">({_e(", ".join(bits))})</span></h3>')
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
        value = _finite(m.get("value"))
        base = _finite((base_overall.get(name) or {}).get("value"))
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
        from pytest_llmeval.report import plots

        plotted = [
            n
            for n in ordered(overall)
            if not n.endswith(("_ms", "_total")) and _finite(overall[n].get("value")) is not None
        ]
        rates = [
            n
            for n in plotted
            if _is_rate(n, *(_finite(overall[n].get(k)) for k in ("value", "lo", "hi")))
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
                for x in (_finite(overall[n].get(k)) for k in ("value", "lo", "hi"))
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
            value = _finite(m.get("value"))
            base = _finite(((base_slices.get(sl) or {}).get("accuracy") or {}).get("value"))
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
            from pytest_llmeval.report import plots

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


def _latency_section(samples: Sequence[Mapping[str, Any]], plots_on: bool) -> str:
    by_task: dict[str, list[float]] = defaultdict(list)
    judge: dict[str, list[float]] = defaultdict(list)
    for r in samples:
        if not r.get("error") and (v := _latency_ms(r)) is not None:
            by_task[str(r.get("task"))].append(v)
        if (j := _finite(r.get("judge_latency_ms"))) is not None:
            judge[str(r.get("task"))].append(j)
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
        from pytest_llmeval.report import plots

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


def worst(samples: Sequence[Mapping[str, Any]], task: str, limit: int) -> list[Mapping[str, Any]]:
    """Errors first, then misses, lowest mean score first (as ``llmeval show``)."""
    bad = [
        r for r in samples if r.get("task") == task and (r.get("error") or r.get("passed") is False)
    ]

    def rank(r: Mapping[str, Any]) -> tuple[int, float, str]:
        values = [
            v
            for s in (r.get("scores") or {}).values()
            if isinstance(s, Mapping) and (v := _finite(s.get("value"))) is not None
        ]
        mean = sum(values) / len(values) if values else 0.0
        return (0 if r.get("error") else 1, mean, str(r.get("sample_id")))

    return sorted(bad, key=rank)[:limit]


def _pretty_expected(expected: Any) -> Any:
    value = _json_value(expected)
    return json.dumps(value, indent=2, ensure_ascii=False) if value is not None else expected


def _sample_card(r: Mapping[str, Any]) -> str:
    task, sid = str(r.get("task")), str(r.get("sample_id"))
    scores = r.get("scores") or {}
    error = r.get("error")
    status = _badge("ERROR", "warn") if error else _badge("MISS", "fail")
    facts = [f"<code>{_e(r.get('nodeid'))}</code>"]
    if r.get("slices"):
        facts.append("slices " + ", ".join(_e(s) for s in r["slices"]))
    latency = _latency_ms(r)
    if latency is not None:
        facts.append(f"{latency:,.0f} ms" + (" (cached)" if r.get("cached") else ""))
    if r.get("completion_tokens") is not None:
        facts.append(f"{r.get('prompt_tokens')} + {r.get('completion_tokens')} tokens")
    if r.get("finish_reason"):
        facts.append(f"finish: {_e(r['finish_reason'])}")
    why = []
    if error:
        why.append(f"<li>{_e(r.get('error_kind') or 'error')}: {_e(error)}</li>")
    for name, s in scores.items():
        if isinstance(s, Mapping) and s.get("passed") is False:
            text = s.get("explanation") or fmt(_finite(s.get("value")))
            if name == "judge":  # its rationale has a block of its own
                text = f"score {fmt(_finite(s.get('value')))}, below the rubric's pass mark"
            why.append(f"<li><code>{_e(name)}</code>: {_e(text)}</li>")
    messages = _messages(r.get("prompt"))
    if messages is not None:
        prompt = "".join(
            f'<div class="msg"><div class="role">{_e(role)}</div>{_pre(content)}</div>'
            for role, content in messages
        )
    else:
        prompt = _pre(r.get("prompt"))
    expected_value = _json_value(r.get("expected"))
    parts = [
        f'<article class="sample{" error" if error else ""}" id="{_slug("sample", task, sid)}">',
        f"<h3>{status} {_e(task)} / <code>{_e(sid)}</code></h3>",
        f'<div class="muted">{" &middot; ".join(facts)}</div>',
        f'<ul class="why">{"".join(why)}</ul>' if why else "",
        '<div class="grid3">',
        f"<div><h4>Prompt</h4>{prompt}</div>",
        f"<div><h4>Output</h4>{_pre(r.get('output'))}</div>",
        f"<div><h4>Expected</h4>{_pre(_pretty_expected(r.get('expected')))}</div>",
        "</div>",
    ]
    json_task = any(str(n).startswith("json_") for n in scores)
    if expected_value is not None and (isinstance(expected_value, dict) or json_task) and not error:
        parts.append(_diff_table(expected_value, r.get("output")))
    judge = scores.get("judge")
    if isinstance(judge, Mapping) and judge.get("explanation"):
        dims = (judge.get("metadata") or {}).get("scores") or {}
        dim_text = ", ".join(f"{k} {v}" for k, v in dims.items())
        score = _finite(judge.get("value"))
        parts.append(
            '<blockquote class="judge"><div class="role">judge rationale'
            + (f" &middot; score {fmt(score)}" if score is not None else "")
            + (f" ({_e(dim_text)})" if dim_text else "")
            + f"</div>{_e(judge['explanation'])}</blockquote>"
        )
    parts.append("</article>")
    return "".join(parts)


def _samples_section(
    run: Run, samples: Sequence[Mapping[str, Any]], top: int
) -> tuple[str, set[str]]:
    tasks = list(run.metrics) or sorted({str(r.get("task")) for r in samples})
    parts = ['<section id="samples"><h2>Worst samples</h2>']
    anchors: set[str] = set()
    any_shown = False
    for task in tasks:
        rows = worst(samples, task, top)
        if not rows:
            continue
        any_shown = True
        total = sum(
            1
            for r in samples
            if r.get("task") == task and (r.get("error") or r.get("passed") is False)
        )
        parts.append(
            f'<h3>{_e(task)} <span class="muted">({len(rows)} of {total} misses and errors; '
            "errors first, then lowest scores)</span></h3>"
        )
        for r in rows:
            anchors.add(_slug("sample", task, str(r.get("sample_id"))))
            parts.append(_sample_card(r))
    if not any_shown:
        text = "Every sample passed." if samples else "No samples."
        parts.append(f'<p class="muted">{text}</p>')
    parts.append("</section>")
    return "".join(parts), anchors


# ------------------------------------------------------------------------------- render


def render(
    run: Run,
    samples: Sequence[Mapping[str, Any]],
    baseline_run: Run | None = None,
    comparison: Comparison | Mapping[str, Any] | None = None,
    *,
    baseline_samples: Sequence[Mapping[str, Any]] | None = None,
    top: int = 10,
) -> str:
    """The report of ``run`` as one HTML document.

    ``baseline_run`` adds baseline values and deltas to the metric tables and plots;
    ``comparison`` (a :class:`Comparison` or its ``as_dict`` form) the comparison section,
    by default the one stored with the run when it was gated against ``baseline_run`` (or
    against any baseline, when none is given); ``baseline_samples`` the baseline's outputs
    beside the candidate's for flipped samples; ``top`` how many samples to show per task."""
    from pytest_llmeval.report import plots

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
