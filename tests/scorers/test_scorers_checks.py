"""Per-sample checks as promptfoo's assert lists, and the rubric scorer, on promptfoo's
documented examples (promptfoo/promptfoo site/docs/configuration/expected-outputs/index.md,
model-graded/llm-rubric.md; src/assertions/assertionsResult.ts, llmRubric.ts)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmeval.dataset import Sample
from pytest_llmeval.judge import inline
from pytest_llmeval.models.base import Completion
from pytest_llmeval.scorers import SCORERS, Score, get_scorer
from pytest_llmeval.scorers.base import OptionError
from pytest_llmeval.scorers.checks import (
    MissingVerdict,
    checks_scorer,
    fill_vars,
    rubrics_needed,
    validate_checks,
)

WEIGHTED = [  # index.md's "Weighted assertions" example
    {"type": "equals", "value": "Hello world", "weight": 2},
    {"type": "contains", "value": "world", "weight": 1},
]


def make_sample(checks: Any, **fields: Any) -> Sample:
    return Sample("s1", "cases", {"assert": checks, **fields}, "cases.jsonl", 3)


def run(checks: Any, output: str, rubrics: dict[str, Any] | None = None, **fields: Any) -> Score:
    metadata = {"rubrics": rubrics} if rubrics is not None else {}
    completion = Completion(output, metadata=metadata)
    return checks_scorer("assert").fn(make_sample(checks, **fields), completion)


def test_every_check_must_hold_and_the_first_failure_is_named() -> None:
    checks = [{"type": "icontains", "value": "hello"}, {"type": "is-json"},
              {"type": "not-contains", "value": "sorry"}]  # fmt: skip
    assert run(checks, '{"greeting": "Hello"}').passed
    miss = run(checks, '{"greeting": "Hello, sorry"}')
    assert miss.passed is False
    assert miss.value == pytest.approx(2 / 3)
    assert miss.explanation == 'assert.2 (not-contains): Expected output to not contain "sorry"'
    assert [c["pass"] for c in miss.metadata["checks"]] == [True, True, False]


def test_weights_make_the_score_a_weighted_mean_as_promptfoo_documents() -> None:
    result = run(WEIGHTED, "Goodbye world")  # "the final score is 0.33 (1/3)"
    assert result.value == pytest.approx(1 / 3)
    assert result.passed is False


@pytest.mark.parametrize(("threshold", "passed"), [(0.5, False), (0.2, True), (0, True)])
def test_a_sample_threshold_replaces_all_must_hold(threshold: float, passed: bool) -> None:
    result = run(WEIGHTED, "Goodbye world", threshold=threshold)
    assert result.passed is passed
    assert result.explanation.startswith(f"aggregate score 0.33 {'>=' if passed else '<'}")


def test_a_check_of_weight_zero_reports_but_never_fails() -> None:
    result = run([{"type": "contains", "value": "x", "weight": 0},
                  {"type": "contains", "value": "a"}], "abc")  # fmt: skip
    assert (result.passed, result.value) == (True, 1.0)
    assert result.metadata["checks"][0]["score"] == 0.0


def test_named_metrics_are_weighted_means_of_their_checks() -> None:
    checks = [{"type": "contains", "value": "a", "metric": "tone"},
              {"type": "contains", "value": "z", "metric": "tone", "weight": 3},
              {"type": "contains", "value": "b", "metric": "facts"}]  # fmt: skip
    assert run(checks, "ab").metadata["named_scores"] == {"tone": 0.25, "facts": 1.0}


def test_vars_are_filled_from_the_sample_and_its_vars_field() -> None:
    checks = [{"type": "icontains", "value": "{{ city }}"},
              {"type": "contains-any", "value": ["{{country}}", "nowhere"]}]  # fmt: skip
    assert run(checks, "paris, France", city="Paris", vars={"country": "France"}).passed
    assert not run(checks, "Lyon", city="Paris", vars={"country": "France"}).passed
    assert fill_vars("{{ missing }} {{n}}", {"n": 3}) == "{{ missing }} 3"


def test_the_vars_filled_in_agree_with_the_judges_own_filling() -> None:
    fields = {"q": "What is 2+2?", "n": 4, "tags": ["a"]}
    text = 'Answers "{{q}}" with {{ n }} ({{tags}}, {{unknown}})'
    assert fill_vars(text, fields) == inline.fill_vars(text, fields)


def test_llm_rubric_reads_the_judges_verdict_and_honours_its_threshold() -> None:
    checks = [{"type": "llm-rubric", "value": "Answers {{q}} politely", "threshold": 0.8}]
    text = "Answers 2+2 politely"
    ok = run(checks, "4", {text: {"pass": True, "score": 0.9, "reason": "fine"}}, q="2+2")
    assert (ok.passed, ok.value) == (True, 0.9)
    low = run(checks, "4", {text: {"pass": True, "score": 0.5, "reason": "curt"}}, q="2+2")
    assert low.passed is False and low.explanation == "assert.0 (llm-rubric): curt"
    # promptfoo: a verdict without "pass" passes; without a threshold the score is only a score
    plain = [{"type": "llm-rubric", "value": "is short"}]
    assert run(plain, "4", {"is short": {"score": 0.0}}).passed


def test_not_llm_rubric_flips_the_pass_and_scores_one_minus_the_score() -> None:
    result = run([{"type": "not-llm-rubric", "value": "is rude"}], "4",
                 {"is rude": {"pass": False, "score": 0.25, "reason": "not rude"}})  # fmt: skip
    assert (result.passed, result.value) == (True, 0.75)


def test_a_rubric_without_a_verdict_is_an_error_not_a_miss() -> None:
    with pytest.raises(MissingVerdict, match="no judge verdict for rubric 'is polite'"):
        run([{"type": "llm-rubric", "value": "is polite"}], "hi", {})


def test_an_empty_list_of_checks_passes_as_promptfoo_says() -> None:
    assert run([], "anything").passed


@pytest.mark.parametrize(
    ("checks", "problem"),
    [
        ([{"type": "contains", "value": "a"}, {"type": "is-json"}, {"type": "icontain", "value": "a"}],
         "2.type': unknown check type 'icontain' (did you mean 'icontains'?)"),
        ([{"type": "not-icontain", "value": "a"}],
         "0.type': unknown check type 'not-icontain' (did you mean 'not-icontains'?)"),
        ([{"type": "javascript", "value": "output.length < 9"}],
         "0.type': check type 'javascript' runs code, which per-sample checks do not: "
         "write a scorer in conftest.py (@scorer) and name it in the suite's scorers:"),
        ([{"type": "python", "value": "len(output) > 1"}], "0.type': check type 'python' runs"),
        ([{"value": "a"}], "0.type': missing (a check needs a 'type', e.g. icontains)"),
        (["contains"], "0': a check must be an object with a 'type'"),
        ([{"type": "contains", "value": "a", "weigth": 2}],
         "0.weigth': not supported in a check (did you mean 'weight'?)"),
        ([{"type": "contains", "value": "a", "weight": -1}], "0.weight': must be a number >= 0"),
        ([{"type": "contains"}],
         "0.value': \"contains\" assertion type must have a string or number value"),
        ([{"type": "contains-any", "value": '"open'}],
         "0.value': Unterminated quoted field in contains assertion value"),
        ([{"type": "regex", "value": "(unclosed"}], "0.value': not a regular expression"),
        ([{"type": "is-json", "value": {"type": "no-such-type"}}], "0.value': not a JSON Schema"),
        ([{"type": "llm-rubric"}], "0.value': a rubric text is needed"),
        ({"type": "contains"}, "': must be a list of checks, not dict"),
    ],
)  # fmt: skip
def test_a_bad_check_is_named_by_index_and_field(checks: Any, problem: str) -> None:
    found = validate_checks(checks)
    assert found is not None and found.startswith(problem), found


def test_checks_of_every_supported_type_validate() -> None:
    checks: list[dict[str, Any]] = [
        {"type": t, "value": "x"}
        for t in (
            "equals",
            "contains",
            "icontains",
            "starts-with",
            "regex",
            "llm-rubric",
            "not-contains",
            "not-llm-rubric",
        )
    ]
    checks += [{"type": t, "value": ["x", "y"]} for t in ("contains-any", "contains-all",
               "icontains-any", "icontains-all")]  # fmt: skip
    checks += [{"type": "is-json"}, {"type": "contains-json", "value": {"type": "object"}},
               {"type": "contains", "value": 0, "weight": 2, "metric": "m", "threshold": 1,
                "description": "zero appears"}]  # fmt: skip
    assert validate_checks(checks) is None


def test_checks_scorer_names_its_field_and_metric() -> None:
    info = checks_scorer("assert")
    assert (info.name, info.metric, info.needs) == ("checks", "checks", ("assert",))


# --------------------------------------------------------------------------- rubric


def rubric_score(verdicts: dict[str, Any], **options: Any) -> Score:
    sample = Sample("s1", "cases", {"q": "2+2"}, "cases.jsonl", 1)
    completion = Completion("4", metadata={"rubrics": verdicts})
    return get_scorer("rubric").bind(options).fn(sample, completion)


def test_rubric_is_judged_and_scores_the_verdict() -> None:
    assert SCORERS["rubric"].judged
    verdict = {"pass": True, "score": 0.7, "reason": "ok"}
    result = rubric_score({"Answers 2+2": verdict}, rubric="Answers {{q}}")
    assert (result.passed, result.value) == (True, 0.7)
    assert not rubric_score({"Answers 2+2": verdict}, value="Answers {{q}}", threshold=0.8).passed


@pytest.mark.parametrize(
    ("options", "message"),
    [({}, "needs option 'rubric'"), ({"rubric": "a", "value": "b"}, "not both"),
     ({"rubric": "  "}, "needs option 'rubric'")],
)  # fmt: skip
def test_rubric_needs_its_text(options: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionError, match=message):
        get_scorer("rubric").bind(options)


def test_rubrics_needed_lists_every_text_to_grade_once_with_vars_filled() -> None:
    scorers = [
        get_scorer("contains").bind({"value": "4"}),
        get_scorer("rubric").bind({"rubric": "Answers {{q}}"}),
        checks_scorer("assert"),
    ]
    sample = make_sample(
        [{"type": "llm-rubric", "value": "is polite"}, {"type": "contains", "value": "4"},
         {"type": "not-llm-rubric", "value": "mentions {{ q }}"},
         {"type": "llm-rubric", "value": "Answers {{q}}"}],
        q="2+2",
    )  # fmt: skip
    assert rubrics_needed(scorers, sample) == ["Answers 2+2", "is polite", "mentions 2+2"]
