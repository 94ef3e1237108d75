"""The terminal summary, rendered from a run's result (pure)."""

from __future__ import annotations

from typing import Any

from pytest_llmeval.export import summary


def result(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "run_id": "R1",
        "status": "complete",
        "partial": False,
        "verdict": "passed",
        "reason": None,
        "db": "r.db",
        "model": "openai/m",
        "metrics": {"qa": {"": {"accuracy": {"value": 0.9, "lo": 0.8, "hi": 0.95, "n": 100}}}},
        "verdicts": [
            {
                "task": "qa",
                "metric": "accuracy",
                "op": ">=",
                "threshold": 0.8,
                "value": 0.9,
                "passed": True,
                "note": "",
                "source": "suite",
            }
        ],
        "misses": {"qa": 10},
        "errors": {},
        "exitstatus": 0,
    }
    return {**base, **kw}


def test_a_passing_run() -> None:
    lines = summary.render(result())
    assert lines[0] == "qa  (n=100)"
    assert "  10 sample(s) missed, 0 errored" in lines
    assert "llmeval gate PASSED: 1/1 thresholds met" in lines
    assert lines[-1] == "llmeval run R1: complete; model openai/m; results in r.db"


def test_not_evaluated_comes_first_and_the_gate_says_so() -> None:
    lines = summary.render(
        result(
            status="errored",
            verdict="not evaluated",
            exitstatus=6,
            reason="30 of 100 samples errored: boom (since 10:00:00)",
            notes=["baseline latest = R0 (model openai/m)"],
        )
    )
    assert lines[0] == (
        "llmeval NOT EVALUATED (exit 6): 30 of 100 samples errored: boom (since 10:00:00)"
    )
    assert lines[1] == "llmeval: baseline latest = R0 (model openai/m)"
    assert "llmeval gate NOT EVALUATED: the thresholds were not checked" in lines
    # the table shows no verdict the gate never gave
    row = next(line for line in lines if line.lstrip().startswith("accuracy"))
    assert row.rstrip().endswith("not checked") and "PASS" not in "\n".join(lines)


def test_misses_shown_with_their_count() -> None:
    lines = summary.render(result(miss_details=["[qa] q1 missed (d.jsonl:2)\n  expected: x"]))
    i = lines.index("missed samples (1 of 10 shown; --llmeval-show-misses all for every one):")
    assert lines[i + 1 : i + 3] == ["  [qa] q1 missed (d.jsonl:2)", "    expected: x"]


def test_an_interrupted_run_applies_no_gate() -> None:
    lines = summary.render(result(status="interrupted", verdict=None, partial=True))
    assert "llmeval gate not applied: the run was interrupted" in lines
    assert lines[-1].startswith("llmeval run R1: interrupted (partial: not every sample")
