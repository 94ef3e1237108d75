"""Text rendering of a run's metrics and verdicts, shared by the plugin and the CLI. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_llmeval.models.base import ToolCall
from pytest_llmeval.stats import finite
from pytest_llmeval.untrusted import printable

if TYPE_CHECKING:
    from pytest_llmeval.result import SampleResult
    from pytest_llmeval.suite import Case

# Shown first, in this order; other metrics follow alphabetically.
LEADING = (
    "accuracy",
    "exact_match",
    "parse_rate",
    "schema_valid_rate",
    "field_f1",
    "f1",
    "contains",
    "error_rate",
)
SLICE_METRIC = "accuracy"


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 1000 or (value != 0 and float(value).is_integer() and abs(value) > 1):
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def fmt_value(value: float | None) -> str:
    """A metric's value where a gate message names it: as the metrics table shows it."""
    return "missing" if value is None else fmt(value)


def interval(m: Mapping[str, Any]) -> str:
    if m.get("lo") is None or m.get("hi") is None:
        return ""
    return f"[{fmt(m['lo'])}, {fmt(m['hi'])}]"


def ordered(metrics: Mapping[str, Any]) -> list[str]:
    first = [m for m in LEADING if m in metrics]
    # repeats: pass@k, pass^k (by k) and flip_rate right after accuracy
    tries = sorted((m for m in metrics if m[:5] in ("pass@", "pass^")), key=_by_k)
    tries += ["flip_rate"] if "flip_rate" in metrics else []
    first[1:1] = tries if first[:1] == ["accuracy"] else []
    rest = tries if first[:1] != ["accuracy"] else []
    return first + rest + sorted(m for m in metrics if m not in first and m not in rest)


def _by_k(metric: str) -> tuple[str, int]:
    kind, k = metric[:5], metric[5:]
    return kind, int(k) if k.isdigit() else 0


def task_table(
    task: str,
    slices: Mapping[str, Mapping[str, Mapping[str, Any]]],
    verdicts: Sequence[Mapping[str, Any]],
    checked: bool = True,
) -> list[str]:
    """One task's metrics with their thresholds; ``checked=False`` (the run was not
    evaluated) shows each threshold as "not checked" rather than a PASS the gate never gave."""
    overall = slices.get("", {})
    by_metric = {v["metric"]: v for v in verdicts if v["task"] == task}
    # samples: accuracy's n (with repeats, errors and latencies count tries)
    n = (overall.get("accuracy") or {}).get("n") or max(
        (m["n"] for m in overall.values()), default=0
    )
    lines = [f"{task}  (n={n})"]
    rows = [("metric", "value", "95% interval", "threshold", "verdict")]
    for name in ordered(overall):
        m = overall[name]
        v = by_metric.get(name)
        rows.append(
            (
                name,
                fmt(m["value"]),
                interval(m),
                f"{v['op']}{v['threshold']:g}" if v else "",
                _verdict(v, checked),
            )
        )
    for name, v in by_metric.items():
        if name not in overall:
            rows.append((name, "-", "", f"{v['op']}{v['threshold']:g}", _verdict(v, checked)))
    lines += _table(rows)
    slice_rows = [("slice", "n", SLICE_METRIC, "95% interval")]
    for sl, metrics in slices.items():
        if sl and SLICE_METRIC in metrics:
            m = metrics[SLICE_METRIC]
            slice_rows.append((sl, str(m["n"]), fmt(m["value"]), interval(m)))
    if len(slice_rows) > 1:
        lines += _table(slice_rows)
    return lines


def _verdict(v: Mapping[str, Any] | None, checked: bool) -> str:
    if v is None:
        return ""
    if not checked:
        return "not checked"
    if v.get("info"):  # a selection of the suite: shown, not gated
        return "(would pass)" if v["passed"] else "(would fail)"
    return "PASS" if v["passed"] else "FAIL"


