from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.dataset import Sample
from pytest_llmeval.models.base import Completion
from pytest_llmeval.scorers import SCORERS, Score, get_scorer
from pytest_llmeval.scorers.qa import contains_answer, normalize_answer, token_f1


def run(name: str, expected: Any, text: str) -> Score:
    sample = Sample("q1", "qa", {"id": "q1", "expected_answer": expected}, "qa.jsonl", 1)
    return get_scorer(name).fn(sample, Completion(text))


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  A  cat,\tan apple. ", "cat apple"),
        ("Theatre", "theatre"),
        ("Anne and Andy", "anne and andy"),
        ("U.S.A.", "usa"),
        ("rock-n-roll", "rocknroll"),
        ("the", ""),
        ("", ""),
        ("THE END", "end"),
    ],
)
def test_normalize_answer(raw: str, normalized: str) -> None:
    assert normalize_answer(raw) == normalized


def test_registered_names_and_metrics() -> None:
    assert {n: SCORERS[n].metric for n in ("qa_exact_match", "qa_f1", "qa_contains")} == {
        "qa_exact_match": "exact_match",
        "qa_f1": "f1",
        "qa_contains": "contains",
    }


@pytest.mark.parametrize(
    ("expected", "text", "value"),
    [
        ("Carol", "carol.", 1.0),
        ("Carol", "  The Carol\n", 1.0),
        ("Carol", "Bob", 0.0),
        ("Carol", "Carol Smith", 0.0),
        (["NYC", "New York City"], "new york city", 1.0),
        (["NYC", "New York City"], "New York", 0.0),
        (42, "42", 1.0),
        ("the", "an", 1.0),  # both normalize to "" (SQuAD semantics)
    ],
)
def test_exact_match(expected: Any, text: str, value: float) -> None:
    score = run("qa_exact_match", expected, text)
    assert score.value == value
    assert score.passed is (value == 1.0)


@pytest.mark.parametrize(
    ("prediction", "answer", "p", "r", "f1"),
    [
        ("the cat sat on the mat", "cat on mat", 3 / 4, 1.0, 6 / 7),
        ("red red red", "red blue", 1 / 3, 1 / 2, 0.4),
        ("red blue", "red red", 1 / 2, 1 / 2, 0.5),
        ("Carol", "carol!", 1.0, 1.0, 1.0),
        ("Bob", "Carol", 0.0, 0.0, 0.0),
        ("the", "a", 1.0, 1.0, 1.0),
        ("", "Carol", 0.0, 0.0, 0.0),
        ("Carol", "the", 0.0, 0.0, 0.0),
    ],
)
def test_token_f1(prediction: str, answer: str, p: float, r: float, f1: float) -> None:
    assert token_f1(prediction, answer) == pytest.approx((p, r, f1))


def test_qa_f1_takes_max_over_answers() -> None:
    score = run("qa_f1", ["Bob", "the cat on the mat", "cat"], "the cat sat on the mat")
    assert score.value == pytest.approx(6 / 7)
    assert score.passed is None
    assert score.metadata["best_answer"] == "the cat on the mat"
    assert score.metadata["recall"] == pytest.approx(1.0)
    assert run("qa_f1", "Carol", "carol").explanation == ""


@pytest.mark.parametrize(
    ("expected", "text", "value"),
    [
        ("Carol", "The answer is Carol.", 1.0),
        ("carol", "CAROL", 1.0),
        ("Carol", "Caroline did it", 0.0),
        ("York City", "New York City is big", 1.0),
        ("new york", "york new", 0.0),
        ("New York", "New, York!", 1.0),
        ("the", "the", 0.0),  # empty normalized answer never matches
        ("", "anything", 0.0),
        (["Paris", "Lyon"], "I think it's Lyon.", 1.0),
        (["Paris", "Lyon"], "Marseille", 0.0),
    ],
)
def test_contains(expected: Any, text: str, value: float) -> None:
    score = run("qa_contains", expected, text)
    assert score.value == value
    assert score.passed is (value == 1.0)


def test_contains_answer_function() -> None:
    assert contains_answer("a b c d", "b c")
    assert not contains_answer("a b", "b c")
    assert not contains_answer("x", "")


@pytest.mark.parametrize("name", ["qa_exact_match", "qa_f1", "qa_contains"])
def test_miss_explanations(name: str) -> None:
    assert run(name, "Carol", "Bob").explanation == "expected 'Carol', got 'Bob'"
    multi = run(name, ["Carol", "Caroline"], " Bob\n").explanation
    assert multi == "expected one of ['Carol', 'Caroline'], got 'Bob'"
    long = run(name, "Carol", "word " * 100).explanation
    assert len(long) < 120
    assert "...'" in long


def test_empty_answer_list_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty list"):
        run("qa_exact_match", [], "x")


def test_get_scorer_after_importing_base_first() -> None:
    # A fresh interpreter: base imported before the package's built-ins must still work.
    code = (
        "import pytest_llmeval.scorers.base as b; "
        "print(b.get_scorer('qa_f1').metric, b.get_scorer('json_parse').metric)"
    )
    import pytest_llmeval

    root = str(Path(pytest_llmeval.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out.split() == ["f1", "parse_rate"]
