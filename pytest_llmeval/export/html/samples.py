"""The worst samples of the HTML report: per task the errors and misses, each with its prompt,
output and expected side by side, a field-level diff for JSON outputs (:func:`json_diff`) and
the judge's rationale."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llmeval.export.html.markup import (
    _badge,
    _e,
    _json_text,
    _json_value,
    _latency_ms,
    _pre,
    _pretty_expected,
    _slug,
)
from pytest_llmeval.export.summary import fmt, worst
from pytest_llmeval.models.base import ToolCall
from pytest_llmeval.result import SampleResult
from pytest_llmeval.stats import finite
from pytest_llmeval.store.results import Run

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


# ------------------------------------------------------------------------------- samples


def _messages(prompt: Any) -> list[tuple[str, str]] | None:
    data = prompt
    if isinstance(prompt, str):
        try:
            data = json.loads(prompt)
        except ValueError:
            return None
    if isinstance(data, list) and all(isinstance(m, Mapping) for m in data):
        return [_message(m) for m in data]
    return None


def _message(m: Mapping[str, Any]) -> tuple[str, str]:
    """A chat message as (who, text): a named few-shot turn says its name, an assistant's
    tool calls and a tool's result say what they are."""
    role = str(m.get("role", ""))
    if m.get("name"):
        role += f" ({m['name']})"
    text = _content(m.get("content"))
    calls = [ToolCall.from_dict(c).show() for c in m.get("tool_calls") or ()]
    if calls:
        text = "\n".join([text, *(f"call {c}" for c in calls)]).strip()
    if role == "tool" and m.get("tool_call_id"):
        role += f" ({m['tool_call_id']})"
    return role, text


def _chat(messages: Sequence[tuple[str, str]]) -> str:
    return "".join(
        f'<div class="msg"><div class="role">{_e(role)}</div>{_pre(content)}</div>'
        for role, content in messages
    )


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multi-part content: the text parts
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return "" if content is None else json.dumps(content, ensure_ascii=False)


def _sample_card(r: SampleResult) -> str:
    task, sid = r.task, r.sample_id
    scores = r.scores
    error = r.error
    call = r.call("model")
    status = _badge("ERROR", "warn") if error else _badge("MISS", "fail")
    facts = [f"<code>{_e(r.nodeid)}</code>"]
    if r.slices:
        facts.append("slices " + ", ".join(_e(s) for s in r.slices))
    latency = _latency_ms(r)
    if latency is not None:
        facts.append(f"{latency:,.0f} ms" + (" (cached)" if call.cached else ""))
    if call.completion_tokens is not None:
        facts.append(f"{call.prompt_tokens} + {call.completion_tokens} tokens")
    if call.finish_reason:
        facts.append(f"finish: {_e(call.finish_reason)}")
    why = []
    if error:
        why.append(f"<li>{_e(r.error_kind or 'error')}: {_e(error)}</li>")
    for name, s in scores.items():
        if isinstance(s, Mapping) and s.get("passed") is False:
            text = s.get("explanation") or fmt(finite(s.get("value")))
            if name == "judge":  # its rationale has a block of its own
                text = f"score {fmt(finite(s.get('value')))}, below the rubric's pass mark"
            why.append(f"<li><code>{_e(name)}</code>: {_e(text)}</li>")
    messages = _messages(list(call.transcript) if call.transcript else r.prompt)
    prompt = _chat(messages) if messages is not None else _pre(r.prompt)
    prompt_title = "Conversation" if call.transcript else "Prompt"
    output = _pre(r.output)
    if call.tool_calls:
        shown = "\n".join(ToolCall.from_dict(c).show() for c in call.tool_calls)
        output = (_pre(r.output) if r.output else "") + f"<h4>Tool calls</h4>{_pre(shown)}"
    expected_value = _json_value(r.expected)
    parts = [
        f'<article class="sample{" error" if error else ""}" id="{_slug("sample", task, sid)}">',
        f"<h3>{status} {_e(task)} / <code>{_e(sid)}</code></h3>",
        f'<div class="muted">{" &middot; ".join(facts)}</div>',
        f'<ul class="why">{"".join(why)}</ul>' if why else "",
        '<div class="grid3">',
        f"<div><h4>{prompt_title}</h4>{prompt}</div>",
        f"<div><h4>Output</h4>{output}</div>",
        f"<div><h4>Expected</h4>{_pre(_pretty_expected(r.expected))}</div>",
        "</div>",
    ]
    json_task = any(str(n).startswith("json_") for n in scores)
    diffable = isinstance(expected_value, dict) or json_task
    if expected_value is not None and diffable and not error and not call.tool_calls:
        parts.append(_diff_table(expected_value, r.output))
    judge = scores.get("judge")
    if isinstance(judge, Mapping) and judge.get("explanation"):
        dims = (judge.get("metadata") or {}).get("scores") or {}
        dim_text = ", ".join(f"{k} {v}" for k, v in dims.items())
        score = finite(judge.get("value"))
        parts.append(
            '<blockquote class="judge"><div class="role">judge rationale'
            + (f" &middot; score {fmt(score)}" if score is not None else "")
            + (f" ({_e(dim_text)})" if dim_text else "")
            + f"</div>{_e(judge['explanation'])}</blockquote>"
        )
    parts.append("</article>")
    return "".join(parts)


def _samples_section(run: Run, samples: Sequence[SampleResult], top: int) -> tuple[str, set[str]]:
    tasks = list(run.metrics) or sorted({r.task for r in samples})
    parts = ['<section id="samples"><h2>Worst samples</h2>']
    anchors: set[str] = set()
    any_shown = False
    for task in tasks:
        rows = worst(samples, task, top)
        if not rows:
            continue
        any_shown = True
        total = sum(1 for r in samples if r.task == task and (r.error or r.passed is False))
        parts.append(
            f'<h3>{_e(task)} <span class="muted">({len(rows)} of {total} misses and errors; '
            "errors first, then lowest scores)</span></h3>"
        )
        for r in rows:
            anchors.add(_slug("sample", task, r.sample_id))
            parts.append(_sample_card(r))
    if not any_shown:
        text = "Every sample passed." if samples else "No samples."
        parts.append(f'<p class="muted">{text}</p>')
    parts.append("</section>")
    return "".join(parts), anchors
