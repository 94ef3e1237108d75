from __future__ import annotations

import json
import math
from typing import Any

import pytest

from pytest_llmeval.export.comparison import to_markdown, to_text, underpowered_note
from pytest_llmeval.gate.baseline import (
    DEFAULT_MARGIN,
    IMPROVEMENT,
    OK,
    REGRESSION,
    UNDERPOWERED,
    Margin,
    MarginError,
    MetricComparison,
    compare,
    higher_is_worse,
)
from pytest_llmeval.result import Call, SampleResult

# --- margins ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "task", "metric", "drop"),
    [
        ("accuracy:-2%", None, "accuracy", 0.02),
        ("accuracy:2%", None, "accuracy", 0.02),
        (" accuracy : -2 % ", None, "accuracy", 0.02),
        ("f1:-0.03", None, "f1", 0.03),
        ("f1:+.03", None, "f1", 0.03),
        ("qa.f1:-0.03", "qa", "f1", 0.03),
        ("json_extraction.exact_match:-1.5%", "json_extraction", "exact_match", 0.015),
        ("latency_ms:200", None, "latency_ms", 200.0),
        ("latency_p95_ms:-250", None, "latency_p95_ms", 250.0),
        ("accuracy:0", None, "accuracy", 0.0),
        ("f1:-1e-2", None, "f1", 0.01),
    ],
)
def test_margin_parse(spec: str, task: str | None, metric: str, drop: float) -> None:
    m = Margin.parse(spec)
    assert (m.task, m.metric) == (task, metric)
    assert m.drop == pytest.approx(drop)
    assert Margin.parse(str(m)) == m


@pytest.mark.parametrize(
    "spec",
    ["", "accuracy", "accuracy:", "accuracy:-", "accuracy:abc", ":2%", "accuracy:-2%%",
     "accuracy>=2%", "accuracy:2 points", "a.b.c:1", "accuracy:nan", "latency_ms:5%"],
)  # fmt: skip
def test_margin_errors_name_the_spec(spec: str) -> None:
    with pytest.raises(MarginError) as info:
        Margin.parse(spec)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert repr(spec) in message and "\n" not in message


def test_direction() -> None:
    for metric in ("latency_ms", "latency_p95_ms", "error_rate", "invalid_judge_rate"):
        assert higher_is_worse(metric)
    for metric in ("accuracy", "f1", "parse_rate", "exact_match"):
        assert not higher_is_worse(metric)


# --- helpers ----------------------------------------------------------------------------------


def row(
    sid: str,
    passed: bool | None,
    task: str = "t",
    error: str | None = None,
    latency_ms: float | None = None,
    **scores: float,
) -> SampleResult:
    return SampleResult(
        nodeid=f"{task}::{sid}",
        task=task,
        sample_id=sid,
        passed=passed,
        error=error,
        error_kind="model" if error else None,
        scores={k: {"value": v, "passed": None, "metric": k} for k, v in scores.items()},
        model=Call(latency_ms=latency_ms) if latency_ms is not None else None,
    )


def runs(
    n: int, b: int, c: int, both_pass: int | None = None, task: str = "t"
) -> tuple[list[SampleResult], list[SampleResult]]:
    """``n`` pairs: ``b`` pass->fail, ``c`` fail->pass, the rest split pass/pass, fail/fail."""
    same = n - b - c
    pp = same * 3 // 4 if both_pass is None else both_pass
    pattern = [(True, False)] * b + [(False, True)] * c + [(True, True)] * pp
    pattern += [(False, False)] * (same - pp)
    base = [row(f"s{i:05d}", x, task) for i, (x, _) in enumerate(pattern)]
    cand = [row(f"s{i:05d}", y, task) for i, (_, y) in enumerate(pattern)]
    return base, cand


def only(comparison: Any, metric: str = "accuracy", task: str = "t") -> MetricComparison:
    (t,) = [t for t in comparison.tasks if t.task == task]
    (m,) = [m for m in t.metrics if m.metric == metric]
    return m


# --- pairing ----------------------------------------------------------------------------------