def render(result: Mapping[str, Any]) -> list[str]:
    """The terminal summary: what happened first when the run could not be evaluated, then
    a table per task and slice, the misses, the gate, the run id and DB."""
    lines = []
    verdict = result.get("verdict")
    reason = result.get("reason")
    code = result.get("exitstatus")
    if verdict == "not evaluated" or (reason and code == 4):
        lines.append(f"llmeval NOT EVALUATED (exit {code}): {reason}")
    for note in result.get("notes") or ():
        lines.append(f"llmeval: {note}")
    verdicts = result.get("verdicts", [])
    for task, slices in result["metrics"].items():
        lines += task_table(task, slices, verdicts, checked=verdict != "not evaluated")
        found = (result.get("contamination") or {}).get(task)
        if found:
            lines.append(f"  contamination vs {found['source']}: {found['summary']}")
        misses, errors = result["misses"].get(task, 0), result["errors"].get(task, 0)
        if misses or errors:
            lines.append(f"  {misses} sample(s) missed, {errors} errored")
        lines.append("")
    shown = result.get("miss_details") or []
    missed = sum(result.get("misses", {}).values())
    if shown:
        more = (
            f" ({len(shown)} of {missed} shown; --llmeval-show-misses all for every one)"
            if len(shown) < missed
            else ""
        )
        lines.append(f"missed samples{more}:")
        for message in shown:
            lines += ["  " + line for line in str(message).splitlines()]
        lines.append("")
    for task, (chosen, whole) in (result.get("selections") or {}).items():
        lines.append(
            f"llmeval gate not applied to {task}: this run selected {chosen} of its {whole} "
            "samples (-k, --lf, --deselect or node ids), and thresholds over a hand-picked "
            "part say nothing about the suite; they are shown for information"
        )
    if result.get("shard"):
        lines.append(
            f"llmeval gate not applied: this run is shard {result['shard']} of every suite; "
            "gate the whole once every shard has run: llmeval merge SHARD.db... --into "
            "RUN.db, then llmeval gate latest --db RUN.db"
        )
    gating = [v for v in verdicts if not v.get("info")]
    failed = [v for v in gating if not v["passed"]]
    if gating and verdict == "not evaluated":
        lines.append("llmeval gate NOT EVALUATED: the thresholds were not checked")
    elif gating and verdict is None and result.get("status") == "interrupted":
        lines.append("llmeval gate not applied: the run was interrupted")
    elif gating and verdict is None and reason:
        lines.append(f"llmeval gate not applied: {reason}")
    elif gating:
        state = "FAILED" if failed else "PASSED"
        lines.append(
            f"llmeval gate {state}: {len(gating) - len(failed)}/{len(gating)} thresholds met"
        )
        for v in failed:
            note = f" ({v['note']})" if v["note"] else ""
            lines.append(
                f"  FAIL {v['task']}.{v['metric']} = {fmt_value(v['value'])}, needs "
                f"{v['op']}{v['threshold']:g}{note}"
            )
    elif not verdicts:
        lines.append("llmeval: no thresholds configured; sample misses fail like plain tests")
    if result.get("baseline"):
        lines += baseline_lines(result["baseline"])
    lines += cost_lines(result.get("cost"))
    engine = result.get("engine")
    if engine:
        lines.append(engine_line(engine))
    partial = " (partial: not every sample of every suite ran)" if result.get("partial") else ""
    why = f" ({reason})" if reason and result["status"] == "incomplete" else ""
    lines.append(
        f"llmeval run {result['run_id']}: {result['status']}{partial}{why}; "
        f"model {result.get('model')}; results in {result['db']}"
    )
    # reasons and notes quote servers and judges: every line is escaped (they hold no
    # control characters of ours; pytest colours what it writes itself)
    return [printable(line) for line in lines]


def baseline_lines(comparison: Mapping[str, Any]) -> list[str]:
    """The baseline comparison, rendered from its JSON form (as stored and reported)."""
    from pytest_llmeval.export.comparison import to_text
    from pytest_llmeval.gate.baseline import Comparison

    return to_text(Comparison.from_dict(comparison))


