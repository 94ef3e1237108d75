"""OpenAI evals' Match, Includes and FuzzyMatch, on the worked examples of their own tests
(openai/evals evals/elsuite/basic/match_test.py, includes_test.py, fuzzy_match_test.py)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmeval.dataset import Sample
from pytest_llmeval.models.base import Completion
from pytest_llmeval.scorers import SCORERS, Score, get_scorer
from pytest_llmeval.scorers.matching import evals_f1, fuzzy_match_text


def score(name: str, completion: str, ideal: Any, **options: Any) -> Score:
    sample = Sample("s1", "t", {"ideal": ideal}, "samples.jsonl", 1, expected_key="ideal")
    return get_scorer(name).bind(options).fn(sample, Completion(completion))


@pytest.mark.parametrize(("completion", "ideal"), [("world", "world"), ("world", ["world"])])
def test_match_examples_from_match_test(completion: str, ideal: Any) -> None:
    result = score("match", completion, ideal)
    assert (result.value, result.passed, result.metadata) == (1.0, True, {"picked": "world"})


@pytest.mark.parametrize(
    ("completion", "ideal", "passed"),
    [
        ("world peace", "world", True),  # record_and_check_match: sampled.startswith(option)
        ("hello world", "world", False),  # not at the start (Inspect's match() would pass)
        (" world", "world", False),  # no stripping
        ("World", "world", False),  # case counts
        ("B) Paris", ["A", "B"], True),
    ],
)
def test_match_is_a_raw_prefix_test(completion: str, ideal: Any, passed: bool) -> None:
    assert score("match", completion, ideal).passed is passed


@pytest.mark.parametrize(
    ("completion", "ideal", "passed", "ignore_case"),
    [  # includes_test.py's cases, as they are
        ("world", "world", True, False),
        ("world", "wOrLd", True, True),
        ("world", ["world"], True, False),
        ("world", ["foo", "bar"], False, False),
        ("world", ["worldfoo", "worldbar"], False, False),
    ],
)
def test_includes_examples_from_includes_test(
    completion: str, ideal: Any, passed: bool, ignore_case: bool
) -> None:
    assert score("includes", completion, ideal, ignore_case=ignore_case).passed is passed


def test_includes_is_case_sensitive_unless_asked() -> None:
    assert not score("includes", "The capital is PARIS", "Paris").passed
    assert score("includes", "The capital is PARIS", "Paris", ignore_case=True).passed


@pytest.mark.parametrize(
    ("completion", "ideal", "accuracy", "f1"),
    [  # fuzzy_match_test.py's cases and the metrics it records
        ("world", "world", 1.0, 1.0),
        ("world", "foo", 0.0, 0.0),
        ("world", ["some foo world", "dummy"], 1.0, 0.5),
    ],
)
def test_fuzzy_match_examples_from_fuzzy_match_test(
    completion: str, ideal: Any, accuracy: float, f1: float
) -> None:
    assert score("fuzzy_match", completion, ideal).value == accuracy
    assert score("fuzzy_match_f1", completion, ideal).value == pytest.approx(f1)
    assert score("fuzzy_match", completion, ideal).metadata["f1_score"] == pytest.approx(f1)


@pytest.mark.parametrize(
    ("s1", "s2", "matched"),
    [
        ("The Eiffel Tower!", "eiffel tower", True),  # normalized both ways
        ("eiffel", "The Eiffel Tower", True),  # the answer may hold the output
        ("the", "a", True),  # both normalize to "": equal
        ("the", "Paris", False),  # one empty side never matches
        ("Lyon", "Paris", False),
    ],
)
def test_fuzzy_match_normalizes_and_contains_either_way(s1: str, s2: str, matched: bool) -> None:
    assert fuzzy_match_text(s1, s2) is matched


def test_evals_f1_scores_empty_sides_zero_unlike_squad() -> None:
    assert evals_f1("the", ["a"]) == 0.0
    assert evals_f1("Paris France", ["paris", "lyon"]) == pytest.approx(2 / 3)


def test_fuzzy_match_brings_its_f1_as_a_companion_metric() -> None:
    assert SCORERS["fuzzy_match"].companions == ("fuzzy_match_f1",)
    assert SCORERS["fuzzy_match_f1"].metric == "f1_score"
    assert {SCORERS[n].metric for n in ("match", "includes", "fuzzy_match")} == {
        "match", "includes", "fuzzy_match"
    }  # fmt: skip


def test_a_miss_says_what_was_wanted_and_what_came() -> None:
    miss = score("match", "Lyon is nice", ["Paris", "Nice"])
    assert miss.explanation == "expected output to start with one of 2 answers, got 'Lyon is nice'"
    assert score("includes", "x", "Paris").explanation == (
        "expected output to include 'Paris', got 'x'"
    )


def test_a_number_as_ideal_is_compared_as_its_text() -> None:
    assert score("match", "42 apples", 42).passed
