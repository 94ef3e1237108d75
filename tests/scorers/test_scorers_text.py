"""promptfoo's text checks, against promptfoo's own documented examples and tests:
site/docs/configuration/expected-outputs/deterministic.md and test/assertions/contains.test.ts
in promptfoo/promptfoo."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmeval.dataset import Sample
from pytest_llmeval.models.base import Completion
from pytest_llmeval.scorers import SCORERS, Score, get_scorer
from pytest_llmeval.scorers.text import CheckValueError, run_check, split_values

LAT_LONG_SCHEMA = {  # deterministic.md's is-json example
    "required": ["latitude", "longitude"],
    "type": "object",
    "properties": {
        "latitude": {"minimum": -90, "type": "number", "maximum": 90},
        "longitude": {"minimum": -180, "type": "number", "maximum": 180},
    },
}


def score(name: str, text: str, expected: Any = None, **options: Any) -> Score:
    fields = {"answer": expected} if expected is not None else {}
    key = "answer" if expected is not None else None
    sample = Sample("s1", "t", fields, "cases.jsonl", 1, expected_key=key)
    return get_scorer(name).bind(options).fn(sample, Completion(text))


@pytest.mark.parametrize(
    ("kind", "output", "value", "inverse", "passed", "reason"),
    [
        ("contains", "hello world", "world", False, True, ""),
        ("contains", "hello world", "universe", False, False, 'Expected output to contain "universe"'),
        ("contains", "hello world", "universe", True, True, ""),
        ("contains", "hello world", "world", True, False, 'Expected output to not contain "world"'),
        ("icontains", "hello world", "WORLD", False, True, ""),
        ("icontains", "Hello WORLD", "WoRlD", False, True, ""),
        ("contains", "There are 0 errors", 0, False, True, ""),
        ("icontains", "no digits here", 0, False, False, 'Expected output to contain "0"'),
        ("contains-any", "hello world", ["world", "universe"], False, True, ""),
        ("contains-any", "hello world", "world,universe", False, True, ""),
        ("contains-any", "hello, world", '"hello, world",universe', False, True, ""),
        ("contains-any", "hello, dear world is here",
         '"hello, dear world", "goodbye, universe", simple', False, True, ""),
        ("contains-any", 'a"b', '"a""b",c', False, True, ""),
        ("contains-any", "b", '"a""b",c', False, False,
         'Expected output to contain one of "a"b, c"'),
        ("contains-any", "zzz", '"hello, world"\t,foo', False, False,
         'Expected output to contain one of "hello, world, foo"'),
        ("icontains-any", "ANOTHER,TEST", '"hello\\"world,test", "another,test"', False, True, ""),
        ("contains-all", "1,000 units in stock", ["1,000", "in stock"], False, True, ""),
        ("contains-all", "1,000 units", ["1,000", "in stock"], False, False,
         "Expected output to contain all of [1,000, in stock]. Missing: [in stock]"),
        ("icontains-all", "IN STOCK: 1,000", ["1,000", "in stock"], False, True, ""),
        ("starts-with", "The answer is 4", "The answer", False, True, ""),
        ("starts-with", " The answer is 4", "The answer", False, False,
         'Expected output to start with "The answer"'),
        ("regex", "Born in 1969.", "\\d{4}", False, True, ""),
        ("regex", "Born in the sixties.", "\\d{4}", False, False,
         'Expected output to match regex "\\d{4}"'),
        ("equals", "Hello world", "Hello world", False, True, ""),
        ("equals", "Goodbye world", "Hello world", False, False,
         'Expected output "Goodbye world" to equal "Hello world"'),
        ("equals", '{"key": "value"}', {"key": "value"}, False, True, ""),
        ("equals", "not json", {"key": "value"}, True, True, ""),
        ("equals", '{"n": 1}', {"n": True}, False, False,
         'Expected output "{"n": 1}" to equal "{"n": true}"'),
        ("is-json", '{"latitude": 48.8, "longitude": 2.3}', LAT_LONG_SCHEMA, False, True, ""),
        ("is-json", "NaN", None, False, False, "Expected output to be valid JSON"),
        ("contains-json", 'Here: {"latitude": 1, "longitude": 2}.', LAT_LONG_SCHEMA, False,
         True, ""),
    ],
)  # fmt: skip
def test_each_check_follows_promptfoo(
    kind: str, output: str, value: Any, inverse: bool, passed: bool, reason: str
) -> None:
    assert run_check(kind, output, value, inverse) == (passed, reason)


def test_a_schema_violation_says_which_field_breaks_it() -> None:
    passed, reason = run_check("is-json", '{"latitude": 100, "longitude": 2}', LAT_LONG_SCHEMA)
    assert not passed
    assert reason.startswith("JSON does not conform to the provided schema: $.latitude: 100")


def test_is_json_takes_a_schema_written_as_yaml_text() -> None:
    schema = "type: object\nrequired: [a]\n"
    assert run_check("is-json", '{"a": 1}', schema) == (True, "")
    assert not run_check("is-json", '{"b": 1}', schema)[0]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("world,universe", ["world", "universe"]),
        # the same literals as contains.test.ts: JavaScript and Python escape alike here
        ('"hello\\"world,test", "another,test"', ['hello"world,test', "another,test"]),
        ('"test\\\\test"', ["test\\test"]),
        ('"",', [""]),
        ("a,,b ,  c", ["a", "b", "c"]),
    ],
)
def test_comma_separated_values_split_as_promptfoo_splits_them(
    text: str, values: list[str]
) -> None:
    assert split_values(text) == values


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"test', "Unterminated quoted field in contains assertion value"),
        ('"hello"world', "Expected comma after quoted field in contains assertion value"),
        ('"hello" world', "Expected comma after quoted field in contains assertion value"),
    ],
)
def test_a_malformed_value_list_is_refused(value: str, message: str) -> None:
    with pytest.raises(CheckValueError, match=message):
        run_check("contains-any", "hello world", value)


@pytest.mark.parametrize("value", [None, "", float("nan"), True])
def test_contains_needs_a_string_or_number(value: Any) -> None:
    with pytest.raises(CheckValueError, match='"contains" assertion type must have'):
        run_check("contains", "NaN", value)


def test_every_text_scorer_is_registered_under_its_own_metric() -> None:
    names = ["equals", "contains", "icontains", "contains_any", "contains_all",
             "icontains_any", "icontains_all", "not_contains", "starts_with", "is_json"]  # fmt: skip
    assert {n: SCORERS[n].metric for n in names} == {n: n for n in names}


def test_a_scorer_compares_with_the_expected_answer_when_given_no_value() -> None:
    assert score("contains", "It is Paris.", "Paris").passed
    hit = score("icontains", "It is PARIS.", ["Lyon", "paris"])
    assert hit.passed and hit.metadata == {"matched": "paris"}
    miss = score("equals", "Paris", ["Lyon", "Nice"])
    assert not miss.passed
    assert miss.explanation == (
        'none of 2 acceptable answers: Expected output "Paris" to equal "Lyon", ...'
    )


def test_a_value_option_wins_over_the_expected_answer() -> None:
    assert score("starts_with", "Sure, here it is", "Paris", value="Sure").passed
    assert not score("contains", "Paris", "Paris", value="London").passed


def test_not_contains_passes_only_when_no_listed_answer_appears() -> None:
    assert score("not_contains", "I can help.", ["sorry", "cannot"]).passed
    miss = score("not_contains", "Sorry, I cannot.", value=["sorry", "cannot"])
    assert not miss.passed
    assert miss.explanation == 'Expected output to not contain "cannot"'


def test_any_and_all_scorers_take_the_expected_list_as_their_values() -> None:
    assert score("contains_all", "red, green and blue", ["red", "blue"]).passed
    assert not score("contains_all", "red and green", ["red", "blue"]).passed
    assert score("icontains_any", "BLUE", ["red", "blue"]).passed
    # an expected string is one value, never split at its commas (it is an answer)
    assert not score("contains_any", "1", "1,000").passed
    # the value option is split as promptfoo splits it
    assert score("contains_any", "1", value="1,000").passed


def test_a_scorer_without_value_or_expected_answer_needs_the_expected_field() -> None:
    assert get_scorer("contains").bind({}).needs == ("expected",)
    assert get_scorer("contains").bind({"value": "x"}).needs == ()


def test_is_json_scorer_takes_the_whole_output_only() -> None:
    assert score("is_json", '{"latitude": 1, "longitude": 2}', schema=LAT_LONG_SCHEMA).passed
    fenced = score("is_json", '```json\n{"a": 1}\n```')
    assert not fenced.passed and fenced.explanation == "Expected output to be valid JSON"
