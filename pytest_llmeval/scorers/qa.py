"""Short-answer QA scorers with SQuAD normalization: exact match, token F1, containment.

Sample field ``expected_answer``: a string, or a list of acceptable strings (best one wins).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_llmeval.scorers.base import Score, scorer

if TYPE_CHECKING:
    from pytest_llmeval.dataset import Sample
    from pytest_llmeval.models.base import Completion

__all__ = ["acceptable_answers", "contains_answer", "normalize_answer", "token_f1"]

_PUNCT = frozenset(string.punctuation)
_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
_SHOW_MAX = 80


def normalize_answer(s: str) -> str:
    """SQuAD's normalization: lowercase, drop punctuation, drop articles, collapse whitespace."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    s = _ARTICLES_RE.sub(" ", s)
    return " ".join(s.split())


def _tokens(s: str) -> list[str]:
    return normalize_answer(s).split()


def token_f1(prediction: str, answer: str) -> tuple[float, float, float]:
    """(precision, recall, F1) of multiset token overlap, as in the SQuAD v2 script.

    When either side normalizes to no tokens, all three are 1.0 if both do, else 0.0.
    """
    pred, gold = _tokens(prediction), _tokens(answer)
    if not pred or not gold:
        same = float(pred == gold)
        return same, same, same
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0, 0.0, 0.0
    precision, recall = common / len(pred), common / len(gold)
    return precision, recall, 2 * precision * recall / (precision + recall)


def contains_answer(prediction: str, answer: str) -> bool:
    """Whether the normalized answer is a contiguous token run of the normalized prediction."""
    pred, gold = _tokens(prediction), _tokens(answer)
    if not gold:
        return False
    k = len(gold)
    return any(pred[i : i + k] == gold for i in range(len(pred) - k + 1))


def acceptable_answers(sample: Sample) -> list[str]:
    """The expected answer (``expected_answer``, or the suite's ``expected:`` field) as a
    non-empty list of strings (scalars are converted with str)."""
    raw: Any = sample.expected if sample.expected_key else sample["expected_answer"]
    answers = list(raw) if isinstance(raw, Sequence) and not isinstance(raw, str) else [raw]
    if not answers:
        raise ValueError(f"sample {sample.id!r}: expected_answer is an empty list")
    return [a if isinstance(a, str) else str(a) for a in answers]


def _show(s: str) -> str:
    s = s.strip()
    return repr(s if len(s) <= _SHOW_MAX else s[: _SHOW_MAX - 3] + "...")


def _miss(answers: list[str], output: str) -> str:
    if len(answers) == 1:
        expected = _show(answers[0])
    else:
        expected = "one of [" + ", ".join(_show(a) for a in answers) + "]"
    return f"expected {expected}, got {_show(output)}"


@scorer("qa_exact_match", metric="exact_match", needs=("expected",))
def qa_exact_match(sample: Sample, completion: Completion) -> Score:
    answers = acceptable_answers(sample)
    pred = normalize_answer(completion.text)
    for answer in answers:
        if normalize_answer(answer) == pred:
            return Score(1.0, True, metadata={"matched": answer})
    return Score(0.0, False, _miss(answers, completion.text))


@scorer("qa_f1", metric="f1", needs=("expected",))
def qa_f1(sample: Sample, completion: Completion) -> Score:
    answers = acceptable_answers(sample)
    best = max(((token_f1(completion.text, a), a) for a in answers), key=lambda t: t[0][2])
    (precision, recall, f1), answer = best
    explanation = "" if f1 == 1.0 else _miss(answers, completion.text)
    meta = {"precision": precision, "recall": recall, "best_answer": answer}
    return Score(f1, None, explanation, meta)


@scorer("qa_contains", metric="contains", needs=("expected",))
def qa_contains(sample: Sample, completion: Completion) -> Score:
    answers = acceptable_answers(sample)
    for answer in answers:
        if contains_answer(completion.text, answer):
            return Score(1.0, True, metadata={"matched": answer})
    return Score(0.0, False, _miss(answers, completion.text))