def test_pairing_added_removed_errored() -> None:
    base = [row(f"s{i}", i % 2 == 0) for i in range(10)]
    cand = [row(f"s{i}", i % 3 == 0) for i in range(2, 12)]
    base[3] = base[3].with_(error="timeout")  # s3 errored in the baseline
    cand[2] = cand[2].with_(error="HTTP 500")  # s4 errored in the candidate
    result = compare(base, cand)
    (t,) = result.tasks
    assert (t.n_baseline, t.n_candidate) == (10, 10)
    assert t.removed == ("s0", "s1")
    assert t.added == ("s10", "s11")
    assert t.errored == 2
    assert t.paired == 6  # s2, s5, s6, s7, s8, s9
    m = only(result)
    assert m.n == 6
    # baseline passes even ids, candidate multiples of 3: s2 T->F, s8 T->F, s6 T->T, s9 F->T
    assert t.pass_to_fail == ("s2", "s8")
    assert t.fail_to_pass == ("s9",)
    assert (m.b, m.c) == (2, 1)
    assert m.method == "mcnemar-exact"


def test_tasks_are_paired_separately_and_one_sided_tasks_are_noted() -> None:
    base = [row("x", True, "a"), row("x", True, "b"), row("y", True, "gone")]
    cand = [row("x", False, "a"), row("x", True, "b"), row("y", True, "new")]
    result = compare(base, cand)
    assert [t.task for t in result.tasks] == ["a", "b", "gone", "new"]
    assert only(result, task="a").b == 1 and only(result, task="b").b == 0
    gone, new = result.tasks[2], result.tasks[3]
    assert gone.metrics == () and gone.removed == ("y",) and "baseline" in gone.notes[0]
    assert new.metrics == () and new.added == ("y",) and "candidate" in new.notes[0]


def test_rows_without_verdict_and_plain_number_scores() -> None:
    base = [row("a", None, f1=0.5), row("b", True).with_(scores={"f1": 0.25})]
    cand = [row("a", None, f1=0.5), row("b", True).with_(scores={"f1": 0.75})]
    result = compare(base, cand, ["f1:-0.1"])
    assert only(result).n == 1  # "a" has no pass/fail verdict
    f1 = only(result, "f1")
    assert f1.n == 2 and f1.delta == pytest.approx(0.25)
    assert f1.method == "paired-bootstrap"


# --- verdicts ---------------------------------------------------------------------------------


def test_regression() -> None:
    base, cand = runs(500, 40, 10)
    result = compare(base, cand)
    m = only(result)
    assert m.verdict == REGRESSION and result.failed
    assert m.delta == pytest.approx(-30 / 500)
    assert m.baseline - m.candidate == pytest.approx(30 / 500)
    assert m.p_value < 1e-4 and m.p_better > 0.99
    assert m.lo < m.delta < m.hi < 0
    assert m.margin == DEFAULT_MARGIN.drop
    assert m.mde < 0.05


def test_significant_but_within_margin_is_ok() -> None:
    base, cand = runs(5000, 150, 90)  # 1.2 points worse, p ~ 1e-4
    m = only(compare(base, cand))
    assert m.p_value < 0.001
    assert m.verdict == OK


def test_drop_of_exactly_the_margin_is_not_a_regression() -> None:
    base, cand = runs(500, 10, 0)  # exactly 2.0 points, p = 1/1024
    assert only(compare(base, cand)).verdict == OK
    base, cand = runs(500, 11, 0)
    assert only(compare(base, cand)).verdict == REGRESSION


def test_improvement_and_margin_per_task() -> None:
    base, cand = runs(500, 10, 40)
    assert only(compare(base, cand)).verdict == IMPROVEMENT
    result = compare(base, cand, ["t.accuracy:-10%", "accuracy:-1%"])
    assert only(result).margin == pytest.approx(0.10)
    assert only(result).verdict == OK
    assert result.unused_margins == ("accuracy:0.01",)


def test_underpowered_depends_on_n() -> None:
    base, cand = runs(120, 6, 6)  # 10% flips, no change
    small = only(compare(base, cand))
    assert small.verdict == UNDERPOWERED and small.mde > 0.05
    base, cand = runs(500, 25, 25)
    big = only(compare(base, cand))
    assert big.verdict == OK and big.mde < 0.05
    # A zero margin never reports underpowered: there is no size the gate "should" see.
    base, cand = runs(120, 6, 6)
    assert only(compare(base, cand, ["accuracy:0"])).verdict == OK


