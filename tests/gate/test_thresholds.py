from __future__ import annotations

import math

import pytest

from pytest_llmeval.gate.thresholds import Threshold, ThresholdError, evaluate, from_table, merge


@pytest.mark.parametrize(
    ("spec", "op", "value"),
    [
        (">=0.85", ">=", 0.85),
        ("> 0.5", ">", 0.5),
        ("<=3000", "<=", 3000.0),
        ("<1e-2", "<", 0.01),
        (">=85%", ">=", 0.85),
        (" >= .9 ", ">=", 0.9),
    ],
)
def test_parse(spec: str, op: str, value: float) -> None:
    t = Threshold.parse("qa", "latency_p95_ms", spec)
    assert (t.op, t.value) == (op, pytest.approx(value))


def test_a_proportion_outside_0_1_can_never_be_met() -> None:
    with pytest.raises(ThresholdError, match=r"'>70' is outside \[0, 1\].*'>0\.7' or '>70%'"):
        Threshold.parse("qa", "accuracy", ">70", "suite.yaml")
    with pytest.raises(ThresholdError, match="outside"):
        Threshold.parse("qa", "error_rate", "<=2", "suite.yaml")
    assert Threshold.parse("qa", "judge_score", ">=3.5").value == 3.5  # not a proportion


@pytest.mark.parametrize("spec", ["0.85", "=>0.8", "==1", ">= x", "", 0.85, True])
def test_parse_errors_name_the_spec(spec: object) -> None:
    with pytest.raises(ThresholdError, match=r"qa\.accuracy"):
        Threshold.parse("qa", "accuracy", spec, "pyproject.toml")


def test_qualified_and_table() -> None:
    t = Threshold.parse_qualified("json_extraction.parse_rate>=0.95")
    assert (t.task, t.metric, t.value) == ("json_extraction", "parse_rate", 0.95)
    with pytest.raises(ThresholdError, match=r"TASK\.METRIC"):
        Threshold.parse_qualified("accuracy>=0.9")
    table = from_table({"qa": {"f1": ">=0.5", "latency_p95_ms": "<=3000"}}, "pyproject")
    assert {(t.metric, t.op) for t in table} == {("f1", ">="), ("latency_p95_ms", "<=")}
    with pytest.raises(ThresholdError, match="expected a table"):
        from_table({"qa": ">=0.5"}, "pyproject")


def test_merge_and_evaluate() -> None:
    suite = [Threshold.parse("qa", "accuracy", ">=0.8"), Threshold.parse("qa", "f1", ">=0.5")]
    project = [Threshold.parse("qa", "accuracy", ">=0.9")]
    merged = merge(suite, project)
    assert merged[("qa", "accuracy")].value == 0.9
    verdicts = evaluate(merged.values(), {"qa": {"accuracy": 0.85, "f1": 0.7}, "other": {}})
    assert [(v.threshold.metric, v.passed) for v in verdicts] == [("accuracy", False), ("f1", True)]
    missing = evaluate([Threshold.parse("qa", "judge_score", ">=3")], {"qa": {"f1": 1.0}})
    assert not missing[0].passed and "no metric 'judge_score' (have: f1)" in missing[0].note
    assert evaluate([Threshold.parse("absent", "f1", ">=0")], {"qa": {}}) == []


def test_nan_never_passes() -> None:
    assert not Threshold.parse("qa", "f1", ">=0").check(math.nan)
    assert Threshold.parse("qa", "f1", "<=0.1").check(0.1)
