"""The gate's decision, pure: status, verdict and exit code from the facts of a run."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_llmeval import gate
from pytest_llmeval.gate.baseline import compare
from pytest_llmeval.gate.thresholds import Threshold, Verdict
from pytest_llmeval.result import Call, SampleResult


def facts(**kw: object) -> gate.Facts:
    base: dict[str, object] = {
        "exitstatus": 0,
        "interrupted": False,
        "stopped_early": False,
        "samples": 100,
        "planned": 100,
    }
    return gate.Facts(**{**base, **kw})  # type: ignore[arg-type]


def verdict(passed: bool) -> Verdict:
    return Verdict(Threshold("qa", "accuracy", ">=", 0.8, "suite"), 0.9 if passed else 0.7, passed)


@pytest.mark.parametrize(
    ("kw", "verdicts", "expected"),
    [
        ({}, [verdict(True)], ("complete", "passed", 0)),
        ({}, [verdict(False)], ("complete", "failed", 1)),
        ({}, [], ("complete", None, 0)),
        # misses in a gated task are statistics; in an ungated one, failures
        (
            {"misses": {"qa": 9}, "gated": frozenset({"qa"})},
            [verdict(True)],
            ("complete", "passed", 0),
        ),
        ({"misses": {"qa": 9}}, [], ("complete", None, 1)),
        ({"misses": {"qa": 1}, "strict": True}, [verdict(True)], ("complete", "failed", 1)),
        ({"other_failures": 1}, [verdict(True)], ("complete", "passed", 1)),
        ({"exitstatus": 2, "interrupted": True}, [verdict(True)], ("interrupted", None, 2)),
        ({"collect_errors": 1, "exitstatus": 1}, [verdict(True)], ("incomplete", "passed", 1)),
        ({"stopped_early": True, "exitstatus": 1}, [verdict(True)], ("incomplete", "passed", 0)),
    ],
)
def test_decide(
    kw: dict[str, object], verdicts: list[Verdict], expected: tuple[object, ...]
) -> None:
    d = gate.decide(facts(**kw), verdicts)
    assert (d.status, d.verdict, d.exitstatus) == expected


def test_errors_beyond_the_budget_are_not_evaluated_never_a_verdict() -> None:
    f = facts(budget_errors=3, errors={"qa": 3}, error_reason="HTTP 500: boom", errors_since=0.0)
    d = gate.decide(f, [verdict(True)])
    assert (d.status, d.verdict, d.exitstatus) == ("errored", "not evaluated", 6)
    assert d.reason is not None and d.reason.startswith(
        "3 of 100 samples errored (error budget: none): HTTP 500: boom (since "
    )
    within = gate.decide(facts(budget_errors=3, max_error_rate=0.05), [verdict(True)])
    assert (within.verdict, within.exitstatus) == ("passed", 0)


def test_errors_that_are_all_refusals_are_input_to_fix() -> None:
    f = facts(budget_errors=2, rejected=2, error_reason="HTTP 400: too long", errors_since=0.0)
    d = gate.decide(f, [verdict(True)])
    assert (d.status, d.verdict, d.exitstatus) == ("errored", "not evaluated", 4)
    assert d.reason is not None and d.reason.startswith(
        "2 of 100 samples were rejected by the server (error budget: none): HTTP 400: too long"
    )
    assert d.reason.endswith(
        "a rerun will be rejected the same way: fix those samples or the server's limits"
    )
    mixed = gate.decide(replace(f, budget_errors=3), [verdict(True)])
    assert mixed.exitstatus == 6 and "3 of 100 samples errored" in (mixed.reason or "")


def test_one_sample_not_run_is_singular() -> None:
    stop = {"kind": "outage", "reason": "down", "since": None}
    d = gate.decide(facts(stop=stop, samples=99, budget_errors=1, planned=100))
    assert d.reason == "1 of 100 samples errored and 1 was not run: down (since the start)"


@pytest.mark.parametrize(("kind", "code"), [("outage", 6), ("rejected", 4)])
def test_a_stopped_run_is_not_evaluated(kind: str, code: int) -> None:
    stop = {"kind": kind, "reason": "cannot connect to http://x/v1", "since": None}
    d = gate.decide(facts(stop=stop, samples=30, budget_errors=1, planned=100), [verdict(True)])
    assert (d.status, d.verdict, d.exitstatus) == ("errored", "not evaluated", code)
    assert d.reason == (
        "1 of 100 samples errored and 70 were not run: cannot connect to http://x/v1 "
        "(since the start)"
    )


def test_merge_layers_and_the_judge_health_default() -> None:
    suite = [Threshold("qa", "accuracy", ">=", 0.8, "suite")]
    project = [Threshold("qa", "accuracy", ">=", 0.9, "cli")]
    merged = gate.merge(suite, project, judged={"qa"})
    assert merged[("qa", "accuracy")].value == 0.9  # the later layer wins
    assert str(merged[("qa", "invalid_judge_rate")]) == "<=0.02"
    assert ("qa", "error_rate") not in merged  # errors are the budget's, not a threshold's


def test_check_names() -> None:
    suites = {"qa": frozenset({"accuracy", "f1"}), "marked": None}
    cli = Threshold("qaa", "accuracy", ">=", 0.9, "--llmeval-threshold")
    ini = Threshold("gone", "accuracy", ">=", 0.9, "ini llmeval_thresholds")
    typo = Threshold("qa", "acuracy", ">=", 0.9, "suite.yaml")
    anything = Threshold("marked", "politeness", ">=", 0.5, "test_x.py")
    errors, notes = gate.check_names([cli, ini, typo, anything], [], suites)
    assert errors == [
        "--llmeval-threshold: threshold qaa.accuracy>=0.9: no collected suite is named 'qaa' "
        "(collected: marked, qa; did you mean 'qa'?)",
        "suite.yaml: threshold qa.acuracy>=0.9: no such metric 'acuracy' (this suite "
        "produces: accuracy, f1; did you mean 'accuracy'?)",
    ]
    assert notes == [
        "ini llmeval_thresholds: threshold gone.accuracy>=0.9: no collected suite is named "
        "'gone'; not checked this run"
    ]


def rows(n: int, wrong: int, **kw: object) -> list[SampleResult]:
    return [
        SampleResult(
            f"qa::s{i}", "qa", f"s{i}", passed=i >= wrong, model=Call(latency_ms=5.0), **kw
        )  # type: ignore[arg-type]
        for i in range(n)
    ]


def test_evaluate_a_run_end_to_end() -> None:
    from pytest_llmeval.gate import aggregate

    run = rows(100, 20)
    metrics = aggregate.summarize(run)
    suite = [Threshold("qa", "accuracy", ">=", 0.75, "suite")]
    found = gate.evaluate(facts(), suite, [], run, metrics)
    assert found.gated == {"qa"} and found.decision.exitstatus == 0
    assert [v.passed for v in found.verdicts] == [True]
    # a metric that nothing produced: a usage error, not a silent pass or a plain FAIL
    never = [Threshold("qa", "politeness", ">=", 0.5, "test_x.py")]
    found = gate.evaluate(facts(), never, [], run, metrics)
    assert found.decision.exitstatus == 4 and found.unchecked
    assert found.decision.reason is not None and "cannot check threshold qa.politeness" in (
        found.decision.reason
    )
    # a regression against a baseline fails the gate
    base = rows(500, 25)
    cand = rows(500, 100)
    comparison = compare(base, cand)
    assert gate.regressed(comparison)
    found = gate.evaluate(facts(), suite, [], cand, aggregate.summarize(cand), comparison)
    assert (found.decision.verdict, found.decision.exitstatus) == ("failed", 1)
