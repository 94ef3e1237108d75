"""The same task as a marked test, with a scorer of its own."""

from __future__ import annotations

import pytest

from pytest_llmeval.scorers import Score, scorer


@scorer("label_match", needs=["expected"])  # checked in every sample before any request
def label_match(sample, completion):
    got = completion.text.strip().strip(".").lower()
    ok = got == sample.expected
    return Score(float(ok), ok, "" if ok else f"expected {sample.expected!r}, got {got!r}")


@pytest.mark.llmeval(
    dataset="reviews.jsonl",
    task="sentiment",
    name="sentiment_marked",
    prompt={"user": "Review: {review}\nIs this review positive or negative?"},
    expected="label",
    scorers=["label_match"],
    thresholds={"accuracy": ">=0.8"},
)
def test_sentiment(sample, completion, llmeval_record):
    llmeval_record("one_word", float(len(completion.text.split()) == 1))
