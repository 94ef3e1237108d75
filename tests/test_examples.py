"""The runnable examples under examples/, run as a user would, against the test server."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from evalkit import lines
from llm_server import LLMServer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _reviews() -> list[dict[str, str]]:
    path = EXAMPLES / "sentiment" / "reviews.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_sentiment_example_runs_in_both_styles(
    pytester: pytest.Pytester, llm_server: LLMServer
) -> None:
    shutil.copytree(EXAMPLES / "sentiment", pytester.path / "sentiment")
    wrong = {"r003", "r010"}  # two of forty answered wrongly: 95% accurate
    replies = {}
    for r in _reviews():
        label = r["label"] if r["id"] not in wrong else "neutral"
        replies[r["review"]] = label
        replies[f"Review: {r['review']}\nIs this review positive or negative?"] = (
            label.capitalize() + "."
        )
    llm_server.configure(script={"replies": replies})
    result = pytester.runpytest(
        "sentiment",
        "--model",
        "openai/my-model",
        "--llmeval-base-url",
        llm_server.base_url,
        "--llmeval-db",
        str(pytester.path / "r.db"),
        "-p",
        "no:cacheprovider",
        "--junitxml=junit.xml",
    )
    assert result.ret == 0, result.stdout.str()
    assert result.parseoutcomes() == {"passed": 76, "missed": 4}
    # the expected answer is shown for a task of one's own: database and JUnit
    with sqlite3.connect(pytester.path / "r.db") as conn:
        expected = dict(conn.execute("SELECT sample_id, expected FROM results").fetchall())
    assert expected["r001"] == "positive" and expected["r002"] == "negative"
    junit = (pytester.path / "junit.xml").read_text()
    assert '<property name="llmeval.expected" value="positive"' in junit
    result.stdout.fnmatch_lines(
        lines(
            "sentiment  (n=40)",
            "*accuracy*0.950*>=0.8*PASS*",
            "sentiment_marked  (n=40)",
            "*accuracy*0.950*>=0.8*PASS*",
            "*one_word*1.000*",
            "*[sentiment] r003 missed (sentiment/reviews.jsonl:3)",
            "*qa_exact_match: expected 'positive', got 'neutral'",
            "*expected: positive",
            "*[sentiment_marked] r003 missed*",
            "*label_match: expected 'positive', got 'neutral'",
            "*expected: positive",
            "llmeval gate PASSED: 2/2 thresholds met",
        )
    )


def _project(pytester: pytest.Pytester, suite: str) -> None:
    shutil.copy(EXAMPLES / "sentiment" / "reviews.jsonl", pytester.path / "reviews.jsonl")
    (pytester.path / "data").mkdir()
    shutil.copy(EXAMPLES / "sentiment" / "reviews.jsonl", pytester.path / "data" / "reviews.jsonl")
    (pytester.path / "evals").mkdir()
    (pytester.path / "evals" / "eval_sentiment.yaml").write_text(suite)


SUITE = """\
task: sentiment
dataset: data/reviews.jsonl
prompt:
  system: "Reply with one word: positive or negative."
  user: "{review}"
expected: label
scorers: [qa_exact_match]
thresholds:
  accuracy: '>=0.7'
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("expected: label\n", ""),
            "data/reviews.jsonl:1: field 'expected_answer' missing (the expected answer, read "
            "by scorer qa_exact_match; name another field with `expected: FIELD`)",
        ),
        (
            ("thresholds:", "threshholds:"),
            "evals/eval_sentiment.yaml:8: field 'threshholds': unknown key (did you mean "
            "'thresholds'? known: checks, dataset, description, expected, fewshot, id, judge, "
            "max_tool_steps, messages, model_thresholds, name, params, pass_on, prompt, "
            "repeats, scorers, solver, task, thresholds, tool_results, tools, turns)",
        ),
        (
            ("'>=0.7'", ">=0.7"),
            "evals/eval_sentiment.yaml:9: invalid YAML: expected chomping or indentation "
            "indicators, but found '=' (quote a comparison in YAML: accuracy: '>=0.7')",
        ),
        (
            ("{review}", "{reveiw}"),
            "evals/eval_sentiment.yaml:5: field 'prompt.user': placeholder {reveiw} is not a "
            "field of data/reviews.jsonl (its fields: id, label, review); did you mean {review}?",
        ),
        (
            ("expected: label", "expected: lable"),
            "evals/eval_sentiment.yaml:6: field 'expected': 'lable' is not a field of "
            "data/reviews.jsonl (its fields: id, label, review); did you mean 'label'?",
        ),
    ],
)
def test_mistakes_in_a_suite_of_ones_own_are_caught_at_collection(
    pytester: pytest.Pytester, llm_server: LLMServer, change: tuple[str, str], message: str
) -> None:
    _project(pytester, SUITE.replace(*change))
    result = pytester.runpytest(
        "--model", "openai/m", "--llmeval-base-url", llm_server.base_url, "-p", "no:cacheprovider"
    )
    result.stdout.fnmatch_lines(["*ERROR collecting evals/eval_sentiment.yaml*", message])
    assert llm_server.stats()["requests"] == 0  # nothing was sent to the model


def test_k_selects_a_suite_by_its_name(pytester: pytest.Pytester, llm_server: LLMServer) -> None:
    shutil.copytree(EXAMPLES / "sentiment", pytester.path / "sentiment")
    (pytester.path / "sentiment" / "eval_sentiment.yaml").rename(
        pytester.path / "sentiment" / "eval_reviews.yaml"
    )
    llm_server.configure(script={"default": "positive"})
    common = ["--model", "openai/m", "--llmeval-base-url", llm_server.base_url, "--co", "-q"]
    result = pytester.runpytest("sentiment", "-k", "sentiment_marked", *common)
    result.stdout.fnmatch_lines(
        ["sentiment/test_sentiment.py::test_sentiment[r001]", "40/80 tests*"]
    )
    result = pytester.runpytest("sentiment", "-k", "sentiment and not marked", *common)
    result.stdout.fnmatch_lines(["sentiment/eval_reviews.yaml::r001", "40/80 tests*"])
