"""lm-evaluation-harness's regex extraction and exact_match, with GSM8K's own settings
(EleutherAI/lm-evaluation-harness lm_eval/tasks/gsm8k/gsm8k.yaml, lm_eval/filters/extraction.py,
lm_eval/api/metrics.py), and the last-number scorer."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmeval.dataset import Sample
from pytest_llmeval.models.base import Completion
from pytest_llmeval.scorers import Score, get_scorer
from pytest_llmeval.scorers.base import OptionError
from pytest_llmeval.scorers.extraction import FALLBACK, last_number, regex_extract

STRICT = "#### (\\-?[0-9\\.\\,]+)"  # gsm8k.yaml's strict-match regex_pattern
FLEXIBLE = "(-?[$0-9.,]{2,})|(-?[0-9]+)"  # gsm8k.yaml's flexible-extract, group_select -1
GSM8K_METRIC: dict[str, Any] = {  # gsm8k.yaml's exact_match settings
    "ignore_case": True,
    "ignore_punctuation": False,
    "regexes_to_ignore": [",", "\\$", "(?s).*#### ", "\\.$"],
}
NATALIA = (  # the first GSM8K test answer, as the dataset writes it
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"
)


def score(text: str, answer: Any = None, extract: str | None = None, **options: Any) -> Score:
    fields = {"answer": answer} if answer is not None else {}
    sample = Sample(
        "s1", "gsm8k", fields, "gsm8k_test.jsonl", 1,
        expected_key="answer" if answer is not None else None, expected_extract=extract,
    )  # fmt: skip
    name = options.pop("scorer", "regex")
    return get_scorer(name).bind(options).fn(sample, Completion(text))


@pytest.mark.parametrize(
    ("output", "passed", "extracted"),
    [
        ("She sold 24 in May, so 48 + 24 = 72.\n#### 72", True, "72"),
        ("48 + 24 = 72 clips.\n#### 72.\n\nQuestion: A robe takes", True, "72."),
        ("#### 1,080", False, "1,080"),  # against 72: a wrong answer
        ("The answer is 72.", False, FALLBACK),  # no '#### ': lm-eval's [invalid]
        ("#### $72", False, FALLBACK),  # '$' is outside strict-match's class
        ("#### 70\n... no wait, #### 72", False, "70"),  # group_select 0: the first match
    ],
)
def test_gsm8k_strict_match_with_its_own_filter_and_metric_settings(
    output: str, passed: bool, extracted: str
) -> None:
    result = score(output, NATALIA, "#### (-?[0-9.,]+)", pattern=STRICT, **GSM8K_METRIC)
    assert result.passed is passed
    assert result.metadata["extracted"] == extracted


def test_the_raw_gsm8k_answer_is_reduced_by_regexes_to_ignore_as_lm_eval_does() -> None:
    # no extract: the whole answer is the reference, and "(?s).*#### " strips its working
    assert score("so #### 72", NATALIA, pattern=STRICT, **GSM8K_METRIC).passed
    assert not score("so #### 24", NATALIA, pattern=STRICT, **GSM8K_METRIC).passed


def test_without_regexes_to_ignore_a_trailing_period_or_comma_is_a_miss() -> None:
    assert not score("#### 72.", "72", pattern=STRICT).passed
    assert not score("#### 1,080", "1080", pattern=STRICT).passed
    assert score("#### 1,080", "1080", pattern=STRICT, regexes_to_ignore=[","]).passed


@pytest.mark.parametrize(
    ("output", "answer", "passed"),
    [
        ("48 + 24 = 72 clips. The answer is 72", "72", True),
        ("She pays $18.", "18", True),  # '$18.' with '$' and the final '.' ignored
        ("Step 1: 5 apples. Step 2: 3 apples.", "5", False),  # group_select -1: the last
    ],
)
def test_gsm8k_flexible_extract_takes_the_last_match(
    output: str, answer: str, passed: bool
) -> None:
    result = score(output, answer, pattern=FLEXIBLE, group_select=-1, **GSM8K_METRIC)
    assert result.passed is passed


@pytest.mark.parametrize(
    ("text", "pattern", "group_select", "expected"),
    [
        ("a 1 b 2", r"(\d)", 0, "1"),
        ("a 1 b 2", r"(\d)", -1, "2"),
        ("a 1 b 2", r"\d", 1, "2"),  # no group: the whole match
        ("x=  7 ", r"x=(.*)", 0, "7"),  # stripped
        ("only one 1", r"(\d)", 3, FALLBACK),  # lm-eval raises IndexError; a miss here
        ("$5", r"(-?[$0-9.,]{2,})|(-?[0-9]+)", 0, "$5"),  # first non-empty group
        ("nothing", r"(\d)", 0, FALLBACK),
    ],
)
def test_regex_extract_follows_regex_filter(
    text: str, pattern: str, group_select: int, expected: str
) -> None:
    assert regex_extract(text, pattern, group_select) == expected


def test_ignore_case_and_punctuation_normalize_both_sides() -> None:
    assert score("Answer: PARIS!", "paris", pattern="Answer: (.*)", ignore_case=True,
                 ignore_punctuation=True).passed  # fmt: skip
    assert not score("Answer: PARIS!", "paris", pattern="Answer: (.*)").passed


def test_a_list_of_acceptable_answers_passes_on_any() -> None:
    assert score("#### 12", ["11", "12"], pattern=STRICT).passed


def test_without_an_expected_answer_regex_is_promptfoos_match_check() -> None:
    assert score("Call me at 555-1234", pattern=r"\d{3}-\d{4}").passed
    miss = score("Call me later", value=r"\d{3}-\d{4}")  # promptfoo's bare form: value
    assert not miss.passed
    assert miss.explanation == 'Expected output to match regex "\\d{3}-\\d{4}"'
    assert score("FOO", "bar", pattern="foo", ignore_case=True, match_only=True).passed


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "needs option 'pattern'"),
        ({"pattern": "a", "value": "b"}, "not both"),
        ({"pattern": "(unclosed"}, "is not a regular expression"),
        ({"pattern": "a", "regexes_to_ignore": ["["]}, "is not a regular expression"),
    ],
)
def test_regex_options_are_checked_when_the_suite_is_loaded(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(OptionError, match=message):
        get_scorer("regex").bind(options)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("The total is $1,234.50.", 1234.5),
        ("It dropped to -3 degrees", -3.0),
        ("It cost -$5", -5.0),
        ("It cost $-5", -5.0),
        ("pages 10-20", 20.0),  # a range's hyphen is no minus sign
        ("1,000,000 people", 1_000_000.0),
        ("about .5 of it", 0.5),
        ("the answer is 72.", 72.0),
        ("no digits", None),
    ],
)
def test_last_number_reads_answers_as_they_are_written(text: str, number: float | None) -> None:
    assert last_number(text) == number


def test_number_compares_within_a_tolerance() -> None:
    assert score("so x = 72", 72, scorer="number").passed
    assert score("It is $1,000.", "$1,000", scorer="number").passed
    assert score("pi is 3.14159", 3.14, scorer="number", tolerance=0.01).passed
    miss = score("pi is 3.14159", 3.14, scorer="number", tolerance=0.001)
    assert not miss.passed and miss.explanation == "got 3.14159, expected 3.14 within 0.001"
    assert score("1010 people", 1000, scorer="number", rel_tolerance=0.02).passed
    assert not score("1030 people", 1000, scorer="number", rel_tolerance=0.02).passed
    assert not score("I don't know", 3, scorer="number").passed


def test_number_refuses_an_expected_answer_that_holds_no_number() -> None:
    with pytest.raises(ValueError, match="holds no number"):
        score("42", "forty-two", scorer="number")
