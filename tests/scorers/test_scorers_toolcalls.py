"""Tool calls compared as BFCL's AST checker compares them, on BFCL's own possible answers
(ShishirPatil/gorilla berkeley-function-call-leaderboard/bfcl_eval/data/possible_answer/
BFCL_v4_{simple_python,multiple,parallel,parallel_multiple}.json, checked by
bfcl_eval/eval_checker/ast_eval/ast_checker.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_llmeval.dataset import Sample
from pytest_llmeval.models.base import Completion, ToolCall
from pytest_llmeval.scorers import SCORERS, Score, get_scorer
from pytest_llmeval.scorers.toolcalls import ExpectedCall, expected_calls, standardize

# ground_truth of BFCL_v4 possible answers, as the files write them
SIMPLE_0 = [{"calculate_triangle_area": {"base": [10], "height": [5], "unit": ["units", ""]}}]
SIMPLE_2 = [{"math.hypot": {"x": [4], "y": [5], "z": ["", 0]}}]
SIMPLE_89 = [{"db_fetch_records": {
    "database_name": ["StudentDB"], "table_name": ["students"],
    "conditions": [{"department": ["Science"], "school": ["Bluebird High School", "Bluebird HS"]}],
    "fetch_limit": ["", 0]}}]  # fmt: skip
SIMPLE_96 = [{"database.query": {"table": ["user"], "conditions": [[
    {"field": ["age"], "operation": [">"], "value": ["25"]},
    {"field": ["job"], "operation": ["="], "value": ["engineer"]}]]}}]  # fmt: skip
MULTIPLE_0 = [{"triangle_properties.get": {
    "side1": [5], "side2": [4], "side3": [3],
    "get_area": ["", True], "get_perimeter": ["", True], "get_angles": ["", True]}}]  # fmt: skip
PARALLEL_0 = [{"spotify.play": {"artist": ["Taylor Swift"], "duration": [20]}},
              {"spotify.play": {"artist": ["Maroon 5"], "duration": [15]}}]  # fmt: skip
PARALLEL_MULTIPLE_0 = [
    {"math_toolkit.sum_of_multiples": {"lower_limit": [1], "upper_limit": [1000],
                                       "multiples": [[3, 5]]}},
    {"math_toolkit.product_of_primes": {"count": [5]}}]  # fmt: skip
PARALLEL_MULTIPLE_1 = [{"area_rectangle.calculate": {"length": [7.0], "breadth": [3.0]}},
                       {"area_circle.calculate": {"radius": [5.0]}}]  # fmt: skip


def call(name: str, **args: Any) -> ToolCall:
    return ToolCall(name, json.dumps(args))


def score(expected: Any, calls: list[ToolCall], text: str = "", name: str = "tool_call") -> Score:
    sample = Sample("s1", "bfcl", {"expected_calls": expected}, "calls.jsonl", 1,
                    expected_key="expected_calls")  # fmt: skip
    return get_scorer(name).bind({}).fn(sample, Completion(text, tool_calls=tuple(calls)))


@pytest.mark.parametrize(
    ("expected", "calls", "passed"),
    [
        (SIMPLE_0, [call("calculate_triangle_area", base=10, height=5)], True),
        (SIMPLE_0, [call("calculate_triangle_area", base=10, height=5, unit="units")], True),
        (SIMPLE_0, [call("calculate_triangle_area", base=10, height=5, unit="cm")], False),
        (SIMPLE_0, [call("calculate_triangle_area", base=10.0, height=5)], False),  # float≠int
        (SIMPLE_0, [call("calculate_triangle_area", base=10)], False),  # height missing
        (SIMPLE_0, [call("calculate_triangle_area", base=10, height=5, color="red")], False),
        (SIMPLE_0, [call("calculate_area", base=10, height=5)], False),
        (SIMPLE_2, [call("math_hypot", x=4, y=5)], True),  # dots sent as underscores
        (SIMPLE_2, [call("math.hypot", x=4, y=5, z=0)], True),
        (SIMPLE_2, [call("math.hypot", x=4, y=5, z=1)], False),
        (MULTIPLE_0, [call("triangle_properties_get", side1=5, side2=4, side3=3,
                           get_area=True)], True),
        (MULTIPLE_0, [call("triangle_properties_get", side1=5, side2=4, side3=3,
                           get_area=1)], False),  # 1 is not true
        (SIMPLE_89, [call("db_fetch_records", database_name="StudentDB", table_name="students",
                          conditions={"department": "science", "school": "Bluebird-HS"})],
         True),
        (SIMPLE_89, [call("db_fetch_records", database_name="StudentDB", table_name="students",
                          conditions={"department": "Science"})], False),  # school missing
        (SIMPLE_89, [call("db_fetch_records", database_name="StudentDB", table_name="students",
                          conditions={"department": "Science", "school": "Bluebird HS",
                                      "year": 2024})], False),
        (SIMPLE_96, [call("database_query", table="user", conditions=[
            {"field": "age", "operation": ">", "value": "25"},
            {"field": "job", "operation": "=", "value": "Engineer"}])], True),
        (SIMPLE_96, [call("database_query", table="user", conditions=[
            {"field": "job", "operation": "=", "value": "engineer"},
            {"field": "age", "operation": ">", "value": "25"}])], False),  # list order counts
        (PARALLEL_0, [call("spotify_play", artist="Maroon 5", duration=15),
                      call("spotify_play", artist="taylor swift", duration=20)], True),
        (PARALLEL_0, [call("spotify_play", artist="Taylor Swift", duration=20)], False),
        (PARALLEL_0, [call("spotify_play", artist="Taylor Swift", duration=20)] * 2, False),
        (PARALLEL_MULTIPLE_0, [call("math_toolkit_product_of_primes", count=5),
                               call("math_toolkit_sum_of_multiples", lower_limit=1,
                                    upper_limit=1000, multiples=[3, 5])], True),
        (PARALLEL_MULTIPLE_0, [call("math_toolkit_product_of_primes", count=5),
                               call("math_toolkit_sum_of_multiples", lower_limit=1,
                                    upper_limit=1000, multiples=[5, 3])], False),
        (PARALLEL_MULTIPLE_1, [call("area_circle_calculate", radius=5),
                               call("area_rectangle_calculate", length=7, breadth=3)],
         True),  # an integer where floats are expected: BFCL's int-to-float
    ],
)  # fmt: skip
def test_bfcl_possible_answers_judge_calls_as_the_ast_checker_does(
    expected: Any, calls: list[ToolCall], passed: bool
) -> None:
    assert score(expected, calls).passed is passed


def test_our_own_shape_takes_bare_values_and_lists_of_acceptable_ones() -> None:
    expected = [{"name": "get_weather", "arguments": {"city": "Paris", "unit": ["celsius", ""]}}]
    assert score(expected, [call("get_weather", city="paris")]).passed
    assert score(expected, [call("get_weather", city="Paris", unit="Celsius")]).passed
    assert not score(expected, [call("get_weather", city="Paris", unit="kelvin")]).passed
    openai_shape = {"type": "function", "function": {"name": "f", "arguments": '{"n": [1, 2]}'}}
    assert score(openai_shape, [call("f", n=[1, 2])]).passed  # JSON text: exact values


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("April 1, 2024", "april12024"), ("april 1 2024", "april12024"),
     ("New_York-City", "newyorkcity"), ("it's", 'it"s')],
)  # fmt: skip
def test_strings_are_standardized_as_bfcl_standardizes_them(raw: str, canonical: str) -> None:
    assert standardize(raw) == canonical


def test_text_instead_of_a_call_says_what_was_expected_and_what_came() -> None:
    expected = [{"name": "get_weather", "arguments": {"city": ["Paris"]}}]
    miss = score(expected, [], text="It is sunny in Paris.")
    assert not miss.passed
    assert (
        miss.explanation
        == "expected call get_weather(city='Paris'), got text 'It is sunny in Paris.'"
    )
    assert score(expected, []).explanation == "expected call get_weather(city='Paris'), got no call"


def test_a_wrong_argument_shows_both_calls_and_the_reason() -> None:
    miss = score(SIMPLE_0, [call("calculate_triangle_area", base=10, height=6)])
    assert miss.explanation == (
        "expected call calculate_triangle_area(base=10, height=5, unit='units'|omitted), "
        "got call calculate_triangle_area(base=10, height=6): "
        "calculate_triangle_area: height: 6 is not one of [5]"
    )
    extra = score(PARALLEL_0[:1], [call("spotify_play", artist="Taylor Swift", duration=20),
                                   call("spotify_play", artist="Adele", duration=5)])  # fmt: skip
    assert extra.explanation.endswith("not expected: spotify_play(artist='Adele', duration=5)")


def test_each_expected_call_is_matched_by_a_distinct_call_whatever_the_order() -> None:
    # taken greedily in order (BFCL), the first expected call would take the only call the
    # second can match; a maximum matching finds the assignment that exists
    expected = [{"name": "f", "arguments": {"x": [1, 2]}}, {"name": "f", "arguments": {"x": [1]}}]
    assert score(expected, [call("f", x=1), call("f", x=2)]).passed


def test_name_and_argument_accuracy_are_companion_metrics() -> None:
    assert SCORERS["tool_call"].companions == ("tool_call_name", "tool_call_args")
    assert SCORERS["tool_call_name"].metric == "tool_name_accuracy"
    assert SCORERS["tool_call_args"].metric == "tool_args_accuracy"
    calls = [call("spotify_play", artist="Taylor Swift", duration=20),
             call("spotify_play", artist="Maroon 5", duration=99)]  # fmt: skip
    assert score(PARALLEL_0, calls, name="tool_call_name").value == 1.0
    assert score(PARALLEL_0, calls, name="tool_call_args").value == 0.5
    assert score(PARALLEL_0, calls).value == 0.0
    assert score(PARALLEL_0, [call("play", artist="x")], name="tool_call_name").value == 0.0


def test_no_expected_call_passes_only_without_calls() -> None:
    assert score([], [], text="I cannot do that.").passed
    assert not score([], [call("f")]).passed


def test_arguments_that_do_not_parse_never_match() -> None:
    miss = score([{"f": {}}], [ToolCall("f", "{not json")])
    assert not miss.passed and "not a JSON object" in miss.explanation


@pytest.mark.parametrize(
    ("raw", "message"),
    [("get_weather", "not an object"), ([{"a": {}, "b": {}}], "neither"),
     ([{"name": "f", "arguments": [1]}], "arguments must be an object")],
)  # fmt: skip
def test_malformed_expected_calls_say_what_is_wrong(raw: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expected_calls(raw)


def test_an_expected_call_shows_its_alternatives() -> None:
    shown = ExpectedCall("f", {"a": [1, 2], "b": ["", "x"], "c": [""]}).show()
    assert shown == "f(a=1|2, b='x'|omitted, c=omitted)"
