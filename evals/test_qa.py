"""Marker-style suite: reading-comprehension Q&A over invented facts, one item per sample.

The task's scorers (exact match, token F1, contains) run after the test body; a sample
below its pass mark fails as F with expected vs got. The body can record extra scores
(an ``assert`` here would be an ordinary test failure, outside the gate).
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmeval.dataset import Sample
from pytest_llmeval.models.base import Completion


@pytest.mark.llmeval(
    dataset="data/qa/test.jsonl",
    task="qa",
    thresholds={"accuracy": ">=0.80", "f1": ">=0.85"},
    # the bundled default model answers briefly, a third of them right: a smoke bar just
    # under what it reaches
    model_thresholds={"embedded/*": {"concise": ">=0.9", "f1": ">=0.3"}},
)
def test_qa(sample: Sample, completion: Completion, llmeval_record: Any) -> None:
    # An extra, measured-only metric: answers should be short (the prompt asks for that).
    words = len(completion.text.split())
    llmeval_record("concise", 1.0 if words <= 6 else 0.0)