def cost_lines(cost: Mapping[str, Any] | None) -> list[str]:
    """What the run cost: USD where the models have prices, the tokens always."""
    if not cost or not (cost.get("prompt_tokens") or cost.get("completion_tokens")):
        return []
    tokens = f"{cost['prompt_tokens']:,} prompt + {cost['completion_tokens']:,} completion tokens"
    lines = []
    if cost.get("usd") is not None:
        lines.append(f"llmeval cost: ${cost['usd']:.4f} for {tokens} (cached answers: $0)")
    else:
        lines.append(f"llmeval cost: {tokens}")
    for spec in cost.get("unpriced") or ():
        lines.append(
            f"llmeval: no price for {spec} ([tool.llmeval.prices] in pyproject.toml, or "
            "--llmeval-prices FILE): its tokens are counted, not its cost"
        )
    return lines


def engine_line(e: Mapping[str, Any]) -> str:
    line = (
        f"llmeval engine: {e['planned']} planned, {e['prefetched']} prefetched, "
        f"{e['cold']} cold, {e['cache_hits']} from cache, {e['model_calls']} model calls, "
        f"{e['wasted']} wasted; concurrency {e['concurrency']}"
    )
    if e.get("batches"):
        line += f"; {e['batches']} batches of up to {e.get('batch_size')}"
    if e.get("unsent"):
        line += f"; {e['unsent']} not sent (budget)"
    if e.get("rate_limited"):
        line += f" (cut to {e['min_concurrency']} after {e['rate_limited']} rate-limited responses)"
    return line


def worst(samples: Sequence[SampleResult], task: str, limit: int) -> list[SampleResult]:
    """Errors first, then misses, lowest mean score first (``llmeval show`` and the HTML report)."""
    bad = [r for r in samples if r.task == task and (r.error or r.passed is False)]

    def rank(r: SampleResult) -> tuple[int, float, str]:
        values = [
            v
            for s in r.scores.values()
            if isinstance(s, Mapping) and (v := finite(s.get("value"))) is not None
        ]
        mean = sum(values) / len(values) if values else 0.0
        return (0 if r.error else 1, mean, r.sample_id)

    return sorted(bad, key=rank)[:limit]


def miss_message(case: Case, result: SampleResult | None, failing: Sequence[str]) -> str:
    """The failure text of a missed sample: which scorer, expected vs got."""
    s = case.sample
    head = f"[{case.suite.name}] {s.id} missed ({s.source}:{s.line})"
    lines = [head]
    scores = result.scores if result is not None else {}
    for name in failing:
        score = scores[name]
        why = score.get("explanation") or score.get("value")
        lines.append(f"  {name}: {_short(why, limit=1000)}")  # a judge's is up to 1000
    calls = result.model.tool_calls if result is not None and result.model else ()
    if case.suite.tools_field is not None or calls:
        lines.append(f"  expected call: {_short(_expected_calls(case.expected))}")
        got = "; ".join(ToolCall.from_dict(c).show() for c in calls)
        if not calls:
            got = f"no call, text {_short(result.output if result else None)}"
        lines.append(f"  got call:      {_short(got)}")
        return "\n".join(lines)
    lines.append(f"  expected: {_short(result.expected if result else None)}")
    lines.append(f"  got:      {_short(result.output if result else None)}")
    return "\n".join(lines)


def _expected_calls(expected: Any) -> str:
    """Expected calls as calls (``f(a=1|2, unit='units'|omitted)``), else as written."""
    from pytest_llmeval.scorers.toolcalls import expected_calls

    try:
        return "; ".join(c.show() for c in expected_calls(expected))
    except (TypeError, ValueError, KeyError, AttributeError):
        return str(expected)


def _short(text: Any, limit: int = 300) -> str:
    """Model or judge text on one line of a message: escaped, then cut."""
    t = printable(("" if text is None else str(text))[:limit])
    return t if len(t) <= limit else t[: limit - 3] + "..."


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