def test_higher_is_worse_binary_and_continuous() -> None:
    n = 400
    base = [row(f"s{i}", True, latency_ms=1000.0 + i % 7) for i in range(n)]
    cand = [row(f"s{i}", True, latency_ms=1300.0 + i % 5) for i in range(n)]
    for i in range(0, 60):
        cand[i] = cand[i].with_(error="timeout")
    result = compare(base, cand, ["error_rate:1%", "latency_ms:200"])
    err = only(result, "error_rate")
    assert err.higher_is_worse and err.n == n and (err.b, err.c) == (0, 60)
    assert err.delta == pytest.approx(0.15) and err.verdict == REGRESSION
    lat = only(result, "latency_ms")
    assert lat.method == "paired-bootstrap" and not lat.is_rate and lat.n == n - 60
    assert lat.delta == pytest.approx(300, abs=5) and lat.verdict == REGRESSION
    assert only(compare(base, cand, ["latency_ms:400"]), "latency_ms").verdict == OK
    # faster is an improvement, not a regression
    assert only(compare(cand, base, ["latency_ms:200"]), "latency_ms").verdict == IMPROVEMENT


def test_binary_scorer_metrics_use_mcnemar_and_others_the_bootstrap() -> None:
    n = 300
    base = [row(f"s{i}", True, parse_rate=1.0, f1=0.9) for i in range(n)]
    cand = [
        row(f"s{i}", True, parse_rate=0.0 if i < 30 else 1.0, f1=0.7 if i < 150 else 0.9)
        for i in range(n)
    ]
    result = compare(base, cand, ["parse_rate:-2%", "f1:-0.03", "nope:-1%"])
    parse, f1 = only(result, "parse_rate"), only(result, "f1")
    assert parse.method == "mcnemar-exact" and (parse.b, parse.c) == (30, 0)
    assert parse.verdict == REGRESSION
    assert f1.method == "paired-bootstrap" and f1.delta == pytest.approx(-0.1)
    assert f1.verdict == REGRESSION and f1.hi < 0
    assert result.unused_margins == ("nope:0.01",)
    # only accuracy without margins; the rest is listed as not compared
    (t,) = compare(base, cand).tasks
    assert [m.metric for m in t.metrics] == ["accuracy"]
    assert t.not_compared == ("f1", "parse_rate")


def test_continuous_within_margin_and_noise() -> None:
    n = 300
    base = [row(f"s{i}", True, f1=0.5 + 0.4 * ((i * 7) % 10) / 10) for i in range(n)]
    cand = [row(f"s{i}", True, f1=0.5 + 0.4 * ((i * 3) % 10) / 10) for i in range(n)]
    m = only(compare(base, cand, ["f1:-0.02"]), "f1")
    assert m.verdict in (OK, UNDERPOWERED) and m.p_value > 0.05
    assert math.isfinite(m.mde)


# --- flipped samples and rendering ------------------------------------------------------------


def test_flipped_ids_are_complete_and_top_limits_display() -> None:
    base, cand = runs(500, 40, 12)
    result = compare(base, cand, top=5)
    (t,) = result.tasks
    assert t.pass_to_fail == tuple(f"s{i:05d}" for i in range(40))
    assert t.fail_to_pass == tuple(f"s{i:05d}" for i in range(40, 52))
    text = "\n".join(to_text(result))
    assert "pass->fail (40): s00000, s00001, s00002, s00003, s00004 (+35 more)" in text
    assert "fail->pass (12): s00040" in text
    assert "s00005" not in text


def test_text_rendering() -> None:
    base, cand = runs(500, 40, 10)
    lines = to_text(compare(base, cand, baseline_label="RUN_A", candidate_label="RUN_B"))
    assert lines[0] == "llmeval compare: baseline RUN_A -> candidate RUN_B"
    assert lines[1].startswith("t  (500 pairs")
    header = lines[2].split()
    assert header[:5] == ["metric", "n", "baseline", "candidate", "delta"]
    assert lines[3].split()[0] == "accuracy" and "REGRESSION" in lines[3] and "-6.0 pt" in lines[3]
    assert lines[-1].startswith("llmeval compare FAILED: REGRESSION")


