"""Metrics per task and slice from typed results, pure."""

from __future__ import annotations

import pytest

from pytest_llmeval.gate import aggregate
from pytest_llmeval.result import Call, SampleResult


def result(sid: str, passed: bool | None, **kw: object) -> SampleResult:
    base: dict[str, object] = {
        "slices": ("easy",),
        "scores": {"qa_f1": {"value": 1.0 if passed else 0.5, "metric": "f1"}},
        "model": Call(latency_ms=10.0, prompt_tokens=5, completion_tokens=2),
    }
    return SampleResult(f"qa::{sid}", "qa", sid, passed=passed, **{**base, **kw})  # type: ignore[arg-type]


def test_errors_are_never_wrong_answers() -> None:
    rows = [
        result("a", True),
        result("b", False, slices=("hard",)),
        result("c", None, error="HTTP 500", error_kind="model", scores={}),
    ]
    m = aggregate.summarize(rows)["qa"]
    overall = m[""]
    assert overall["accuracy"]["value"] == 0.5 and overall["accuracy"]["n"] == 2
    assert overall["error_rate"]["value"] == pytest.approx(1 / 3)
    assert overall["f1"]["value"] == 0.75
    assert overall["prompt_tokens_total"]["value"] == 15.0  # tokens counted for all
    assert set(m) == {"", "easy", "hard"} and m["hard"]["accuracy"]["value"] == 0.0


def test_a_cached_answer_counts_its_original_latency() -> None:
    hit = Call(latency_ms=0.1, original_latency_ms=900.0, cached=True)
    rows = [result("a", True, model=Call(latency_ms=100.0)), result("b", True, model=hit)]
    overall = aggregate.summarize(rows)["qa"][""]
    assert overall["latency_p95_ms"]["value"] > 800


def test_judge_health_and_judge_cost() -> None:
    judged = Call(latency_ms=40.0, prompt_tokens=100, completion_tokens=20)
    rows = [
        result("a", True, judge=judged),
        result("b", None, judge=judged, error="invalid verdict", error_kind="judge", scores={}),
        result("c", None, error="judge model error", error_kind="judge_model", scores={}),
    ]
    overall = aggregate.summarize(rows)["qa"][""]
    # an invalid verdict is judge health; the judge's call failing is an error
    assert overall["invalid_judge_rate"]["value"] == pytest.approx(1 / 3)
    assert overall["error_rate"]["value"] == pytest.approx(1 / 3)
    assert overall["judge_prompt_tokens_total"]["value"] == 200.0
    assert overall["judge_latency_p50_ms"]["value"] == 40.0


def test_values_are_the_overall_points() -> None:
    values = aggregate.values(aggregate.summarize([result("a", True), result("b", False)]))
    assert values["qa"]["accuracy"] == 0.5 and values["qa"]["f1"] == 0.75
