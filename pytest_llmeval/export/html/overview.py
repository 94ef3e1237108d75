"""The top of the HTML report: the page header, the headline numbers per task, the run
(model, parameters, commit, datasets, timing, tokens) and the threshold gate."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from pytest_llmeval.export.html.markup import (
    _badge,
    _e,
    _interval,
    _json_text,
    _latency_ms,
    _spec,
)
from pytest_llmeval.export.summary import fmt, ordered
from pytest_llmeval.result import SampleResult
from pytest_llmeval.stats import finite
from pytest_llmeval.store.results import Run


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


def _run_section(run: Run, samples: Sequence[SampleResult]) -> str:
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

    def total(role: str, field: str) -> int:
        return sum(int(v) for r in samples if (v := getattr(r.call(role), field)))

    prompt, completion = total("model", "prompt_tokens"), total("model", "completion_tokens")
    judge_prompt = total("judge", "prompt_tokens")
    judge_completion = total("judge", "completion_tokens")
    cached = sum(1 for r in samples if r.call("model").cached)
    errors = sum(1 for r in samples if r.error)
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
        ("cost", _e(_cost(samples))),
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


def _kpis(run: Run, samples: Sequence[SampleResult]) -> str:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in samples:
        kind = "error" if r.error else ("passed" if r.passed else "missed")
        counts[r.task][kind] += 1
    cards = []
    for task, slices in run.metrics.items():
        overall = slices.get("", {})
        name = "accuracy" if "accuracy" in overall else next(iter(ordered(overall)), None)
        m = overall.get(name, {}) if name else {}
        value = finite(m.get("value"))
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


def _cost(samples: Sequence[SampleResult]) -> str:
    costs = [c for r in samples for c in (r.call("model").cost_usd, r.call("judge").cost_usd)
             if c is not None]  # fmt: skip
    if not costs:
        return "no price for this model: tokens only"
    return f"${sum(costs):.4f} (cached answers cost nothing)"