def test_markdown_has_the_key_parts() -> None:
    base, cand = runs(120, 6, 6)
    base += [row("only_base", True)]
    cand += [row("new1", True), row("new2", False)]
    md = to_markdown(compare(base, cand, baseline_label="RUN_A", candidate_label="RUN_B"))
    assert md.startswith("### ✅ llmeval: no regression")
    assert "`RUN_A`" in md and "`RUN_B`" in md
    assert "| metric | n | baseline | candidate | delta | 90% interval | p |" in md
    assert "| `accuracy` | 120 | " in md
    assert "2 added" in md and "1 removed" in md
    assert "<details><summary>Flipped samples: 6 pass→fail, 6 fail→pass</summary>" in md
    assert "</details>" in md
    assert "n=120 pairs can only detect drops of " in md
    assert "points or more with 80% power; the margin is 2 points." in md
    md2 = to_markdown(
        compare(*runs(120, 14, 2), baseline_model="openai/a", candidate_model="openai/b")
    )
    assert "Baseline `baseline` (model `openai/a`), candidate `candidate` (model `openai/b`)" in md2
    flipped = next(line for line in md2.splitlines() if line.startswith("- pass→fail: "))
    # every flipped sample is listed, the ones past ten folded away
    shown, _ = flipped.split("<details><summary>and 4 more</summary>")
    assert shown.count("`") == 2 * 10
    rest = md2.split("<details><summary>and 4 more</summary>")[1].split("</details>")[0]
    assert rest.count("`") == 2 * 4 and "+4 more" not in md2

    base, cand = runs(500, 40, 10)
    md = to_markdown(compare(base, cand))
    assert md.startswith("### ❌ llmeval: REGRESSION vs the baseline: t.accuracy -6.0 pt")
    assert "**REGRESSION**" in md


def test_underpowered_sentence() -> None:
    m = MetricComparison(
        "accuracy", "mcnemar-exact", 120, 0.8, 0.79, -0.01, -0.05, 0.03, 0.4, 0.6,
        0.02, 0.088, UNDERPOWERED, b=7, c=6,
    )  # fmt: skip
    assert underpowered_note(m, 0.8) == (
        "n=120 pairs can only detect drops of 8.8 points or more with 80% power; "
        "the margin is 2 points."
    )
    never = MetricComparison(
        "latency_ms", "paired-bootstrap", 1, 10.0, 12.0, 2.0, 2.0, 2.0, 1.0, 1.0,
        1.0, math.inf, UNDERPOWERED, higher_is_worse=True, is_rate=False,
    )  # fmt: skip
    assert underpowered_note(never, 0.8) == (
        "n=1 pairs cannot detect any rise with 80% power; the margin is 1."
    )


def test_as_dict_is_json() -> None:
    base, cand = runs(3, 1, 0)
    d = compare(base, cand).as_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["tasks"][0]["metrics"][0]["mde"] is None  # inf
    assert d["failed"] is False and d["counts"] == {UNDERPOWERED: 1}


def test_errors_in_arguments() -> None:
    with pytest.raises(ValueError):
        compare([], [], alpha=0.5)
    with pytest.raises(MarginError):
        compare([], [], ["accuracy"])
    assert compare([], []).tasks == () and not compare([], []).failed


def test_ten_thousand_samples_six_metrics_runs() -> None:
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(0)
    n = 10_000
    p = rng.beta(0.5, 0.2, n)

    def run(seed: int, drop: float) -> list[SampleResult]:
        r = np.random.default_rng(seed)
        ok = r.random(n) < p * (1 - drop)
        f1 = np.where(ok, 1.0, r.beta(2, 3, n))
        parse = r.random(n) < 0.99
        return [
            row(
                f"s{i:05d}", bool(ok[i]), "json",
                exact_match=float(ok[i]), parse_rate=float(parse[i]),
                field_f1=float(f1[i]), field_precision=float(f1[i] * 0.9),
                field_recall=float(min(1.0, f1[i] * 1.05)),
            )
            for i in range(n)
        ]  # fmt: skip

    margins = ["accuracy:-2%", "exact_match:-2%", "parse_rate:-1%", "field_f1:-0.02",
               "field_precision:-0.02", "field_recall:-0.02"]  # fmt: skip
    result = compare(run(1, 0.0), run(2, 0.05), margins)
    (t,) = result.tasks
    assert t.paired == n and len(t.metrics) == 6
    assert only(result, task="json").verdict == REGRESSION
    assert not any(m.verdict == UNDERPOWERED for m in t.metrics)
